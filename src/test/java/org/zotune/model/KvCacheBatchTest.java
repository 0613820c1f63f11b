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
 * Batched generation with a key/value cache (one block of rows per sequence, prompts of different lengths
 * right-padded) on the CPU reference against each prompt generated alone: token for token against the full recompute
 * (no cache) and the one-sequence cache, and each batched step's logits bit for bit against the full pass over that
 * sequence alone, for GPT-2, OPT and Llama on tiny random models (f32 and bf16), with a prefix adapter in front, and on
 * stories260K.
 */
class KvCacheBatchTest {
    private static final int[][] PROMPTS = {{3, 1, 4}, {5}, {2, 7, 1, 8, 2}, {6, 6}};

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
    void batchedCachedGenerationEqualsEachPromptAlone() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            for (ModelConfig c : decoders()) {
                CausalLM m = Architectures.create(c);
                try (CpuOps ops = new CpuOps(t); Parameters p = ops.createParameters(randomWeights(m, 11), t)) {
                    for (Generator.Sampling s : new Generator.Sampling[] {Generator.Sampling.argmax(),
                            Generator.Sampling.temperature(1.5f, 42)}) {
                        // 6 new tokens: every sequence stops on its count; 100: each at the model's positions
                        for (int max : new int[] {6, 100}) {
                            compareWithAlone(ops, m, p, PROMPTS, max, s, -1, c.family() + " " + t + " " + s
                                    + " max " + max);
                        }
                    }
                    // an end token that one sequence meets early: it retires while the others go on
                    int[] alone = Generator.generate(ops, m, p, PROMPTS[2], 8, Generator.Sampling.argmax(), -1, null,
                            false);
                    compareWithAlone(ops, m, p, PROMPTS, 8, Generator.Sampling.argmax(), alone[2],
                            c.family() + " " + t + " end token " + alone[2]);
                }
            }
        }
    }

    @Test
    void batchedStepsGiveEachSequencesFullPassLogits() {
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            for (ModelConfig c : decoders()) {
                CausalLM m = Architectures.create(c);
                try (CpuOps ops = new CpuOps(t); Parameters p = ops.createParameters(randomWeights(m, 7), t)) {
                    compareBatchedSteps(ops, m, p, PROMPTS, 5, c.family() + " " + t);
                }
            }
        }
    }

    @Test
    void theFullCapacityFormIsTheEagerFormBitForBit() {
        // the cache at full capacity (every block read whole, as a captured decode step reads it) gives the eager
        // form's logits at every decode step, and so its tokens
        for (ModelConfig c : decoders()) {
            CausalLM m = Architectures.create(c);
            try (CpuOps ops = new CpuOps(DType.BF16);
                 Parameters p = ops.createParameters(randomWeights(m, 17), DType.BF16)) {
                List<float[]> compact = new ArrayList<>();
                List<float[]> full = new ArrayList<>();
                Generator.Sampling s = Generator.Sampling.temperature(1.2f, 8);
                int[][] a = Generator.generate(ops, m, p, PROMPTS, 100, s, -1, true, false,
                        cache -> recording(compact, Generator.eagerDecode(ops, m, cache.over(p))));
                int[][] b = Generator.generate(ops, m, p, PROMPTS, 100, s, -1, true, true,
                        cache -> recording(full, Generator.eagerDecode(ops, m, cache.over(p))));
                assertEquals(compact.size(), full.size(), c.family() + ": decode steps");
                assertTrue(compact.size() > 10, c.family() + ": " + compact.size() + " decode steps");
                for (int i = 0; i < compact.size(); i++) {
                    assertArrayEquals(compact.get(i), full.get(i), c.family() + ": decode step " + i);
                }
                for (int i = 0; i < PROMPTS.length; i++) {
                    assertArrayEquals(a[i], b[i], c.family() + ": prompt " + i);
                }
            }
        }
    }

    private static Generator.DecodeStep recording(List<float[]> steps, Generator.DecodeStep inner) {
        return (batch, starts) -> {
            float[][] l = inner.logits(batch, starts);
            float[] all = new float[0];
            for (float[] row : l) {
                int at = all.length;
                all = Arrays.copyOf(all, at + row.length);
                System.arraycopy(row, 0, all, at, row.length);
            }
            steps.add(all);
            return l;
        };
    }

    @Test
    void aPrefixInFrontOfEverySequencesRows() {
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
                        return new KvPrefix(keys, values);
                    }
                };
                compareBatchedSteps(ops, m, prefixed, PROMPTS, 4, c.family() + " with a prefix");
                compareWithAlone(ops, m, prefixed, PROMPTS, 7, Generator.Sampling.temperature(1f, 3), -1,
                        c.family() + " with a prefix");
            }
        }
    }

    @Test
    void stories260KBatchedSamplingEqualsEachPromptAlone() {
        LoadedModel lm = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        CausalLM m = (CausalLM) lm.model();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(lm.parameters(), DType.F32)) {
            int[][] prompts = {{1}, {1, 403, 261}, {1, 261}};
            compareWithAlone(ops, m, p, prompts, 40, Generator.Sampling.temperature(0.9f, 2024), -1, "stories260K");
            compareWithAlone(ops, m, p, prompts, 40, Generator.Sampling.argmax(), -1, "stories260K greedy");
        }
    }

    @Test
    void theTokenSinkIsToldEachPromptsTokensInOrder() {
        LoadedModel lm = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        CausalLM m = (CausalLM) lm.model();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(lm.parameters(), DType.F32)) {
            // the second prompt is at the model's positions already: it gets nothing, and is told nothing
            int[] full = new int[m.config().maxPositions()];
            java.util.Arrays.fill(full, 261);
            int[][] prompts = {{1, 403, 261}, full, {1}};
            for (boolean cached : new boolean[] {true, false}) {
                java.util.List<java.util.List<Integer>> told = new java.util.ArrayList<>();
                for (int i = 0; i < prompts.length; i++) {
                    told.add(new java.util.ArrayList<>());
                }
                int[][] out = Generator.generate(ops, m, p, prompts, 12, Generator.Sampling.temperature(0.9f, 5), -1,
                        cached, false, cache -> Generator.eagerDecode(ops, m, cache.over(p)),
                        (prompt, token) -> told.get(prompt).add(token));
                for (int i = 0; i < prompts.length; i++) {
                    int[] got = told.get(i).stream().mapToInt(Integer::intValue).toArray();
                    assertArrayEquals(out[i], got, "cached " + cached + ": prompt " + i + "'s tokens as told");
                }
                assertEquals(12, out[0].length);
                assertEquals(0, out[1].length);
            }
        }
    }

    @Test
    void theBatchedCacheRefusesWhatItCannotHold() {
        ModelConfig c = ArchitecturesTest.llama(false, false);
        CausalLM m = Architectures.create(c);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(randomWeights(m, 1), DType.F32);
             KvCache cache = new KvCache(ops, 2, 4, false)) {
            WeightSource w = cache.over(p);
            Batch three = Batch.rightPadded(new int[][] {{1}, {2}, {3}}, 0);
            String msg = assertThrows(IllegalArgumentException.class,
                    () -> m.forward(ops, w, three, new int[3])).getMessage();
            assertTrue(msg.contains("2 sequences got a batch of 3"), msg);
            m.forward(ops, w, Batch.rightPadded(new int[][] {{1, 2, 3}, {4}}, 0), new int[2]);
            cache.advance(new int[] {3, 1});
            msg = assertThrows(IllegalArgumentException.class,
                    () -> m.forward(ops, w, Batch.rightPadded(new int[][] {{1, 2}, {4, 5}}, 0), new int[] {3, 1}))
                    .getMessage();
            assertTrue(msg.contains("cannot hold 3 + 2 (sequence 0)"), msg);
            cache.retire(0);
            msg = assertThrows(IllegalArgumentException.class, () -> cache.advance(new int[] {1, 0})).getMessage();
            assertTrue(msg.contains("retired"), msg);
            assertThrows(IllegalArgumentException.class, () -> cache.advance(new int[] {0}));
            assertThrows(IllegalStateException.class, cache::length);
            assertThrows(IllegalArgumentException.class, () -> new KvCache(ops, 0, 4, false));
            assertThrows(IllegalArgumentException.class, () -> Generator.generate(ops, m, p, new int[][] {{1}, {}},
                    3, Generator.Sampling.argmax(), -1, true));
        }
    }

    /** Batched generation (cached) against each prompt alone, uncached and cached. */
    private static void compareWithAlone(Ops ops, CausalLM m, WeightSource w, int[][] prompts, int max,
                                         Generator.Sampling s, int eos, String what) {
        int[][] batched = Generator.generate(ops, m, w, prompts, max, s, eos, true);
        assertEquals(prompts.length, batched.length, what);
        for (int i = 0; i < prompts.length; i++) {
            int[] full = Generator.generate(ops, m, w, prompts[i], max, s, eos, null, false);
            int[] cached = Generator.generate(ops, m, w, prompts[i], max, s, eos, null, true);
            assertArrayEquals(full, batched[i], what + ": prompt " + i + " batched against alone without the cache");
            assertArrayEquals(cached, batched[i], what + ": prompt " + i + " batched against alone with the cache");
        }
        System.out.println("KvCacheBatchTest " + what + ": new tokens per prompt "
                + Arrays.toString(Arrays.stream(batched).mapToInt(a -> a.length).toArray()));
    }

    /**
     * Feeds the prompts right-padded through a batched cache, then {@code steps} tokens per sequence one at a time
     * (a made-up token stream), each at its own position; every step's row of sequence b against the last row of
     * the full pass over sequence b alone, bit for bit.
     */
    private static void compareBatchedSteps(Ops ops, CausalLM m, WeightSource w, int[][] prompts, int steps,
                                            String what) {
        int n = prompts.length;
        int vocab = m.config().vocabSize();
        int longest = Arrays.stream(prompts).mapToInt(a -> a.length).max().orElseThrow();
        int[][] seqs = new int[n][];
        for (int b = 0; b < n; b++) {
            seqs[b] = Arrays.copyOf(prompts[b], prompts[b].length + steps);
            for (int i = prompts[b].length; i < seqs[b].length; i++) {
                seqs[b][i] = (i * 7 + 3 * b + 1) % vocab;
            }
        }
        double worst = 0;
        try (KvCache cache = new KvCache(ops, n, longest + steps, false)) {
            WeightSource cw = cache.over(w);
            Batch batch = Batch.rightPadded(prompts, 0);
            int[] lens = Arrays.stream(prompts).mapToInt(a -> a.length).toArray();
            for (int step = 0; step <= steps; step++) {
                try (Ops.Scope sc = ops.scope()) {
                    Tensor fresh = m.forward(ops, cw, batch, cache.lengths());
                    int[] add = new int[n];
                    for (int b = 0; b < n; b++) {
                        add[b] = step == 0 ? lens[b] : 1;
                    }
                    cache.advance(add);
                    for (int b = 0; b < n; b++) {
                        int len = prompts[b].length + step;
                        int row = step == 0 ? b * batch.seq() + len - 1 : b;
                        float[] got = ops.toHost(ops.rows(fresh, row, row + 1));
                        Tensor all = m.forward(ops, w, Batch.of(Arrays.copyOf(seqs[b], len)));
                        float[] want = ops.toHost(ops.rows(all, len - 1, len));
                        for (int i = 0; i < vocab; i++) {
                            double d = Math.abs(got[i] - want[i]);
                            worst = Math.max(worst, d);
                            // each sequence's rows in its own block, cached rows first: the full pass's sums
                            assertTrue(d == 0, what + ": sequence " + b + " position " + (len - 1) + " logit " + i
                                    + ": batched " + got[i] + ", alone " + want[i]);
                        }
                    }
                }
                int[] ids = new int[n];
                int[] ones = new int[n];
                for (int b = 0; b < n; b++) {
                    ids[b] = seqs[b][prompts[b].length + step < seqs[b].length ? prompts[b].length + step : 0];
                    ones[b] = 1;
                }
                batch = new Batch(n, 1, ids, ones);
            }
        }
        System.out.println("KvCacheBatchTest " + what + ": max |batched - alone| over every step's logits = "
                + worst);
    }
}
