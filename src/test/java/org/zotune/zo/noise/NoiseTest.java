package org.zotune.zo.noise;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.model.ParamSpec;

class NoiseTest {
    private static final long SEED = 0x0123456789abcdefL;

    /** The §1 mapping written out independently from the counter/key layout, on top of the KAT-checked Philox. */
    private static float byHand(long seed, int stream, long i) {
        long g = i / 4;
        int[] w = Philox4x32.generate((int) (g & 0xffffffffL), (int) (g >> 32), stream, 0,
                (int) (seed & 0xffffffffL), (int) (seed >>> 32));
        int lane = (int) (i % 4);
        int a = lane < 2 ? w[0] : w[2];
        int b = lane < 2 ? w[1] : w[3];
        float u1 = (float) (Integer.toUnsignedLong(a) >> 8) + 0.5f;
        u1 = u1 / 16777216f;
        float u2 = ((float) (Integer.toUnsignedLong(b) >> 8) + 0.5f) / 16777216f;
        float r = (float) Math.sqrt(-2f * (float) Math.log(u1));
        double ang = 2 * Math.PI * u2; // 2πu2 in double: the same float as π·(2u2) after rounding
        return lane % 2 == 0 ? r * (float) Math.cos(ang) : r * (float) Math.sin(ang);
    }

    @Test
    void mappingMatchesSpecification() {
        long[] idx = {0, 1, 2, 3, 4, 5, 6, 7, 1001, (5L << 32) + 6, (7L << 34) + 3};
        for (int stream : new int[] {0, 1, 2, 4, 9}) {
            for (long i : idx) {
                float want = byHand(SEED, stream, i);
                assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(Noise.gaussian(SEED, stream, i)),
                        "stream " + stream + " element " + i);
            }
        }
    }

    /** sin/cos(π·x) against double on a grid, and exact zeros where the rounded angle lands on them. */
    @Test
    void sinCosPi() {
        for (int k = 0; k <= 4096; k++) {
            float x = k / 2048f; // (0, 2] and 0
            assertEquals((float) Math.cos(Math.PI * x), Noise.sinCosPi(x, 0), 1e-7, "cos at " + x);
            assertEquals((float) Math.sin(Math.PI * x), Noise.sinCosPi(x, 1), 1e-7, "sin at " + x);
        }
        assertEquals(0.0f, Noise.sinCosPi(1.0f, 1), 0f);
        assertEquals(0.0f, Noise.sinCosPi(2.0f, 1), 0f);
        assertEquals(0.0f, Noise.sinCosPi(0.5f, 0), 0f);
        assertEquals(-1.0f, Noise.sinCosPi(1.0f, 0));
        assertEquals(1.0f, Noise.sinCosPi(2.0f, 0));
        // the word pair whose angle rounds to exactly π (b >>> 8 = 2^23): a zero sine branch
        assertEquals(2.0f, 2.0f * Noise.uniform(0xffffff00));
        assertEquals(1.0f, 2.0f * Noise.uniform(0x80000000));
        assertEquals(0.0f, Noise.boxMuller(0x12345678, 0x80000000, 1), 0f);
    }

    @Test
    void uniformRangeAndRounding() {
        assertEquals(0x1p-25f, Noise.uniform(0));
        // (2^24 - 1) + 0.5 is not representable in float32: it rounds to even, 2^24, so u = 1
        assertEquals(1.0f, Noise.uniform(0xffffffff));
        assertEquals((1 + 0.5f) * 0x1p-24f, Noise.uniform(0x100));
    }

    @Test
    void elementDependsOnlyOnSeedStreamAndIndex() {
        int n = 1000;
        float[] full = new float[n];
        Noise.fill(SEED, 0, 0, full, 0, n, Noise.Distribution.GAUSSIAN);
        for (int start : new int[] {1, 3, 5, 6, 333}) {
            float[] part = new float[n - start - 7 + 2];
            Noise.fill(SEED, 0, start, part, 2, n - start - 7, Noise.Distribution.GAUSSIAN);
            for (int k = 0; k < n - start - 7; k++) {
                assertEquals(Float.floatToIntBits(full[start + k]), Float.floatToIntBits(part[2 + k]),
                        "element " + (start + k) + " from a range starting at " + start);
                assertEquals(Float.floatToIntBits(full[start + k]),
                        Float.floatToIntBits(Noise.gaussian(SEED, 0, start + k)));
            }
        }
        int[] words = new int[10];
        Noise.fillWords(SEED, 2, 7, words, 0, 10);
        for (int k = 0; k < 10; k++) {
            assertEquals(Noise.word(SEED, 2, 7 + k), words[k]);
        }
        // streams and seeds give different numbers
        assertNotEquals(Noise.gaussian(SEED, 0, 17), Noise.gaussian(SEED, 1, 17));
        assertNotEquals(Noise.gaussian(SEED, 0, 17), Noise.gaussian(SEED + (1L << 32), 0, 17));
        assertNotEquals(Noise.gaussian(SEED, 0, 17), Noise.gaussian(SEED, 0, 17 + (1L << 34)));
    }

    @Test
    void gaussianMoments() {
        int n = 1_000_000;
        float[] v = new float[n];
        Noise.fill(42L, 0, 12345, v, 0, n, Noise.Distribution.GAUSSIAN);
        double s1 = 0, s2 = 0, s4 = 0, lag = 0, tail = 0;
        for (int k = 0; k < n; k++) {
            double x = v[k];
            s1 += x;
            s2 += x * x;
            s4 += x * x * x * x;
            if (k > 0) {
                lag += x * v[k - 1];
            }
            if (Math.abs(x) > 1.959964) {
                tail++;
            }
        }
        double mean = s1 / n;
        double var = s2 / n - mean * mean;
        // standard errors: mean 1e-3, variance 1.4e-3, fourth moment 1e-2, lag-1 correlation 1e-3, tail 2.2e-4
        assertEquals(0.0, mean, 0.005, "mean");
        assertEquals(1.0, var, 0.007, "variance");
        assertEquals(3.0, s4 / n, 0.06, "fourth moment (kurtosis of a normal)");
        assertEquals(0.0, lag / n, 0.005, "correlation of neighbouring elements (the cos/sin branches)");
        assertEquals(0.05, tail / n, 0.0011, "fraction beyond 1.96");
    }

    @Test
    void rademacher() {
        int n = 200_000;
        float[] v = new float[n];
        Noise.fill(7L, 0, 0, v, 0, n, Noise.Distribution.RADEMACHER);
        double s = 0;
        for (float x : v) {
            assertTrue(x == 1f || x == -1f);
            s += x;
        }
        assertEquals(0.0, s / n, 0.012);
        // the sign is the top bit of the element's word
        for (int i = 0; i < 20; i++) {
            assertEquals(Noise.word(7L, 0, i) < 0 ? -1f : 1f, v[i]);
        }
    }

    @Test
    void sampleStreamsAndStepSeeds() {
        assertEquals(0, Noise.sampleStream(0));
        assertEquals(4, Noise.sampleStream(1));
        assertEquals(8, Noise.sampleStream(5));
        assertNotEquals(Noise.stepSeed(1, 1), Noise.stepSeed(1, 2));
        assertNotEquals(Noise.stepSeed(1, 1), Noise.stepSeed(2, 1));
        int[] w = Philox4x32.generate(3, 0, 0, 1, 99, 0);
        assertEquals(Integer.toUnsignedLong(w[0]) | (Integer.toUnsignedLong(w[1]) << 32), Noise.stepSeed(99, 3));
    }

    @Test
    void layoutRoundsOffsetsToFour() {
        NoiseLayout l = new NoiseLayout(List.of(
                new ParamSpec("a", new long[] {3, 5}, ParamSpec.Role.MATRIX),
                new ParamSpec("b", new long[] {7}, ParamSpec.Role.BIAS),
                new ParamSpec("c", new long[] {2, 2}, ParamSpec.Role.NORM_WEIGHT),
                new ParamSpec("d", new long[] {1}, ParamSpec.Role.NORM_BIAS)));
        assertEquals(0, l.offset(0));
        assertEquals(16, l.offset(1)); // 15 -> 16
        assertEquals(24, l.offset(2)); // 16 + 7 = 23 -> 24
        assertEquals(28, l.offset(3)); // 24 + 4 = 28
        assertEquals(32, l.totalElements()); // 29 -> 32
    }
}
