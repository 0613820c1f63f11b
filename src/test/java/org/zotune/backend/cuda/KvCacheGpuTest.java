package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.KvCache;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Generation's key/value cache on CUDA: each cached step's logits against the full pass over the same tokens on the
 * GPU (f32: 1e-4; bf16 / f16: both held to the float32 forward on the rounded weights, the cached steps within the
 * relative error of CudaModelsTest or twice the full pass's), and greedy decoding token for token (f32), for
 * GPT-2 (D = 64: the full pass takes the fused kernel, the cached steps the prefix path), OPT and Llama (GQA, Llama-3
 * RoPE at the real positions); and a forward with a key/value prefix (prefix tuning) against the CPU.
 */
@Tag("gpu")
class KvCacheGpuTest {

    static List<ModelConfig> decoders() {
        int v = 331;
        return List.of(
                new ModelConfig(ModelFamily.GPT2, v, 128, 2, 2, 2, 64, 256, 40, 1e-5,
                        ModelConfig.Activation.GELU_TANH, true, true, true, 128, 0, null, true, true, -1, -1, -1),
                new ModelConfig(ModelFamily.OPT, v, 40, 2, 5, 5, 8, 72, 40, 1e-5,
                        ModelConfig.Activation.RELU, true, true, true, 24, 0, null, true, true, 2, 2, 1),
                new ModelConfig(ModelFamily.LLAMA, v, 48, 2, 6, 2, 8, 100, 40, 1e-6,
                        ModelConfig.Activation.SILU, false, true, true, 48, 500.0,
                        new ModelConfig.RopeScaling(8.0, 1.0, 4.0, 16), false, false, 1, 2, -1));
    }

    static List<HostTensor> randomWeights(CausalLM lm, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec p : lm.params()) {
            float[] v = new float[(int) p.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 0.3);
            }
            out.add(HostTensor.ofFloats(p.name(), v, p.shape()));
        }
        return out;
    }

    @Test
    void cachedStepsMatchTheFullPassOnTheGpu() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : decoders()) {
            CausalLM lm = Architectures.create(c);
            List<HostTensor> w = randomWeights(lm, 17);
            for (DType t : DType.values()) {
                // 16 bits: the float32 forward on the rounded weights is what both passes are held to
                try (CudaOps ops = CudaOps.create(t); Parameters p = ops.createParameters(w, t);
                     CudaOps f32 = CudaOps.create(DType.F32);
                     Parameters pe = f32.createParameters(roundedWeights(w, t), DType.F32)) {
                    compareSteps(ops, lm, p, new int[] {5, 9, 2, 7, 1}, t, c.family() + " " + t,
                            seq -> {
                                try (Ops.Scope s = f32.scope()) {
                                    Tensor all = lm.forward(f32, pe, Batch.of(seq));
                                    return f32.toHost(f32.rows(all, seq.length - 1, seq.length));
                                }
                            });
                }
            }
        }
    }

    @Test
    void greedyDecodingIsTheSameWithAndWithoutTheCache() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : decoders()) {
            CausalLM lm = Architectures.create(c);
            try (CudaOps ops = CudaOps.create(DType.F32);
                 Parameters p = ops.createParameters(randomWeights(lm, 23), DType.F32)) {
                int[] prompt = {3, 4, 5};
                int[] full = Generator.generate(ops, lm, p, prompt, 30, Generator.Sampling.argmax(), -1, null,
                        false);
                int[] cached = Generator.generate(ops, lm, p, prompt, 30, Generator.Sampling.argmax(), -1, null,
                        true);
                System.out.println(c.family() + " greedy on CUDA: " + Arrays.toString(cached));
                assertArrayEquals(full, cached, c.family() + " greedy, f32");
            }
        }
    }

    @Test
    void aForwardWithAKeyValuePrefixMatchesTheCpu() {
        // prefix tuning's forward (the model's attention with p = 4 rows per layer in front) on CUDA against the CPU
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : decoders()) {
            CausalLM lm = Architectures.create(c);
            List<HostTensor> w = randomWeights(lm, 29);
            int width = c.numKvHeads() * c.headDim();
            Random r = new Random(31);
            float[] keys = GpuTestSupport.gaussian(r, 4 * width, 1.0);
            float[] values = GpuTestSupport.gaussian(r, 4 * width, 1.0);
            int[][] seqs = {{4, 8, 15, 16, 23, 42, 7}, {1, 2, 3}};
            Batch batch = Batch.rightPadded(seqs, 0);
            for (DType t : DType.values()) {
                float[] expected = prefixedLogits(new org.zotune.backend.cpu.CpuOps(t), lm, w, t, keys, values,
                        width, batch);
                float[] actual;
                try (CudaOps ops = CudaOps.create(t)) {
                    actual = prefixedLogits(ops, lm, w, t, keys, values, width, batch);
                }
                String what = c.family() + " prefixed forward " + t;
                if (t == DType.F32) {
                    assertClose(expected, actual, 1e-4, 1e-4, what);
                } else {
                    double num = 0;
                    double den = 0;
                    for (int i = 0; i < expected.length; i++) {
                        assertTrue(Float.isFinite(actual[i]), what + " logit " + i + " is " + actual[i]);
                        num += (double) (actual[i] - expected[i]) * (actual[i] - expected[i]);
                        den += (double) expected[i] * expected[i];
                    }
                    double rel = Math.sqrt(num / den);
                    System.out.printf("%-40s ||err||/||ref|| %.3e%n", what, rel);
                    assertTrue(rel < (t == DType.BF16 ? 1e-2 : 5e-3), what + ": relative error " + rel);
                }
            }
        }
    }

    private static float[] prefixedLogits(Ops ops, CausalLM lm, List<HostTensor> w, DType t, float[] keys,
                                          float[] values, int width, Batch batch) {
        try (Parameters p = ops.createParameters(w, t);
             Parameters kv = ops.createParameters(List.of(HostTensor.ofFloats("k", keys, 4, width),
                     HostTensor.ofFloats("v", values, 4, width)), t);
             Ops.Scope s = ops.scope()) {
            WeightSource prefixed = new WeightSource() {
                @Override
                public Tensor weight(int index) {
                    return p.weight(index);
                }

                @Override
                public org.zotune.backend.KvPrefix kvPrefix(int attention) {
                    return new org.zotune.backend.KvPrefix(kv.weight(0), kv.weight(1));
                }
            };
            return ops.toHost(lm.forward(ops, prefixed, batch));
        }
    }

    /** The weights as a 16-bit type holds them, in float32. */
    static List<HostTensor> roundedWeights(List<HostTensor> w, DType t) {
        List<HostTensor> out = new ArrayList<>();
        for (HostTensor h : w) {
            out.add(HostTensor.ofFloats(h.name(), GpuTestSupport.rounded(t, h.toFloats()), h.shape()));
        }
        return out;
    }

    /**
     * The prompt in one cached step, then one token per step, each step's last row against the full pass's: in f32
     * to 1e-4. In 16 bits both are held to {@code exact} (the float32 forward's last row over a sequence, on the
     * rounded weights): the cached steps' attention (the fused decode kernel, probabilities kept in float32) and the
     * full pass's (probabilities rounded to the 16-bit type) are different roundings, so their distance from each
     * other is no error of either, and from position to position either may be the closer. The cached steps' worst
     * relative error to float32 must be within the old bound (bf16 1e-2, f16 5e-3) or twice the full pass's worst over
     * the same positions. Measured on an H100 (2026-12-06): tiny Llama bf16 1.02e-2 at position 8 where the full pass
     * has 5.5e-3, and 9.45e-3 at position 39; with the unfused prefix path the two were equal at every position.
     */
    private static void compareSteps(Ops ops, CausalLM m, WeightSource w, int[] prompt, DType t, String what,
                                     java.util.function.Function<int[], float[]> exact) {
        int vocab = m.config().vocabSize();
        int total = m.config().maxPositions();
        int[] seq = new int[total];
        System.arraycopy(prompt, 0, seq, 0, prompt.length);
        for (int i = prompt.length; i < total; i++) {
            seq[i] = (i * 37 + 11) % vocab;
        }
        double worstStep = 0;
        double worstFull = 0;
        try (KvCache cache = new KvCache(ops, total)) {
            WeightSource cw = cache.over(w);
            for (int len = prompt.length; len <= total; len++) {
                int start = cache.length();
                float[] step;
                float[] full;
                try (Ops.Scope s = ops.scope()) {
                    int[] ones = new int[len - start];
                    Arrays.fill(ones, 1);
                    Tensor fresh = m.forward(ops, cw, new Batch(1, len - start, Arrays.copyOfRange(seq, start, len),
                            ones), start);
                    cache.advance(len - start);
                    step = ops.toHost(ops.rows(fresh, len - start - 1, len - start));
                    Tensor all = m.forward(ops, w, Batch.of(Arrays.copyOf(seq, len)));
                    full = ops.toHost(ops.rows(all, len - 1, len));
                }
                String at = what + " position " + (len - 1);
                if (t == DType.F32) {
                    assertClose(full, step, 1e-4, 1e-4, at);
                } else {
                    for (int i = 0; i < step.length; i++) {
                        assertTrue(Float.isFinite(step[i]), at + " logit " + i + " is " + step[i]);
                    }
                    float[] ex = exact.apply(Arrays.copyOf(seq, len));
                    worstStep = Math.max(worstStep, org.zotune.RelativeError.of(step, ex));
                    worstFull = Math.max(worstFull, org.zotune.RelativeError.of(full, ex));
                }
            }
        }
        if (t != DType.F32) {
            double bound = t == DType.BF16 ? 1e-2 : 5e-3;
            System.out.printf("%-40s worst to float32: cached %.3e, full pass %.3e%n", what, worstStep, worstFull);
            assertTrue(worstStep <= bound || worstStep <= 2 * worstFull, what + ": cached steps' worst"
                    + " ||x - f32||/||f32|| " + worstStep + " is above " + bound + " and twice the full pass's "
                    + worstFull);
        }
    }
}
