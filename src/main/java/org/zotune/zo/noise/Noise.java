package org.zotune.zo.noise;

/**
 * Counter-based noise (ALGORITHMS.md §1): every value is a pure function of (seed, stream, global element
 * index i), never of a thread, block or call order, so a CUDA kernel in any launch configuration and this
 * CPU reference produce the same numbers.
 *
 * <h2>The mapping (what a kernel must do, per element)</h2>
 * <pre>
 *   g       = i >> 2                      (i >= 0, a 64-bit index)
 *   counter = (lo32(g), hi32(g), stream, 0)
 *   key     = (lo32(seed), hi32(seed))
 *   (x, y, z, w) = Philox4x32_10(counter, key)
 *   element 4g+0, 4g+1 use the pair (x, y); elements 4g+2, 4g+3 use (z, w)
 *   for a pair (a, b), all in float32 with round-to-nearest-even, no fused multiply-add:
 *     u1 = ((float)(a >>> 8) + 0.5f) * 2^-24
 *     x2 = 2 * ((float)(b >>> 8) + 0.5f) * 2^-24      (2·u2, exact)
 *     r  = sqrtf(-2.0f * logf(u1))
 *     element 4g+0 / 4g+2:  r * cos(π·x2)
 *     element 4g+1 / 4g+3:  r * sin(π·x2)
 * </pre>
 * Note on "exact": {@code (a >>> 8)} is exact in float32 (below 2^24), but adding 0.5 needs 25 bits when
 * {@code a >>> 8 >= 2^23}; float32 rounds that sum to even, so u lies in [2^-25, 1] rather than strictly
 * inside (0, 1). u1 = 1 gives r = 0 (a zero normal, probability 2^-24); u1 is never 0, so the log is
 * always finite. This is the formula of ALGORITHMS.md §1 evaluated literally in float32, with the angle 2πu2
 * taken as π·(2·u2): the kernels evaluate it with sincospif, whose argument reduction is exact, so CPU and GPU
 * agree in relative terms even next to the zeros of sin and cos (a float32 angle 6.2831855f·u2 would not).
 * The CPU computes log, sqrt, cos(π·x2) and sin(π·x2) in double and rounds once to float32 (correctly rounded or
 * within 1 ulp); the kernels' logf, sincospif and hardware square root differ by a few ulp: under the 1e-6
 * relative tolerance ALGORITHMS.md allows (ZoNoiseGpuTest measures the worst case over 10^7 values).
 *
 * <p>Rademacher (±1): element 4g+j uses word j of the same Philox call: +1 when its top bit is 0, else -1.
 *
 * <p>Streams: {@link #STREAM_N0} = 0 (zero-centred noise), {@link #STREAM_N1} = 1 (ZO-AdaMU's second noise),
 * {@link #STREAM_ROUNDING} = 2 (stochastic-rounding words), 3 + k = SPSA sample (or population member) k ≥ 1.
 */
public final class Noise {
    public static final int STREAM_N0 = 0;
    public static final int STREAM_N1 = 1;
    public static final int STREAM_ROUNDING = 2;

    /** The kind of zero-mean unit-variance noise. */
    public enum Distribution {
        GAUSSIAN, RADEMACHER;

        public static Distribution parse(String s) {
            switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "gaussian": case "normal": return GAUSSIAN;
                case "rademacher": return RADEMACHER;
                default: throw new org.zotune.ZotuneException("unknown noise distribution '" + s
                        + "' (expected gaussian or rademacher)");
            }
        }
    }

    private Noise() {
    }

    /** The stream of SPSA sample k: sample 0 uses stream 0, sample k ≥ 1 uses stream 3 + k (ALGORITHMS.md §2). */
    public static int sampleStream(int k) {
        if (k < 0) {
            throw new IllegalArgumentException("sample index must be >= 0, got " + k);
        }
        return k == 0 ? STREAM_N0 : 3 + k;
    }

    /**
     * The 64-bit seed s_t of step t (t ≥ 1) drawn from a run's master seed: words (x, y) of
     * Philox4x32_10(counter = (lo32(t), hi32(t), 0, 1), key = (lo32(master), hi32(master))), {@code s_t = x | (y << 32)}.
     * The counter's last word is 1, which no noise counter uses.
     */
    public static long stepSeed(long masterSeed, long t) {
        int[] w = Philox4x32.generate((int) t, (int) (t >>> 32), 0, 1, (int) masterSeed, (int) (masterSeed >>> 32));
        return (w[0] & 0xffffffffL) | ((long) w[1] << 32);
    }

    /** The four Philox words of block g = i >> 2 for (seed, stream). */
    public static void block(long seed, int stream, long g, int[] out) {
        Philox4x32.generate((int) g, (int) (g >>> 32), stream, 0, (int) seed, (int) (seed >>> 32), out);
    }

    /** Word (i mod 4) of element i's Philox block: the raw bits element i owns in this stream. */
    public static int word(long seed, int stream, long i) {
        checkIndex(i);
        int[] w = new int[4];
        block(seed, stream, i >>> 2, w);
        return w[(int) (i & 3)];
    }

    /** u = ((a >>> 8) + 0.5) * 2^-24 in float32 (see the class comment for its range). */
    public static float uniform(int a) {
        return ((float) (a >>> 8) + 0.5f) * 0x1p-24f;
    }

    /** Box–Muller of one word pair: returns the cosine branch (j = 0) or the sine branch (j = 1). */
    static float boxMuller(int a, int b, int j) {
        float u1 = uniform(a);
        float x2 = 2.0f * uniform(b); // exact
        float l = (float) Math.log(u1);
        float r = (float) Math.sqrt(-2.0f * l);
        return r * sinCosPi(x2, j);
    }

    /**
     * cos(π·x) (j = 0) or sin(π·x) (j = 1) in double, rounded to float32: x = q/2 + r with q = rint(2x) and r exact,
     * so the zeros of sin and cos (x = 1, 2, which the rounding of u2 can produce) come out exactly 0.
     */
    static float sinCosPi(float x, int j) {
        double q = Math.rint(2.0 * x);
        double r = x - 0.5 * q; // exact, |r| <= 1/4
        int quadrant = (int) q;
        double s = Math.sin(Math.PI * r);
        double c = Math.cos(Math.PI * r);
        double sin = (quadrant & 1) != 0 ? c : s;
        double cos = (quadrant & 1) != 0 ? s : c;
        if ((quadrant & 2) != 0) {
            sin = -sin;
        }
        if (((quadrant + 1) & 2) != 0) {
            cos = -cos;
        }
        return (float) (j == 0 ? cos : sin);
    }

    /** Element value from its block's four words: the per-element function a kernel implements. */
    public static float fromBlock(int[] w, int lane, Distribution dist) {
        if (dist == Distribution.RADEMACHER) {
            return w[lane] >= 0 ? 1.0f : -1.0f; // top bit 0 -> +1
        }
        int pair = lane & 2; // lanes 0,1 -> words (x, y); lanes 2,3 -> (z, w)
        return boxMuller(w[pair], w[pair + 1], lane & 1);
    }

    /** The standard normal of element i in (seed, stream). */
    public static float gaussian(long seed, int stream, long i) {
        return value(seed, stream, i, Distribution.GAUSSIAN);
    }

    /** The value of element i in (seed, stream) for a distribution. */
    public static float value(long seed, int stream, long i, Distribution dist) {
        checkIndex(i);
        int[] w = new int[4];
        block(seed, stream, i >>> 2, w);
        return fromBlock(w, (int) (i & 3), dist);
    }

    /**
     * Fills {@code out[off .. off+n)} with the values of global elements {@code start .. start+n)}: the
     * same numbers as {@link #value} per element, with one Philox call per block of four.
     */
    public static void fill(long seed, int stream, long start, float[] out, int off, int n, Distribution dist) {
        checkIndex(start);
        int[] w = new int[4];
        long cached = -1;
        for (int k = 0; k < n; k++) {
            long i = start + k;
            long g = i >>> 2;
            if (g != cached) {
                block(seed, stream, g, w);
                cached = g;
            }
            out[off + k] = fromBlock(w, (int) (i & 3), dist);
        }
    }

    /** Fills {@code out[off .. off+n)} with the raw words of elements {@code start .. start+n)}. */
    public static void fillWords(long seed, int stream, long start, int[] out, int off, int n) {
        checkIndex(start);
        int[] w = new int[4];
        long cached = -1;
        for (int k = 0; k < n; k++) {
            long i = start + k;
            long g = i >>> 2;
            if (g != cached) {
                block(seed, stream, g, w);
                cached = g;
            }
            out[off + k] = w[(int) (i & 3)];
        }
    }

    private static void checkIndex(long i) {
        if (i < 0) {
            throw new IllegalArgumentException("global element index must be >= 0, got " + i);
        }
    }
}
