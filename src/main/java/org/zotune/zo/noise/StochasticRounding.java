package org.zotune.zo.noise;

import org.zotune.tensor.DType;

/**
 * Stochastic rounding of float32 to bf16 / f16 (ALGORITHMS.md §3): x rounds away from zero to the next
 * representable value with probability equal to its fractional distance from the value toward zero,
 * otherwise toward zero, so E[round(x)] = x. The random bits come from the dedicated stream 2
 * ({@link Noise#STREAM_ROUNDING}) under the step seed, 16 bits per element so that one Philox call serves 8
 * elements ({@link #bits}): h = halfword (i mod 8) of the block b = i >> 3, i.e. word (i mod 8) >> 1 of
 * Philox(counter (lo32(b), hi32(b), 2, 0), key seed), its low half for even i and its high half for odd i.
 * Each element's rounding is deterministic per (seed, i). The rounding functions below take r = h << 16.
 *
 * <h2>Per element, on the float32 bit pattern (what a kernel does)</h2>
 * Let s = sign bit, a = |x| bits, r = the element's random word (h << 16 for the stream-2 bits).
 * <ul>
 *   <li>NaN / ±inf: returned as round-to-nearest-even ({@link DType#round}).
 *   <li>bf16: lo = a &amp; 0xffff0000, d = a &amp; 0xffff (the 16 dropped bits);
 *       round up iff (r >>> 16) &lt; d; result bits = s | (lo + (up ? 0x10000 : 0)).
 *       Probability d / 2^16 exactly. Above the largest bf16 it may round up to infinity, as the carry
 *       into the exponent does.</li>
 *   <li>f16, |x| &gt;= 65504 (largest finite f16): round-to-nearest-even (saturates to inf as the cast does).
 *   <li>f16 normal range (|x| &gt;= 2^-14): the f32 mantissa keeps its top 10 bits: lo = a &amp; ~0x1fff,
 *       d = a &amp; 0x1fff (13 dropped bits); round up iff (r >>> 19) &lt; d; result = s | (lo + (up ? 0x2000 : 0)),
 *       a float32 that is exactly an f16 value. Probability d / 2^13 exactly.</li>
 *   <li>f16 subnormal range (|x| &lt; 2^-14; the spacing is 2^-24): m = |x| * 2^24 (exact), k = floor(m),
 *       f = m - k (exact); round up iff (float)(r >>> 8) &lt; f * 2^24; result = ±(k + up) * 2^-24.
 *       Probability ceil(f * 2^24) / 2^24 for a full 32-bit r; with r = h << 16 it is ceil(f * 2^16) / 2^16
 *       (a bias below 2^-16 of the spacing 2^-24).</li>
 * </ul>
 * A value already representable has d = 0 (or f = 0) and is returned unchanged.
 */
public final class StochasticRounding {
    private StochasticRounding() {
    }

    /** Rounds x to dtype with random word r; F32 returns x. The result is a float holding the rounded value. */
    public static float round(float x, int r, DType dtype) {
        switch (dtype) {
            case BF16: return toBf16(x, r);
            case F16: return toF16(x, r);
            default: return x;
        }
    }

    /** Rounds x to a bf16 value (returned as float32) with random word r. */
    public static float toBf16(float x, int r) {
        int bits = Float.floatToRawIntBits(x);
        int a = bits & 0x7fffffff;
        if (a >= 0x7f800000) {
            return DType.BF16.round(x);
        }
        int s = bits & 0x80000000;
        int lo = a & 0xffff0000;
        int d = a & 0xffff;
        boolean up = (r >>> 16) < d;
        return Float.intBitsToFloat(s | (lo + (up ? 0x10000 : 0)));
    }

    /** Rounds x to an f16 value (returned as float32) with random word r. */
    public static float toF16(float x, int r) {
        int bits = Float.floatToRawIntBits(x);
        int a = bits & 0x7fffffff;
        if (a >= 0x477fe000) { // |x| >= 65504, inf, NaN
            return DType.F16.round(x);
        }
        int s = bits & 0x80000000;
        if (a >= 0x38800000) { // >= 2^-14: normal f16
            int lo = a & ~0x1fff;
            int d = a & 0x1fff;
            boolean up = (r >>> 19) < d;
            return Float.intBitsToFloat(s | (lo + (up ? 0x2000 : 0)));
        }
        float m = Float.intBitsToFloat(a) * 0x1p24f;
        float k = (float) Math.floor(m);
        float f = m - k;
        boolean up = (float) (r >>> 8) < f * 0x1p24f;
        float v = (k + (up ? 1.0f : 0.0f)) * 0x1p-24f;
        return s != 0 ? -v : v;
    }

    /** Rounds element i's value x with its stream-2 bits under the step seed. */
    public static float round(float x, long seed, long i, DType dtype) {
        if (dtype == DType.F32) {
            return x;
        }
        return round(x, bits(seed, i), dtype);
    }

    /** Element i's 16 rounding bits under the step seed, in the top half of the returned word (h << 16). */
    public static int bits(long seed, long i) {
        if (i < 0) {
            throw new IllegalArgumentException("global element index must be >= 0, got " + i);
        }
        int[] w = new int[4];
        Noise.block(seed, Noise.STREAM_ROUNDING, i >>> 3, w);
        return select(w, (int) (i & 7));
    }

    /** {@link #bits} of elements {@code start .. start+n)} into {@code out[off ..]}, one Philox call per 8. */
    public static void fillBits(long seed, long start, int[] out, int off, int n) {
        if (start < 0) {
            throw new IllegalArgumentException("global element index must be >= 0, got " + start);
        }
        int[] w = new int[4];
        long cached = -1;
        for (int k = 0; k < n; k++) {
            long i = start + k;
            long b = i >>> 3;
            if (b != cached) {
                Noise.block(seed, Noise.STREAM_ROUNDING, b, w);
                cached = b;
            }
            out[off + k] = select(w, (int) (i & 7));
        }
    }

    /** Halfword k (0..7, low half first) of a block, as h << 16. */
    private static int select(int[] w, int k) {
        int word = w[k >> 1];
        return (k & 1) == 0 ? word << 16 : word & 0xffff0000;
    }
}
