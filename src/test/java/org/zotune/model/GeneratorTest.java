package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Generation on a bigram "model" whose logits at each position are row {@code ids[t]} of a table (written
 * with Ops like a real model, the table fetched through the WeightSource), so every expected token follows
 * from the table by hand.
 */
class GeneratorTest {

    /** logits[t] = table[ids[t]]. */
    record Bigram(ModelConfig config) implements CausalLM {
        @Override
        public List<ParamSpec> params() {
            return List.of(new ParamSpec("table", new long[] {config.vocabSize(), config.vocabSize()},
                    ParamSpec.Role.EMBEDDING));
        }

        @Override
        public Tensor forward(Ops ops, WeightSource weights, Batch batch) {
            return ops.embedding(ops.ints(batch.ids()), weights.weight(0));
        }
    }

    static ModelConfig config(int vocab, int maxPositions) {
        return new ModelConfig(ModelFamily.LLAMA, vocab, 2, 1, 1, 1, 2, 2, maxPositions, 1e-5,
                ModelConfig.Activation.SILU, true, true, true, 2, 10000, null, false, false, 1, 2, -1);
    }

    /** A table where token a is followed by next[a] (logit 1, others 0). */
    static float[] chain(int[] next) {
        int v = next.length;
        float[] t = new float[v * v];
        for (int a = 0; a < v; a++) {
            t[a * v + next[a]] = 1f;
        }
        return t;
    }

    private static int[] generate(float[] table, int vocab, int maxPositions, int[] prompt, int max,
                                  Generator.Sampling s, int eos, List<Integer> seen) {
        Bigram m = new Bigram(config(vocab, maxPositions));
        try (CpuOps ops = new CpuOps();
             Parameters p = ops.createParameters(List.of(HostTensor.ofFloats("table", table, vocab, vocab)),
                     DType.F32)) {
            return Generator.generate(ops, m, p, prompt, max, s, eos, seen == null ? null : seen::add);
        }
    }

    // 0→3, 1→4, 2→2, 3→0, 4→3
    private static final int[] NEXT = {3, 4, 2, 0, 3};

    @Test
    void greedyFollowsTheArgmaxAndStopsAtMaxTokens() {
        List<Integer> seen = new ArrayList<>();
        int[] out = generate(chain(NEXT), 5, 100, new int[] {2, 1}, 5, Generator.Sampling.argmax(), -1, seen);
        assertArrayEquals(new int[] {4, 3, 0, 3, 0}, out);
        assertEquals(List.of(4, 3, 0, 3, 0), seen);
        assertArrayEquals(new int[] {4, 3}, generate(chain(NEXT), 5, 100, new int[] {1}, 2,
                Generator.Sampling.argmax(), -1, null));
        assertArrayEquals(new int[0], generate(chain(NEXT), 5, 100, new int[] {1}, 0,
                Generator.Sampling.argmax(), -1, null));
    }

    @Test
    void stopsAtEosWithoutEmittingIt() {
        List<Integer> seen = new ArrayList<>();
        int[] out = generate(chain(NEXT), 5, 100, new int[] {1}, 10, Generator.Sampling.argmax(), 0, seen);
        assertArrayEquals(new int[] {4, 3}, out);
        assertEquals(List.of(4, 3), seen);
    }

    @Test
    void stopsAtMaxPositions() {
        // prompt of 3, 5 positions: room for 2 new tokens
        int[] out = generate(chain(NEXT), 5, 5, new int[] {2, 2, 1}, 10, Generator.Sampling.argmax(), -1, null);
        assertArrayEquals(new int[] {4, 3}, out);
    }

    @Test
    void greedyBreaksTiesTowardTheLowestId() {
        float[] t = new float[4 * 4];
        Arrays.fill(t, 0.5f);
        t[0 * 4 + 3] = 2f;
        t[0 * 4 + 1] = 2f; // row 0: ids 1 and 3 tie
        assertArrayEquals(new int[] {1}, generate(t, 4, 10, new int[] {0}, 1, Generator.Sampling.argmax(), -1,
                null));
        // temperature 0 is greedy too
        assertArrayEquals(new int[] {1}, generate(t, 4, 10, new int[] {0}, 1,
                Generator.Sampling.temperature(0f, 5), -1, null));
    }

    /** Every row has logits ln(0.7), ln(0.2), ln(0.1): tokens are independent draws. */
    private static float[] iid() {
        float[] row = {(float) Math.log(0.7), (float) Math.log(0.2), (float) Math.log(0.1)};
        float[] t = new float[9];
        for (int r = 0; r < 3; r++) {
            System.arraycopy(row, 0, t, r * 3, 3);
        }
        return t;
    }

    private static double[] frequencies(int[] tokens) {
        double[] f = new double[3];
        for (int t : tokens) {
            f[t] += 1.0 / tokens.length;
        }
        return f;
    }

    @Test
    void temperatureSamplingIsSeededAndFollowsTheDistribution() {
        int n = 3000;
        int[] a = generate(iid(), 3, n + 1, new int[] {0}, n, Generator.Sampling.temperature(1f, 42), -1, null);
        int[] b = generate(iid(), 3, n + 1, new int[] {0}, n, Generator.Sampling.temperature(1f, 42), -1, null);
        int[] c = generate(iid(), 3, n + 1, new int[] {0}, n, Generator.Sampling.temperature(1f, 43), -1, null);
        assertArrayEquals(a, b, "same seed, same tokens");
        assertFalse(Arrays.equals(a, c), "another seed, other tokens");
        // binomial standard deviations at n = 3000 are below 0.009: 0.035 is 4 of them
        double[] f = frequencies(a);
        assertEquals(0.7, f[0], 0.035);
        assertEquals(0.2, f[1], 0.035);
        assertEquals(0.1, f[2], 0.035);
        // temperature 0.5 squares the probabilities: 0.49, 0.04, 0.01 normalised
        double[] g = frequencies(generate(iid(), 3, n + 1, new int[] {0}, n,
                Generator.Sampling.temperature(0.5f, 7), -1, null));
        assertEquals(0.49 / 0.54, g[0], 0.035);
        assertEquals(0.04 / 0.54, g[1], 0.035);
        assertEquals(0.01 / 0.54, g[2], 0.035);
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> generate(chain(NEXT), 5, 10, new int[0], 1,
                Generator.Sampling.argmax(), -1, null));
        assertThrows(IllegalArgumentException.class, () -> Generator.Sampling.temperature(-1f, 0));
        assertThrows(IllegalArgumentException.class, () -> Generator.Sampling.temperature(Float.NaN, 0));
    }
}
