package org.zotune.zo.noise;

import org.zotune.tensor.DType;

/**
 * Stochastic rounding of float32 to bf16 / f16 (ALGORITHMS.md §3): x rounds away from zero to the next
 * representable value with probability equal to its fractional distance from the value toward zero,
 * otherwise toward zero, so E[round(x)] = x. The random bits are element i's word of stream 2
 * ({@link Noise#STREAM_ROUNDING}) under the step seed: word j of Philox(counter (i>>2, 2, 0), key seed) for
 * j = i mod 4, so each element's rounding is deterministic per (seed, i).
 *
 * <h2>Per element, on the float32 bit pattern (what a kernel does)</h2>
 * Let s = sign bit, a = |x| bits, r = the element's 32-bit stream-2 word.
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
 *       Probability ceil(f * 2^24) / 2^24 (exact whenever f has at most 24 fraction bits).</li>
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

    /** Rounds element i's value x with its stream-2 word under the step seed. */
    public static float round(float x, long seed, long i, DType dtype) {
        if (dtype == DType.F32) {
            return x;
        }
        return round(x, Noise.word(seed, Noise.STREAM_ROUNDING, i), dtype);
    }
}
