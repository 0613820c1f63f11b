package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.zotune.cuda.Cuda;
import org.zotune.tensor.DType;

/** Shared helpers for GPU tests: skip without a device, random data, tolerance checks. */
final class GpuTestSupport {
    private GpuTestSupport() {
    }

    static void assumeGpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    static float[] gaussian(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }

    static double atol(DType t) {
        return t == DType.F32 ? 1e-5 : 1e-2;
    }

    static double rtol(DType t) {
        return t == DType.F32 ? 1e-5 : 1e-2;
    }

    /** |actual - expected| <= atol + rtol·|expected| elementwise; NaN never passes. */
    static void assertClose(float[] expected, float[] actual, DType t, String what) {
        assertClose(expected, actual, atol(t), rtol(t), what);
    }

    static void assertClose(float[] expected, float[] actual, double atol, double rtol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double a = actual[i];
            double excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
            if (Double.isNaN(a) || Double.isNaN(e) || excess > 0) {
                fail(what + ": element " + i + " is " + a + ", expected " + e + " (atol " + atol + ", rtol " + rtol
                        + ")");
            }
            double err = Math.abs(a - e);
            if (err > worst) {
                worst = err;
                worstAt = i;
            }
        }
        System.out.printf("%-40s n=%-7d max |err| %.3e%s%n", what, expected.length, worst,
                worstAt < 0 ? "" : " at " + worstAt + " (ref " + expected[worstAt] + ")");
    }
}
