package org.zotune.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * IEEE half (binary16) conversions, as torch's {@code .half()}: round to nearest even, subnormals kept,
 * overflow to infinity, NaN stays NaN. Expected bit patterns are written out by hand (IEEE 754 binary16:
 * 1 sign, 5 exponent bits with bias 15, 10 mantissa bits), and random floats are checked against an
 * independent nearest-value search over every finite half.
 */
class DTypeF16Test {

    private static int bits(float f) {
        return DType.floatToF16(f) & 0xffff;
    }

    /** The value of a half bit pattern computed from the IEEE formula in double (not by DType). */
    private static double halfValue(int h) {
        int sign = (h >>> 15) != 0 ? -1 : 1;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return mant == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
        }
        return exp == 0 ? sign * mant * 0x1p-24 : sign * (1024 + mant) * Math.scalb(1.0, exp - 25);
    }

    @Test
    void exactValuesKeepTheirBits() {
        assertEquals(0x3c00, bits(1f));
        assertEquals(0xc000, bits(-2f));
        assertEquals(0x3555, bits(0.333251953125f)); // 1365/4096, the half nearest 1/3
        assertEquals(0x7bff, bits(65504f)); // largest finite
        assertEquals(0x0400, bits(0x1p-14f)); // smallest normal
        assertEquals(0x03ff, bits(1023 * 0x1p-24f)); // largest subnormal
        assertEquals(0x0001, bits(0x1p-24f)); // smallest subnormal
        assertEquals(0x0000, bits(0f));
        assertEquals(0x8000, bits(-0f));
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(DType.f16ToFloat((short) 0x8000)));
        assertEquals(65504f, DType.f16ToFloat((short) 0x7bff));
        assertEquals(0x1p-24f, DType.f16ToFloat((short) 0x0001));
        assertEquals(1023 * 0x1p-24f, DType.f16ToFloat((short) 0x03ff));
        assertEquals(-1.5f, DType.f16ToFloat((short) 0xbe00));
    }

    @Test
    void tiesRoundToEven() {
        assertEquals(0x3c00, bits(1 + 0x1p-11f)); // halfway between 1 and 1 + 2^-10: the even one, 1
        assertEquals(0x3c02, bits(1 + 3 * 0x1p-11f)); // halfway between mantissas 1 and 2: 2
        assertEquals(0x3c01, bits(1 + 0x1p-11f + 0x1p-20f)); // just past halfway: up
        assertEquals(0x3c00, bits(1 + 0x1p-11f - 0x1p-20f)); // just short of it: down
        assertEquals(0x0000, bits(0x1p-25f)); // half the smallest subnormal: to zero (even)
        assertEquals(0x8000, bits(-0x1p-25f));
        assertEquals(0x0001, bits(0x1p-25f + 0x1p-40f)); // just past: the smallest subnormal
        assertEquals(0x0002, bits(3 * 0x1p-25f)); // between subnormals 1 and 2: 2
        assertEquals(0x0400, bits(1023.5f * 0x1p-24f)); // largest subnormal + half: rounds up into the normals
        assertEquals(0x0000, bits(0x1p-30f)); // underflow to zero
    }

    @Test
    void overflowGoesToInfinityAndNanStaysNan() {
        assertEquals(0x7bff, bits(65519.99f)); // below the midpoint to 65536: the largest finite
        assertEquals(0x7c00, bits(65520f)); // the midpoint: ties to the even "65536", which is infinity
        assertEquals(0x7c00, bits(1e6f));
        assertEquals(0xfc00, bits(-1e6f));
        assertEquals(0x7c00, bits(Float.POSITIVE_INFINITY));
        assertEquals(0xfc00, bits(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, DType.f16ToFloat((short) 0x7c00));
        assertEquals(Float.NEGATIVE_INFINITY, DType.f16ToFloat((short) 0xfc00));
        int n = bits(Float.NaN);
        assertEquals(0x7c00, n & 0x7c00, "NaN exponent");
        assertTrue((n & 0x3ff) != 0, "NaN mantissa");
        assertTrue(Float.isNaN(DType.f16ToFloat((short) 0x7e00)));
        assertTrue(Float.isNaN(DType.f16ToFloat((short) 0x7c01)));
        assertTrue(Float.isNaN(DType.F16.round(Float.intBitsToFloat(0x7f800001)))); // a signalling float NaN
    }

    @Test
    void everyHalfConvertsExactlyAndBack() {
        for (int h = 0; h < 0x10000; h++) {
            double v = halfValue(h);
            float f = DType.f16ToFloat((short) h);
            if (Double.isNaN(v)) {
                assertTrue(Float.isNaN(f), Integer.toHexString(h));
                continue;
            }
            assertEquals(v, f, 0.0, Integer.toHexString(h));
            assertEquals(h, bits(f), Integer.toHexString(h));
        }
    }

    @Test
    void randomFloatsRoundToTheNearestHalf() {
        // every non-negative finite half in increasing order (bit order is value order for them)
        double[] values = new double[0x7c00];
        for (int h = 0; h < values.length; h++) {
            values[h] = halfValue(h);
        }
        Random r = new Random(7);
        for (int i = 0; i < 200_000; i++) {
            // magnitudes 2^-27 .. 2^17: below the subnormals, through them, the normals and past the overflow
            float x = (float) Math.scalb(1 + r.nextDouble(), r.nextInt(45) - 27);
            if (i % 3 == 0) {
                // a midpoint between two neighbours, the case where the rounding rule decides
                int h = r.nextInt(0x7bff);
                x = (float) ((values[h] + values[h + 1]) / 2);
            }
            assertEquals(expectedBits(values, x), bits(x), "x = " + x);
            assertEquals(expectedBits(values, x) | 0x8000, bits(-x), "x = " + -x);
        }
    }

    /** Nearest finite half to x >= 0 by search, ties to the even pattern; past 65504 + half an ulp: infinity. */
    private static int expectedBits(double[] values, double x) {
        if (x >= 65520) {
            return 0x7c00;
        }
        int i = Arrays.binarySearch(values, x);
        if (i >= 0) {
            return i;
        }
        int hi = -i - 1;
        if (hi >= values.length) {
            return values.length - 1; // between 65504 and the midpoint 65520
        }
        int lo = hi - 1;
        double dl = x - values[lo];
        double dh = values[hi] - x;
        if (dl < dh) {
            return lo;
        }
        if (dh < dl) {
            return hi;
        }
        return (lo & 1) == 0 ? lo : hi;
    }
}
