package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The plain-Java reference of the TF32 split ({@link Tf32SplitKernels#hi}), which Tf32ProductsTest holds the kernel to
 * bitwise: round to nearest with ties away from zero at TF32's 10 mantissa bits, and hi + lo = x exactly.
 */
class Tf32SplitReferenceTest {
    @Test
    void roundsToNearestTiesAwayFromZero() {
        float one = 1f;
        float ulp = Math.ulp(one); // 2^-23; TF32's last place at 1 is 2^-10 = 2^13 ulps
        assertEquals(1f, Tf32SplitKernels.hi(one + 4095 * ulp), "below half a place: down");
        assertEquals(1f + 0x1p-10f, Tf32SplitKernels.hi(one + 4096 * ulp), "a tie: away from zero");
        assertEquals(-1f - 0x1p-10f, Tf32SplitKernels.hi(-one - 4096 * ulp), "a negative tie: away from zero");
        assertEquals(1f + 0x1p-10f, Tf32SplitKernels.hi(one + 4097 * ulp), "above half a place: up");
        assertEquals(0f, Tf32SplitKernels.hi(Float.MIN_VALUE), "the least subnormal: to zero");
    }

    @Test
    void hiKeepsTenMantissaBitsAndLoIsTheExactRest() {
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(61) - 30));
            float hi = Tf32SplitKernels.hi(x);
            float lo = x - hi;
            assertEquals(0, Float.floatToRawIntBits(hi) & 0x1fff, x + ": hi has 10 mantissa bits");
            assertEquals((double) x, (double) hi + lo, 0.0, x + ": hi + lo = x exactly");
            assertTrue(Math.abs(lo) <= Math.ulp(hi) * 4096, x + ": |lo| at most half of TF32's place");
        }
    }
}
