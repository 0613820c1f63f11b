package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/** The per-step scalar block the host writes, per optimiser (ALGORITHMS.md §3–§5.1). */
class GpuOptimizerTest {

    private static ByteBuffer inputs(Object config, long t) {
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
        assertEquals(0.25f, b.getFloat(ZoScalars.LAMBDA));
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
        assertEquals(GpuOptimizer.DIR_GAUSSIAN, GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(1))).direction());
        assertEquals(GpuOptimizer.DIR_RADEMACHER, GpuOptimizer.of(
                new ZoSgd.Config(LrSchedule.constant(1), 0, Noise.Distribution.RADEMACHER)).direction());
        assertEquals(GpuOptimizer.DIR_GAUSSIAN, GpuOptimizer.of(new ZoAdam.Config(LrSchedule.constant(1))).direction());
        assertEquals(GpuOptimizer.DIR_ADAMU, GpuOptimizer.of(
                new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(100))).direction());
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
        ByteBuffer b = inputs(new ZoAdam.Config(LrSchedule.constant(1e-4), 0.9, 0.999, 1e-8, 0.0), 3);
        assertEquals(0.9f, b.getFloat(ZoScalars.A0));
        assertEquals(0.999f, b.getFloat(ZoScalars.A1));
        assertEquals(0.1f, b.getFloat(ZoScalars.A2));
        assertEquals((float) (1 - 0.999), b.getFloat(ZoScalars.A3));
        assertEquals(0.271f, b.getFloat(ZoScalars.A4), 1e-7f); // 1 - 0.9^3
        assertEquals(0.002997001f, b.getFloat(ZoScalars.A5), 1e-9f); // 1 - 0.999^3
        assertEquals(1e-8f, b.getFloat(ZoScalars.A6));
    }

    @Test
    void adaMuSchedulePhases() {
        AdaMuSchedule s = new AdaMuSchedule(10, 20, 30, 0.5, 0.9, 0.01, 1.0, 0.1, 1.5);
        ZoAdaMu.Config c = new ZoAdaMu.Config(LrSchedule.constant(2e-4), s, 1e-8, 0.5);
        ByteBuffer warm = inputs(c, 5); // phase 1: α = β1 = β2 = 1, no momentum
        assertEquals(1f, warm.getFloat(ZoScalars.A0));
        assertEquals(0f, warm.getFloat(ZoScalars.A1));
        assertEquals(1f, warm.getFloat(ZoScalars.A2));
        assertEquals(0f, warm.getFloat(ZoScalars.A3));
        assertEquals(1f, warm.getFloat(ZoScalars.A4));
        assertEquals(0f, warm.getFloat(ZoScalars.A5));
        assertEquals(1e-8f, warm.getFloat(ZoScalars.A6));
        assertEquals(2e-4f * 0.5f, warm.getFloat(ZoScalars.LAMBDA), "decoupled: η_t·λ");
        ByteBuffer end = inputs(c, 25); // phase 3: the end values
        assertEquals((float) Math.sqrt(0.5), end.getFloat(ZoScalars.A0));
        assertEquals((float) Math.sqrt(0.5), end.getFloat(ZoScalars.A1));
        assertEquals(0.9f, end.getFloat(ZoScalars.A2));
        assertEquals(0.1f, end.getFloat(ZoScalars.A3), 1e-8f);
        assertEquals(0.01f, end.getFloat(ZoScalars.A4));
        assertEquals(0.99f, end.getFloat(ZoScalars.A5));
        ByteBuffer mid = inputs(c, 15); // phase 2: strictly between
        float a = mid.getFloat(ZoScalars.A0);
        assertTrue(a < 1f && a > (float) Math.sqrt(0.5), "sqrt(α) mid-way: " + a);
    }

    @Test
    void unsupportedConfigurationIsOneLine() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> GpuOptimizer.of("adam"));
        assertTrue(e.getMessage().contains("unsupported optimiser"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> GpuOptimizer.of(new ZoSgd.Config(LrSchedule.constant(1))).writeInputs(
                        ByteBuffer.allocate(64), 0, 1, 1f));
    }
}
