package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Generation with a key/value cache against the full recompute (no cache) on the CPU reference: token for token, and
 * each step's logits bit for bit (the cached step's last row against the full pass's last row), for GPT-2 (learned positions,
 * packed q|k|v with its bias), OPT (learned positions at offset 2; layer norm before and after, projected embeddings)
 * and Llama (RoPE at the real positions, grouped kv heads, with and without biases) on tiny random models in f32 and
 * bf16, with a key/value prefix in front (a prefix adapter), and on stories260K.
 */
class KvCacheTest {

    private static List<ModelConfig> decoders() {
        return List.of(ArchitecturesTest.gpt2(2), ArchitecturesTest.opt(true, 8), ArchitecturesTest.opt(false, 6),
                ArchitecturesTest.llama(false, true), ArchitecturesTest.llama(true, false));
    }

    private static List<HostTensor> randomWeights(CausalLM m, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : m.params()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 0.7);
            }
            if (s.role() == ParamSpec.Role.NORM_WEIGHT) {
                for (int i = 0; i < v.length; i++) {
                    v[i] = 1 + v[i] / 4;
                }
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    @Test
    void cachedStepsGiveTheFullPassLogitsOnEveryDecoder() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            for (ModelConfig c : decoders()) {
                CausalLM m = Architectures.create(c);
                assertTrue(m.cachesKeysValues(), c.family().toString());
                try (CpuOps ops = new CpuOps(t); Parameters p = ops.createParameters(randomWeights(m, 7), t)) {
                    compareSteps(ops, m, p, new int[] {3, 1, 4}, c.family() + " " + t);
                    compareSteps(ops, m, p, new int[] {5}, c.family() + " one-token prompt " + t);
                }
            }
        }
    }

    @Test
    void cachedDecodingEqualsFullRecomputeTokenForToken() {
        for (ModelConfig c : decoders()) {
            CausalLM m = Architectures.create(c);
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(randomWeights(m, 11), DType.F32)) {
                for (Generator.Sampling s : new Generator.Sampling[] {Generator.Sampling.argmax(),
                        Generator.Sampling.temperature(1.5f, 42)}) {
                    int[] prompt = {2, 7};
                    int[] full = Generator.generate(ops, m, p, prompt, 100, s, -1, null, false);
                    int[] cached = Generator.generate(ops, m, p, prompt, 100, s, -1, null, true);
                    // up to the model's maximum positions, then stopped
                    assertEquals(c.maxPositions() - prompt.length, full.length, c.family().toString());
                    assertArrayEquals(full, cached, c.family() + " " + s);
                }
            }
        }
    }

    @Test
    void aPrefixInFrontOfTheCacheIsKeptAndNotRotated() {
        for (ModelConfig c : decoders()) {
            CausalLM m = Architectures.create(c);
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(randomWeights(m, 13), DType.F32)) {
                Random r = new Random(5);
                int width = c.numKvHeads() * c.headDim();
                int rows = 3;
                float[] kv = new float[2 * rows * width];
                for (int i = 0; i < kv.length; i++) {
                    kv[i] = (float) r.nextGaussian();
                }
                Tensor keys = ops.tensor(Arrays.copyOfRange(kv, 0, rows * width), rows, width);
                Tensor values = ops.tensor(Arrays.copyOfRange(kv, rows * width, kv.length), rows, width);
                WeightSource prefixed = new WeightSource() {
                    @Override
                    public Tensor weight(int index) {
                        return p.weight(index);
                    }

                    @Override
                    public KvPrefix kvPrefix(int attention) {
                        return new KvPrefix(keys, values); // the same rows in every layer: enough to check
                    }
                };
                compareSteps(ops, m, prefixed, new int[] {1, 2}, c.family() + " with a prefix");
                Generator.Sampling s = Generator.Sampling.temperature(1f, 3);
                assertArrayEquals(Generator.generate(ops, m, prefixed, new int[] {4}, 9, s, -1, null, false),
                        Generator.generate(ops, m, prefixed, new int[] {4}, 9, s, -1, null, true),
                        c.family() + " with a prefix");
            }
        }
    }

    @Test
    void stories260KSampledDecodingIsTheSameWithTheCache() {
        LoadedModel lm = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        CausalLM m = (CausalLM) lm.model();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(lm.parameters(), DType.F32)) {
            compareSteps(ops, m, p, new int[] {1, 403, 261}, 48, "stories260K");
            Generator.Sampling s = Generator.Sampling.temperature(0.9f, 2024);
            int[] full = Generator.generate(ops, m, p, new int[] {1}, 64, s, -1, null, false);
            int[] cached = Generator.generate(ops, m, p, new int[] {1}, 64, s, -1, null, true);
            assertEquals(64, full.length);
            assertArrayEquals(full, cached, "stories260K, temperature 0.9");
        }
    }

    @Test
    void theCacheRefusesWhatItCannotHold() {
        ModelConfig c = ArchitecturesTest.llama(false, false);
        CausalLM m = Architectures.create(c);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(randomWeights(m, 1), DType.F32);
             KvCache cache = new KvCache(ops, 4)) {
            WeightSource w = cache.over(p);
            m.forward(ops, w, Batch.of(1, 2, 3), 0);
            cache.advance(3);
            String msg = assertThrows(IllegalArgumentException.class,
                    () -> m.forward(ops, w, Batch.of(1, 2), 3)).getMessage();
            assertTrue(msg.contains("cannot hold 3 + 2"), msg);
            assertThrows(IllegalArgumentException.class, () -> cache.advance(2));
            assertThrows(IllegalArgumentException.class, () -> new KvCache(ops, 0));
        }
    }

    /**
     * Feeds {@code tokens} one step at a time through a cache (the first step the first two tokens, then one each)
     * and checks each step's last logits row against the full pass over the tokens so far.
     */
    private static void compareSteps(Ops ops, CausalLM m, WeightSource w, int[] prompt, String what) {
        compareSteps(ops, m, w, prompt, m.config().maxPositions(), what);
    }

    /** {@link #compareSteps} up to {@code total} tokens (the full passes grow quadratically). */
    private static void compareSteps(Ops ops, CausalLM m, WeightSource w, int[] prompt, int total, String what) {
        int vocab = m.config().vocabSize();
        int[] seq = new int[total];
        System.arraycopy(prompt, 0, seq, 0, prompt.length);
        for (int i = prompt.length; i < total; i++) {
            seq[i] = (i * 7 + 3) % vocab;
        }
        double worst = 0;
        try (KvCache cache = new KvCache(ops, total)) {
            WeightSource cw = cache.over(w);
            int len = prompt.length;
            while (len <= total) {
                int start = cache.length();
                float[] step;
                float[] full;
                try (Ops.Scope s = ops.scope()) {
                    Tensor fresh = m.forward(ops, cw, new Batch(1, len - start, Arrays.copyOfRange(seq, start, len),
                            ones(len - start)), start);
                    cache.advance(len - start);
                    step = ops.toHost(ops.rows(fresh, len - start - 1, len - start));
                    Tensor all = m.forward(ops, w, Batch.of(Arrays.copyOf(seq, len)));
                    full = ops.toHost(ops.rows(all, len - 1, len));
                }
                for (int i = 0; i < vocab; i++) {
                    double d = Math.abs(step[i] - full[i]);
                    worst = Math.max(worst, d);
                    // the cached rows come first in each score row, so the sums run in the full pass's order: the
                    // same float operations, the same bits
                    assertTrue(d == 0, what + ": position " + (len - 1)
                            + " logit " + i + ": cached " + step[i] + ", full " + full[i]);
                }
                len++;
            }
        }
        System.out.println("KvCacheTest " + what + ": max |cached - full| over every step's logits = " + worst);
    }

    private static int[] ones(int n) {
        int[] m = new int[n];
        Arrays.fill(m, 1);
        return m;
    }
}
