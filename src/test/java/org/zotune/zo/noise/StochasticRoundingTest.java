package org.zotune.zo.noise;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.zotune.tensor.DType;

class StochasticRoundingTest {

    /** Mean of n stochastic roundings of x (elements 0..n-1 of one seed), in units of the local spacing. */
    private static double meanError(float x, DType dt, int n, float lo, float hi) {
        double sum = 0;
        int[] words = new int[n];
        StochasticRounding.fillBits(11L, 0, words, 0, n);
        for (int i = 0; i < n; i++) {
            float r = StochasticRounding.round(x, words[i], dt);
            assertTrue(r == lo || r == hi, () -> x + " rounded to " + r + ", not " + lo + " or " + hi);
            sum += r;
        }
        return (sum / n - x) / (hi - lo);
    }

    @Test
    void unbiasedBf16() {
        int n = 200_000; // standard error of the mean <= 0.5/sqrt(n) = 1.1e-3 spacing
        float one = 1.0f;
        float ulp = 0x1p-7f; // bf16 spacing in [1, 2)
        for (double frac : new double[] {0.3, 0.75, 1.0 / 1024, 0.5}) {
            float x = (float) (one + frac * ulp);
            assertEquals(0.0, meanError(x, DType.BF16, n, one, one + ulp), 0.006, "1 + " + frac + " ulp");
            assertEquals(0.0, meanError(-x, DType.BF16, n, -one - ulp, -one), 0.006, "-(1 + " + frac + " ulp)");
        }
        // a typical MeZO update far below half an ulp still moves the mean
        float w = 0.0123f;
        float wb = DType.BF16.round(w);
        float x = wb + 1e-7f;
        float lo = Float.intBitsToFloat(Float.floatToIntBits(x) & 0xffff0000);
        float hi = Float.intBitsToFloat(Float.floatToIntBits(lo) + 0x10000);
        assertEquals(0.0, meanError(x, DType.BF16, n, lo, hi), 0.006);
    }

    @Test
    void unbiasedF16NormalAndSubnormal() {
        int n = 200_000;
        float ulp = 0x1p-10f; // f16 spacing in [1, 2)
        float x = 1.0f + 0.3f * ulp;
        assertEquals(0.0, meanError(x, DType.F16, n, 1.0f, 1.0f + ulp), 0.006);
        float sub = 0x1p-24f; // f16 subnormal spacing
        float y = 5.7f * sub;
        assertEquals(0.0, meanError(y, DType.F16, n, 5 * sub, 6 * sub), 0.006);
        assertEquals(0.0, meanError(-y, DType.F16, n, -6 * sub, -5 * sub), 0.006);
    }

    @Test
    void representableValuesUnchanged() {
        int[] words = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678};
        float[] values = {0f, -0f, 1f, -1.5f, 0.0123f, 3.0e5f, -7e-6f, Float.POSITIVE_INFINITY, 65504f, 0x1p-24f * 37};
        for (float v : values) {
            float b = DType.BF16.round(v);
            float h = DType.F16.round(v);
            for (int w : words) {
                assertEquals(Float.floatToIntBits(b), Float.floatToIntBits(StochasticRounding.toBf16(b, w)), "bf16 " + b);
                if (!Float.isInfinite(h) || Float.isInfinite(v)) {
                    assertEquals(Float.floatToIntBits(h), Float.floatToIntBits(StochasticRounding.toF16(h, w)), "f16 " + h);
                }
            }
        }
        assertTrue(Float.isNaN(StochasticRounding.toBf16(Float.NaN, 0)));
        assertEquals(5.5f, StochasticRounding.round(5.5f, 0, DType.F32));
    }

    @Test
    void documentedBitsDecide() {
        float x = Float.intBitsToFloat(0x3f800000 | 0x4000); // 1 + 0x4000/0x10000 of a bf16 ulp (d = 0x4000)
        assertEquals(1.0078125f, StochasticRounding.toBf16(x, 0x3fff0000)); // r>>>16 = 0x3fff < d: up
        assertEquals(1.0f, StochasticRounding.toBf16(x, 0x40000000)); // r>>>16 = 0x4000, not < d: down
        float y = Float.intBitsToFloat(0x3f800000 | 0x1000); // f16: d = 0x1000 of 0x2000
        assertEquals(1.0f + 0x1p-10f, StochasticRounding.toF16(y, 0x7ff80000)); // r>>>19 = 0xfff < d
        assertEquals(1.0f, StochasticRounding.toF16(y, 0x80000000)); // r>>>19 = 0x1000
    }

    @Test
    void deterministicPerSeedAndIndex() {
        float x = 1.0f + 0.37f * 0x1p-7f;
        for (long i = 0; i < 50; i++) {
            assertEquals(StochasticRounding.round(x, 5L, i, DType.BF16), StochasticRounding.round(x, 5L, i, DType.BF16));
            assertEquals(StochasticRounding.toBf16(x, StochasticRounding.bits(5L, i)),
                    StochasticRounding.round(x, 5L, i, DType.BF16));
        }
    }

    /** 16 bits per element: halfword (i mod 8) of stream 2's Philox block i >> 3, low half first. */
    @Test
    void bitsLayout() {
        long seed = 0x0123456789abcdefL;
        for (long i : new long[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 1001, (3L << 35) + 6, (3L << 35) + 7}) {
            long b = i / 8;
            int[] w = Philox4x32.generate((int) (b & 0xffffffffL), (int) (b >>> 32), 2, 0, (int) seed,
                    (int) (seed >>> 32));
            int word = w[(int) (i % 8) / 2];
            int half = i % 2 == 0 ? word & 0xffff : word >>> 16;
            assertEquals(half << 16, StochasticRounding.bits(seed, i), "element " + i);
        }
        int[] out = new int[40];
        StochasticRounding.fillBits(seed, 5, out, 3, 37);
        for (int k = 0; k < 37; k++) {
            assertEquals(StochasticRounding.bits(seed, 5 + k), out[3 + k], "fillBits element " + (5 + k));
        }
        assertEquals(0, out[0] | out[1] | out[2]);
    }
}
