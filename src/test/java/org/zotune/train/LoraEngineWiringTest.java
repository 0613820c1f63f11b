package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.peft.Adapter;
import org.zotune.peft.Lora;
import org.zotune.peft.Prefix;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The wiring of LoRA on the CUDA engine that needs no GPU: the engine check lets LoRA (and prefix tuning) through on
 * cuda and auto (both train there now); and the reference of {@code Ops.loraWeight} (what the CUDA kernel is tested
 * against) against its definition computed independently here.
 */
class LoraEngineWiringTest {
    @TempDir
    Path dir;

    private TrainConfig config(String device, String... peft) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 2_000);
        return TrainRuns.config(TrainRuns.yamlOn(device, train, train, dir.resolve("out"), peft));
    }

    @Test
    void loraAndPrefixPassTheEngineCheckOnEveryDevice() throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        for (String device : List.of("cpu", "cuda", "auto")) {
            TrainConfig c = config(device, "peft:", "  method: lora", "  r: 4", "  alpha: 8", "  targets: [q, v]");
            Adapter a = ZoEngines.adapter(c, m.model());
            assertInstanceOf(Lora.class, a);
            assertDoesNotThrow(() -> ZoEngines.requireEngine(c, a), "lora on " + device);
        }
        for (String device : List.of("cpu", "cuda", "auto")) { // prefix tuning trains on CUDA too now
            TrainConfig p = config(device, "peft:", "  method: prefix", "  tokens: 3");
            Adapter prefix = ZoEngines.adapter(p, m.model());
            assertInstanceOf(Prefix.class, prefix);
            assertDoesNotThrow(() -> ZoEngines.requireEngine(p, prefix), "prefix on " + device);
        }
    }

    /**
     * CpuOps.loraWeight against W + s·B·A summed here in double from the float32 factors: within a float32 rounding
     * in f32; in bf16 and f16 the value is that float32 result rounded once to the compute type (the factors are never
     * rounded to it first: a bf16 B·A would differ).
     */
    @Test
    void loraWeightReferenceIsTheFloat32SumRoundedOnceToTheComputeType() {
        Random r = new Random(5);
        int out = 13;
        int in = 29;
        int rank = 3;
        float s = 8f / rank;
        float[] w = new float[out * in]; // W exact in bf16 and f16 (k/64, |k| <= 128): only W' is rounded
        for (int k = 0; k < w.length; k++) {
            w[k] = (r.nextInt(257) - 128) / 64f;
        }
        float[] b = gaussian(r, out * rank, 1.0);
        float[] at = gaussian(r, in * rank, 0.3);
        double[] want = new double[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double d = 0;
                for (int j = 0; j < rank; j++) {
                    d += (double) s * b[o * rank + j] * at[i * rank + j];
                }
                want[o * in + i] = w[o * in + i] + d;
            }
        }
        float[] f32 = lora(DType.F32, w, b, at, out, in, rank, s);
        double worst = 0;
        for (int k = 0; k < want.length; k++) {
            double err = Math.abs(f32[k] - want[k]);
            worst = Math.max(worst, err / Math.max(1e-3, Math.abs(want[k])));
            assertEquals(want[k], f32[k], 2e-6 * Math.abs(want[k]) + 1e-7, "element " + k);
        }
        System.out.printf("loraWeight f32 reference vs double definition: max relative %.2e%n", worst);
        int changed = 0;
        for (DType t : List.of(DType.BF16, DType.F16)) {
            float[] low = lora(t, w, b, at, out, in, rank, s);
            for (int k = 0; k < low.length; k++) {
                assertEquals(Float.floatToRawIntBits(t.round(f32[k])), Float.floatToRawIntBits(low[k]),
                        t + " element " + k + ": the float32 value rounded once");
            }
            // W + s·B·A with the product rounded to the compute type first: what the reference must not do
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    double d = 0;
                    for (int j = 0; j < rank; j++) {
                        d += (double) t.round((float) (s * (double) b[o * rank + j])) * at[i * rank + j];
                    }
                    if (t.round(t.round(w[o * in + i]) + t.round((float) d)) != low[o * in + i]) {
                        changed++;
                    }
                }
            }
        }
        assertTrue(changed > 0, "rounding B·A to the compute type first gives other weights somewhere");
        float[] big = new float[] {1, 2, 3, 4};
        try (CpuOps ops = new CpuOps(DType.BF16)) {
            Tensor wt = ops.tensor(big, 2, 2);
            Tensor low = ops.tensor(new float[] {1, 2}, 2, 1);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.loraWeight(wt, low, low, 1f));
            assertTrue(e.getMessage().startsWith("loraWeight: B and Aᵀ must be float32"), e.getMessage());
        }
    }

    private static float[] lora(DType t, float[] w, float[] b, float[] at, int out, int in, int rank, float s) {
        try (CpuOps ops = new CpuOps(t);
                Parameters f = ops.createParameters(List.of(HostTensor.ofFloats("B", b, out, rank),
                        HostTensor.ofFloats("At", at, in, rank)), DType.F32)) {
            return ops.toHost(ops.loraWeight(ops.tensor(w, out, in), f.weight(0), f.weight(1), s));
        }
    }

    private static float[] gaussian(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }
}
