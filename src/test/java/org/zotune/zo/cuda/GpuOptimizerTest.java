package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoOptimizerConfig.Direction;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/** The per-step scalar block the host writes, per optimiser (ALGORITHMS.md §3–§5.1). */
class GpuOptimizerTest {

    private static ByteBuffer inputs(ZoOptimizerConfig config, long t) {
        ByteBuffer b = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < ZoScalars.INPUT_BYTES; i++) {
            b.put(i, (byte) 0x5a); // garbage the writer must overwrite
        }
        GpuOptimizer.of(config).writeInputs(b, t, 0x1234_5678_9abc_def0L, 1e-3f);
        return b;
    }

    @Test
    void commonFields() {
        ByteBuffer b = inputs(new ZoSgd.Config(LrSchedule.linear(1e-3, 10), 0.25, Noise.Distribution.GAUSSIAN), 3);
        assertEquals(0x1234_5678_9abc_def0L, b.getLong(ZoScalars.SEED));
        assertEquals(1e-3f, b.getFloat(ZoScalars.EPS));
        assertEquals((float) (1e-3 * (1 - 2.0 / 10)), b.getFloat(ZoScalars.ETA));
        assertEquals(0.25f, b.getFloat(ZoScalars.PARAMS), "zo-sgd's lambda, its first parameter");
        assertEquals(3, b.getInt(ZoScalars.STEP));
        assertEquals(0, b.getInt(ZoScalars.STREAM), "one sample: stream 0");
        assertEquals(1, b.getInt(ZoScalars.SAMPLES));
        assertEquals(0, b.getInt(60), "reserved words are zero");
    }

    @Test
    void eachSpsaSampleHasItsStreamAndEveryBlockTheSameScalars() {
        GpuOptimizer o = GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1e-3)));
        ByteBuffer first = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        o.writeInputs(first, 5, 99, 1e-3f, 0, 3);
        for (int k = 0; k < 3; k++) {
            ByteBuffer b = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            o.writeInputs(b, 5, 99, 1e-3f, k, 3);
            assertEquals(Noise.sampleStream(k), b.getInt(ZoScalars.STREAM), "sample " + k);
            assertEquals(k == 0 ? 0 : 3 + k, b.getInt(ZoScalars.STREAM), "ALGORITHMS.md §2: 0, then 3 + k");
            assertEquals(3, b.getInt(ZoScalars.SAMPLES));
            for (int i = 0; i < ZoScalars.STREAM; i += 4) {
                assertEquals(first.getInt(i), b.getInt(i), "sample " + k + ", byte " + i);
            }
        }
        GpuOptimizer adamu = GpuOptimizer.of(new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(10)));
        assertEquals(1, adamu.maxSamples());
        assertThrows(IllegalArgumentException.class,
                () -> adamu.writeInputs(ByteBuffer.allocate(64), 1, 1, 1f, 1, 2));
        assertThrows(IllegalArgumentException.class, () -> o.writeInputs(ByteBuffer.allocate(64), 1, 1, 1f, 3, 3));
    }

    @Test
    void directions() {
        assertEquals(Direction.GAUSSIAN, GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(1))).direction());
        assertEquals(Direction.RADEMACHER, GpuOptimizer.of(
                new ZoSgd.Config(LrSchedule.constant(1), 0, Noise.Distribution.RADEMACHER)).direction());
        assertEquals(Direction.GAUSSIAN, GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1))).direction());
        assertEquals(Direction.ADAMU, GpuOptimizer.of(
                new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(100))).direction());
        // the codes of enum Direction in native/include/zo.cuh
        assertEquals(0, Direction.GAUSSIAN.code);
        assertEquals(1, Direction.RADEMACHER.code);
        assertEquals(2, Direction.ADAMU.code);
        assertEquals(2, GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1))).stateVectors());
        assertEquals(1, GpuOptimizer.of(new ZoSgdMomentum.Config(LrSchedule.constant(1), 0.9, 0)).stateVectors());
    }

    @Test
    void stateDTypeAndBytes() {
        GpuOptimizer f32 = GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1)));
        assertEquals(DType.F32, f32.stateDType());
        assertEquals(4000, f32.stateBytes(1000));
        GpuOptimizer bf16 = GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1), 0.9, 0.999, 1e-8, 0, DType.BF16));
        assertEquals(DType.BF16, bf16.stateDType());
        assertEquals(2000, bf16.stateBytes(1000));
        assertEquals(DType.F16, GpuOptimizer.of(new ZoSgdMomentum.Config(LrSchedule.constant(1), 0.9, 0, DType.F16))
                .stateDType());
        assertEquals(DType.BF16, GpuOptimizer.of(new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(100),
                1e-8, 0, DType.BF16)).stateDType());
        assertEquals(0, GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(1))).stateBytes(1000));
    }

    @Test
    void adamBiasCorrections() {
        ZoAdam.Config c = new ZoAdam.Config(LrSchedule.constant(1e-4), 0.9, 0.999, 1e-8, 0.0);
        GpuOptimizer o = GpuOptimizer.of(c);
        ByteBuffer b = inputs(c, 3);
        assertEquals(0.9f, b.getFloat(o.scalarOffset("beta1")));
        assertEquals(0.999f, b.getFloat(o.scalarOffset("beta2")));
        assertEquals(0.1f, b.getFloat(o.scalarOffset("omb1")));
        assertEquals((float) (1 - 0.999), b.getFloat(o.scalarOffset("omb2")));
        assertEquals(0.271f, b.getFloat(o.scalarOffset("c1")), 1e-7f); // 1 - 0.9^3
        assertEquals(0.002997001f, b.getFloat(o.scalarOffset("c2")), 1e-9f); // 1 - 0.999^3
        assertEquals(1e-8f, b.getFloat(o.scalarOffset("eps")));
    }

    @Test
    void adaMuSchedulePhases() {
        AdaMuSchedule s = new AdaMuSchedule(10, 20, 30, 0.5, 0.9, 0.01, 1.0, 0.1, 1.5);
        ZoAdaMu.Config c = new ZoAdaMu.Config(LrSchedule.constant(2e-4), s, 1e-8, 0.5);
        GpuOptimizer o = GpuOptimizer.of(c);
        ByteBuffer warm = inputs(c, 5); // phase 1: α = β1 = β2 = 1, no momentum
        assertEquals(1f, warm.getFloat(o.scalarOffset("sa")));
        assertEquals(0f, warm.getFloat(o.scalarOffset("sb")));
        assertEquals(1f, warm.getFloat(o.scalarOffset("beta1")));
        assertEquals(0f, warm.getFloat(o.scalarOffset("omb1")));
        assertEquals(1f, warm.getFloat(o.scalarOffset("beta2")));
        assertEquals(0f, warm.getFloat(o.scalarOffset("omb2")));
        assertEquals(1e-8f, warm.getFloat(o.scalarOffset("sigma")));
        assertEquals(2e-4f * 0.5f, warm.getFloat(o.scalarOffset("eta_lambda")), "decoupled: η_t·λ");
        ByteBuffer end = inputs(c, 25); // phase 3: the end values
        assertEquals((float) Math.sqrt(0.5), end.getFloat(o.scalarOffset("sa")));
        assertEquals((float) Math.sqrt(0.5), end.getFloat(o.scalarOffset("sb")));
        assertEquals(0.9f, end.getFloat(o.scalarOffset("beta1")));
        assertEquals(0.1f, end.getFloat(o.scalarOffset("omb1")), 1e-8f);
        assertEquals(0.01f, end.getFloat(o.scalarOffset("beta2")));
        assertEquals(0.99f, end.getFloat(o.scalarOffset("omb2")));
        ByteBuffer mid = inputs(c, 15); // phase 2: strictly between
        float a = mid.getFloat(o.scalarOffset("sa"));
        assertTrue(a < 1f && a > (float) Math.sqrt(0.5), "sqrt(α) mid-way: " + a);
    }

    /** Every registered optimiser writes exactly its rule's named parameters, and nothing else, after the common ones. */
    @Test
    void everyRegisteredOptimiserFillsItsRuleParameters() {
        for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
            GpuOptimizer o = GpuOptimizer.of(c);
            ByteBuffer b = inputs(c, 3);
            float[] want = c.deviceScalars(3, c.lr().at(3));
            assertEquals(c.deviceRule().fields().size(), want.length, c.name());
            for (int i = 0; i < want.length; i++) {
                String f = c.deviceRule().fields().get(i);
                assertEquals(ZoScalars.PARAMS + 4 * i, o.scalarOffset(f), c.name() + " " + f);
                assertEquals(Float.floatToRawIntBits(want[i]), b.getInt(o.scalarOffset(f)), c.name() + " " + f);
            }
            for (int at = ZoScalars.PARAMS + 4 * want.length; at < ZoScalars.PARAMS + ZoScalars.PARAMS_BYTES; at += 4) {
                assertEquals(0, b.getInt(at), c.name() + ": unused parameter bytes are zero");
            }
            assertThrows(IllegalArgumentException.class, () -> o.scalarOffset("no_such_field"));
        }
    }

    @Test
    void stepZeroIsRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(1))).writeInputs(
                        ByteBuffer.allocate(64), 0, 1, 1f));
    }
}
