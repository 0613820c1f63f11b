package org.zotune.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.Tensor;

/**
 * The reference attention, causal and bidirectional, against a naive one written here from the definition
 * (float64, no RoPE: softmax over the visible keys of q·k·scale, times v; visible = not padding, and not in the
 * future when causal; no visible key gives zeros), on small odd shapes with grouped kv heads and padding.
 */
class AttentionDirectionTest {
    private final CpuOps ops = new CpuOps();

    /** out[b·T + i, h·D + c] from the definition. */
    static float[] naive(float[] q, float[] k, float[] v, int[] mask, int batch, int seq, int heads, int kvHeads,
                        int dim, float scale, boolean causal) {
        float[] out = new float[batch * seq * heads * dim];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int kh = h / (heads / kvHeads);
                for (int i = 0; i < seq; i++) {
                    double[] w = new double[seq];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < seq; j++) {
                        boolean visible = mask[b * seq + j] != 0 && (!causal || j <= i);
                        if (!visible) {
                            w[j] = Double.NaN;
                            continue;
                        }
                        double dot = 0;
                        for (int c = 0; c < dim; c++) {
                            dot += (double) q[((b * seq + i) * heads + h) * dim + c]
                                    * k[((b * seq + j) * kvHeads + kh) * dim + c];
                        }
                        w[j] = dot * scale;
                        max = Math.max(max, w[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < seq; j++) {
                        w[j] = Double.isNaN(w[j]) ? 0 : Math.exp(w[j] - max);
                        sum += w[j];
                    }
                    for (int c = 0; c < dim; c++) {
                        double acc = 0;
                        for (int j = 0; j < seq; j++) {
                            acc += w[j] * v[((b * seq + j) * kvHeads + kh) * dim + c];
                        }
                        out[((b * seq + i) * heads + h) * dim + c] = sum == 0 ? 0f : (float) (acc / sum);
                    }
                }
            }
        }
        return out;
    }

    private static float[] gaussian(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (1.5 * r.nextGaussian());
        }
        return x;
    }

    private float[] attention(float[] q, float[] k, float[] v, int[] mask, AttentionSpec s) {
        int tokens = s.batch() * s.seq();
        Tensor qt = ops.tensor(q, tokens, s.numHeads() * s.headDim());
        Tensor kt = ops.tensor(k, tokens, s.numKvHeads() * s.headDim());
        Tensor vt = ops.tensor(v, tokens, s.numKvHeads() * s.headDim());
        return ops.toHost(ops.attention(qt, kt, vt, ops.ints(mask), ops.ints(new int[tokens]), s));
    }

    /** Sequence 0 full, 1 right-padded with a hole, 2 left-padded, 3 all padding. */
    private static int[] mask(int batch, int seq) {
        int[] m = new int[batch * seq];
        Arrays.fill(m, 0, 3 * seq, 1);
        m[seq + seq - 1] = 0;
        m[seq + seq - 2] = 0;
        m[seq + 2] = 0;
        for (int i = 0; i < 3; i++) {
            m[2 * seq + i] = 0;
        }
        return m;
    }

    @Test
    void bothDirectionsMatchTheDefinitionWithGroupedHeadsAndPadding() {
        int[][] shapes = {{4, 7, 6, 2, 5}, {4, 9, 3, 3, 3}, {4, 5, 4, 1, 7}}; // batch, seq, H, Hkv, D
        for (int[] sh : shapes) {
            int b = sh[0], t = sh[1], h = sh[2], hkv = sh[3], d = sh[4];
            Random r = new Random(t * 31 + h);
            float[] q = gaussian(r, b * t * h * d);
            float[] k = gaussian(r, b * t * hkv * d);
            float[] v = gaussian(r, b * t * hkv * d);
            int[] m = mask(b, t);
            float scale = (float) (1 / Math.sqrt(d));
            for (boolean causal : new boolean[] {true, false}) {
                AttentionSpec spec = new AttentionSpec(b, t, h, hkv, d, scale, 0, null, causal);
                float[] expected = naive(q, k, v, m, b, t, h, hkv, d, scale, causal);
                float[] actual = attention(q, k, v, m, spec);
                assertArrayEquals(expected, actual, 1e-5f, Arrays.toString(sh) + " causal=" + causal);
            }
        }
    }

    @Test
    void theFlagChangesEveryQueryButTheLastOfAFullSequence() {
        int b = 4, t = 7, h = 2, d = 4;
        Random r = new Random(3);
        float[] q = gaussian(r, b * t * h * d);
        float[] k = gaussian(r, b * t * h * d);
        float[] v = gaussian(r, b * t * h * d);
        int[] m = mask(b, t);
        AttentionSpec causal = new AttentionSpec(b, t, h, h, d, 0.5f, 0, null);
        assertTrue(causal.causal(), "the eight-argument form is causal");
        float[] c = attention(q, k, v, m, causal);
        float[] bi = attention(q, k, v, m, causal.withCausal(false));
        int row = h * d;
        // sequence 0 is unpadded: its last query sees every key both ways, its first only itself when causal
        assertArrayEquals(Arrays.copyOfRange(c, (t - 1) * row, t * row), Arrays.copyOfRange(bi, (t - 1) * row,
                t * row), 0f);
        assertTrue(!Arrays.equals(Arrays.copyOfRange(c, 0, row), Arrays.copyOfRange(bi, 0, row)));
        // sequence 3 is all padding: zeros both ways
        for (float[] out : new float[][] {c, bi}) {
            for (int i = 3 * t * row; i < 4 * t * row; i++) {
                assertEquals(0f, out[i], "no visible key gives zeros");
            }
        }
        // bidirectional: the left padding of sequence 2 sees its sequence's real keys (causal: nothing)
        assertEquals(0f, c[2 * t * row], "causal query 0 of sequence 2 sees only padding");
        assertTrue(bi[2 * t * row] != 0f, "bidirectional query 0 of sequence 2 sees keys 3..6");
    }

    @Test
    void packedBidirectionalEqualsTheSplitOne() {
        int b = 4, t = 5, h = 4, hkv = 2, d = 3;
        Random r = new Random(9);
        int width = (h + 2 * hkv) * d;
        float[] qkv = gaussian(r, b * t * width);
        float[] q = new float[b * t * h * d];
        float[] k = new float[b * t * hkv * d];
        float[] v = new float[b * t * hkv * d];
        for (int row = 0; row < b * t; row++) {
            System.arraycopy(qkv, row * width, q, row * h * d, h * d);
            System.arraycopy(qkv, row * width + h * d, k, row * hkv * d, hkv * d);
            System.arraycopy(qkv, row * width + (h + hkv) * d, v, row * hkv * d, hkv * d);
        }
        int[] m = mask(b, t);
        AttentionSpec spec = new AttentionSpec(b, t, h, hkv, d, 0.7f, 0, null, false);
        float[] packed = ops.toHost(ops.attentionPacked(ops.tensor(qkv, b * t, width), null, ops.ints(m),
                ops.ints(new int[b * t]), spec));
        assertArrayEquals(attention(q, k, v, m, spec), packed, 0f);
        assertArrayEquals(naive(q, k, v, m, b, t, h, hkv, d, 0.7f, false), packed, 1e-5f);
    }
}
