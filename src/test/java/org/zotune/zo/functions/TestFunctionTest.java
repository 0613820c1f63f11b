package org.zotune.zo.functions;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Values and gradients worked out by hand at known points. */
class TestFunctionTest {

    @Test
    void minimaAreZero() {
        for (TestFunction f : TestFunction.values()) {
            assertEquals(0.0, f.value(f.minX(), f.minY()), 0.0, f.id());
            assertArrayEquals(new double[] {0, 0}, f.gradient(f.minX(), f.minY()), 0.0, f.id());
            // a neighbourhood is higher
            assertTrue(f.value(f.minX() + 1e-3, f.minY()) > 0 && f.value(f.minX(), f.minY() - 1e-3) > 0, f.id());
        }
        assertEquals(3.0, TestFunction.BEALE.minX());
        assertEquals(0.5, TestFunction.BEALE.minY());
        assertEquals(1.0, TestFunction.ROSENBROCK.minX());
        assertEquals(1.0, TestFunction.ROSENBROCK.minY());
    }

    @Test
    void valuesAtKnownPoints() {
        assertEquals(3.0, TestFunction.A.value(1, -2), 0);
        assertEquals(Math.abs(1 - 2) + Math.abs(1 + 2) / 10.0, TestFunction.B.value(1, -2), 1e-15); // 1.3
        assertEquals(1.3, TestFunction.B.value(1, -2), 1e-12);
        assertEquals(1 + 0.9, TestFunction.C.value(1, -2), 1e-12); // (-1)^2 + 3^2/10
        assertEquals(0.1 + 2, TestFunction.D.value(1, -2), 1e-12);
        // Beale at (1, 1): 1.5^2 + 2.25^2 + 2.625^2 = 14.203125
        assertEquals(14.203125, TestFunction.BEALE.value(1, 1), 1e-12);
        // Beale at (0, 0): 1.5^2 + 2.25^2 + 2.625^2 as well (x = 0 kills every other term)
        assertEquals(14.203125, TestFunction.BEALE.value(0, 0), 1e-12);
        // Rosenbrock (paper's form) at (1, -1.2): 100 (1 - 1.44)^2 + 2.2^2 = 19.36 + 4.84
        assertEquals(24.2, TestFunction.ROSENBROCK.value(1, -1.2), 1e-12);
        // the paper's Rosenbrock is the usual one with x and y swapped: zero on x = y^2 only at y = 1
        assertEquals(100 * 4 + 0, TestFunction.ROSENBROCK.value(3, 1), 1e-12);
    }

    @Test
    void gradientsAtKnownPoints() {
        assertArrayEquals(new double[] {1, -1}, TestFunction.A.gradient(1, -2), 0);
        assertArrayEquals(new double[] {-1 + 0.1, -1 - 0.1}, TestFunction.B.gradient(1, -2), 1e-15);
        // f_c at (1, -2): d/dx = 2(x+y) + (x-y)/5 = -2 + 0.6, d/dy = 2(x+y) - (x-y)/5 = -2 - 0.6
        assertArrayEquals(new double[] {-1.4, -2.6}, TestFunction.C.gradient(1, -2), 1e-12);
        assertArrayEquals(new double[] {0.1, -1}, TestFunction.D.gradient(1, -2), 1e-15);
        // Beale at (1, 1): a = 1.5, b = 2.25, c = 2.625; d/dx = 0 (y - 1 = 0 everywhere),
        // d/dy = 2·1.5·1 + 2·2.25·2 + 2·2.625·3 = 3 + 9 + 15.75
        assertArrayEquals(new double[] {0, 27.75}, TestFunction.BEALE.gradient(1, 1), 1e-12);
        // Rosenbrock at (1, -1.2): a = -0.44; d/dx = 200a = -88; d/dy = -400·a·y - 2(1 - y) = -211.2 - 4.4
        assertArrayEquals(new double[] {-88, -215.6}, TestFunction.ROSENBROCK.gradient(1, -1.2), 1e-9);
    }

    @Test
    void gradientsMatchFiniteDifferencesAwayFromKinks() {
        double h = 1e-6;
        double[][] pts = {{0.7, -1.3}, {-2.1, 0.4}, {1.9, 2.3}};
        for (TestFunction f : TestFunction.values()) {
            for (double[] p : pts) {
                double[] g = f.gradient(p[0], p[1]);
                double gx = (f.value(p[0] + h, p[1]) - f.value(p[0] - h, p[1])) / (2 * h);
                double gy = (f.value(p[0], p[1] + h) - f.value(p[0], p[1] - h)) / (2 * h);
                assertEquals(gx, g[0], 1e-4 * (1 + Math.abs(gx)), f.id() + " d/dx");
                assertEquals(gy, g[1], 1e-4 * (1 + Math.abs(gy)), f.id() + " d/dy");
            }
        }
    }
}
