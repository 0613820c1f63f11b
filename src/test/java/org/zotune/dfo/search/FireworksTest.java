package org.zotune.dfo.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.zotune.ZotuneException;

/** The Fireworks optimiser against its definition (ALGORITHMS.md §7); benchmarks in {@link FireworksBenchmarkTest}. */
class FireworksTest {
    private static final double INF = Double.POSITIVE_INFINITY;

    private static double[] fill(int n, double v) {
        double[] a = new double[n];
        Arrays.fill(a, v);
        return a;
    }

    @Test
    void initialAmplitudeGivesEachCoordinateTheStandardDeviationSigma0() {
        Fireworks f = Fireworks.create(3, 20, 0.5, 1);
        assertEquals(0.5 * Math.sqrt(3), f.initialAmplitude(), 1e-15);
        assertEquals(f.initialAmplitude(), f.amplitude());
        // measured: the explosion sparks of one generation in a large dimension have per-coordinate sd sigma0
        Fireworks big = Fireworks.create(5000, 20, 0.5, 7);
        big.tell(fill(20, 1)); // move past generation 0 (whose first candidate is the start), no improvement
        double a = big.amplitude();
        double[][] c = big.ask();
        double sum = 0;
        double sq = 0;
        int n = 0;
        for (int k = 0; k < 20 - big.mutationSparks(); k++) {
            for (double x : c[k]) {
                assertTrue(x >= -a && x < a, "explosion coordinate " + x + " outside [-A, A)");
                sum += x;
                sq += x * x;
                n++;
            }
        }
        double mean = sum / n;
        double sd = Math.sqrt(sq / n - mean * mean);
        assertEquals(0, mean, 0.01);
        assertEquals(a / Math.sqrt(3), sd, 0.01 * a);
    }

    @Test
    void mutationSparksAreGaussianWithTheBoxsSpreadTimesTheScale() {
        Fireworks.Settings s = new Fireworks.Settings(0.5, 1.2, 0.9, Math.sqrt(3), 2.0, 1e-8, -INF, INF);
        Fireworks f = Fireworks.create(4000, 10, 1.0, 3, s, fill(4000, 3.0));
        assertEquals(5, f.mutationSparks());
        f.tell(fill(10, 1)); // generation 0: no spark improves on the start (value 1): A = 0.9·√3
        double sdWant = 2.0 * f.amplitude() / Math.sqrt(3);
        double[][] c = f.ask();
        double sum = 0;
        double sq = 0;
        double quart = 0;
        int n = 0;
        for (int k = 5; k < 10; k++) {
            for (double x : c[k]) {
                double y = (x - 3.0) / sdWant;
                sum += y;
                sq += y * y;
                quart += y * y * y * y;
                n++;
            }
        }
        assertEquals(0, sum / n, 0.02);
        assertEquals(1, sq / n, 0.03);
        assertEquals(3, quart / n, 0.2); // a normal's fourth moment (a uniform's would be 1.8)
    }

    @Test
    void mutationSparkCountFollowsTheFraction() {
        assertEquals(4, Fireworks.mutationSparks(20, 0.2));
        assertEquals(1, Fireworks.mutationSparks(2, 0.2)); // at least one, at most λ - 1
        assertEquals(1, Fireworks.mutationSparks(3, 0.2));
        assertEquals(0, Fireworks.mutationSparks(20, 0));
        assertEquals(9, Fireworks.mutationSparks(10, 0.99));
        assertEquals(4, Fireworks.create(7, 20, 1, 1).mutationSparks());
    }

    @Test
    void generationZeroEvaluatesTheStartPointFirst() {
        double[] start = {0.25, -1.5, 3};
        Fireworks f = Fireworks.create(3, 5, 1, 9, Fireworks.Settings.DEFAULTS, start);
        assertArrayEquals(start, f.best());
        assertEquals(INF, f.bestValue());
        double[][] c = f.ask();
        assertArrayEquals(start, c[0]);
        assertFalse(Arrays.equals(start, c[1]));
        // the start alone has a value: it becomes the core's value, and no spark beats it
        f.tell(new double[] {2, 3, 4, 5, Double.NaN});
        assertEquals(2, f.bestValue());
        assertArrayEquals(start, f.best());
        assertEquals(f.initialAmplitude() * 0.9, f.amplitude());
        assertFalse(Arrays.equals(start, f.ask()[0]), "generation 1 spends no candidate on the start");
    }

    @Test
    void amplitudeIsMultipliedByExactlyOnePointTwoOnImprovementAndZeroPointNineOtherwise() {
        Fireworks f = Fireworks.create(4, 6, 2.0, 42);
        double a = f.amplitude();
        // generation 0: start 10, spark 3 improves -> core moves to candidate 3, A x 1.2
        double[][] c = f.ask();
        f.tell(new double[] {10, 12, 11, 7, 9, 7});
        a *= 1.2;
        assertEquals(a, f.amplitude());
        assertEquals(7, f.bestValue());
        assertArrayEquals(c[3], f.best(), "first of the tied best sparks");
        // generation 1: nothing below 7 -> A x 0.9, core stays
        double[] core = f.best();
        f.tell(new double[] {8, 9, 10, 11, 12, 13});
        a *= 0.9;
        assertEquals(a, f.amplitude());
        assertArrayEquals(core, f.best());
        // generation 2: a tie with the core is no improvement
        f.tell(new double[] {7, 7, 8, 9, 10, 11});
        a *= 0.9;
        assertEquals(a, f.amplitude());
        assertArrayEquals(core, f.best());
        // generation 3: NaN counts as +inf; the mutation spark (last) improves -> A x 1.2
        c = f.ask();
        f.tell(new double[] {Double.NaN, 8, Double.NaN, 9, 7.5, 6.5});
        a *= 1.2;
        assertEquals(a, f.amplitude());
        assertEquals(6.5, f.bestValue());
        assertArrayEquals(c[5], f.best());
        // generation 4: all NaN -> no improvement
        f.tell(fill(6, Double.NaN));
        a *= 0.9;
        assertEquals(a, f.amplitude());
        assertEquals(6.5, f.bestValue());
        assertEquals(5, f.generation());
    }

    @Test
    void amplitudeNeverFallsBelowItsFloor() {
        Fireworks.Settings s = new Fireworks.Settings(0.2, 1.2, 0.5, Math.sqrt(3), 1, 1e-3, -INF, INF);
        Fireworks f = Fireworks.create(2, 4, 1, 5, s, new double[2]);
        f.tell(new double[] {0, 1, 1, 1});
        for (int g = 0; g < 30; g++) {
            f.tell(fill(4, 1));
        }
        assertEquals(f.initialAmplitude() * 1e-3, f.amplitude());
        assertEquals(f.minAmplitude(), f.amplitude());
        f.tell(new double[] {-1, 1, 1, 1}); // growth resumes from the floor
        assertEquals(f.minAmplitude() * 1.2, f.amplitude());
    }

    @Test
    void elitismTheBestNeverWorsensAndIsTheBestCandidateSeen() {
        Fireworks f = Fireworks.create(10, 12, 1, 77);
        double bestSeen = INF;
        double[] bestPoint = f.best();
        double previous = INF;
        for (int g = 0; g < 200; g++) {
            double[][] c = f.ask();
            double[] v = new double[c.length];
            for (int k = 0; k < c.length; k++) {
                v[k] = FireworksBenchmarkTest.Fn.RASTRIGIN.value(c[k]);
                if (v[k] < bestSeen) {
                    bestSeen = v[k];
                    bestPoint = c[k].clone();
                }
            }
            f.tell(v);
            assertTrue(f.bestValue() <= previous, "generation " + g + ": best value rose");
            previous = f.bestValue();
            assertEquals(bestSeen, f.bestValue(), "generation " + g);
            assertArrayEquals(bestPoint, f.best(), "generation " + g);
            assertEquals(f.bestValue(), FireworksBenchmarkTest.Fn.RASTRIGIN.value(f.best()));
        }
        assertTrue(previous < FireworksBenchmarkTest.Fn.RASTRIGIN.value(new double[10]));
    }

    @Test
    void everyCandidateLiesInsideTheBoundsWhenBoundsAreSet() {
        // sigma0 = 4 on a box of width 2.5: the explosion and the heavy mutation sparks leave it constantly
        Fireworks.Settings s = Fireworks.Settings.DEFAULTS.withBounds(-0.5, 2.0);
        Fireworks f = Fireworks.create(8, 20, 4, 3, s, fill(8, 1.9));
        assertEquals(2.5, f.initialAmplitude(), "A is capped at the box width");
        int mapped = 0;
        for (int g = 0; g < 300; g++) {
            double[][] c = f.ask();
            double[] v = new double[c.length];
            for (int k = 0; k < c.length; k++) {
                for (double x : c[k]) {
                    assertTrue(x >= -0.5 && x <= 2.0, "generation " + g + ": " + x + " outside [-0.5, 2]");
                    if (x == -0.5 || x == 2.0) {
                        mapped++;
                    }
                }
                v[k] = FireworksBenchmarkTest.Fn.SPHERE.value(c[k]);
            }
            f.tell(v);
            assertTrue(f.amplitude() <= 2.5);
        }
        assertTrue(mapped < 10, "mirroring does not pile candidates on the bounds: " + mapped);
        assertTrue(f.bestValue() < 1e-8, "the optimum (1, ..., 1) lies inside: " + f.bestValue());
        // one-sided bounds
        Fireworks lower = Fireworks.create(5, 10, 3, 4, Fireworks.Settings.DEFAULTS.withBounds(0, INF), fill(5, 0));
        for (int g = 0; g < 20; g++) {
            for (double[] x : lower.ask()) {
                for (double y : x) {
                    assertTrue(y >= 0, "below 0: " + y);
                }
            }
            lower.tell(fill(10, g == 0 ? 1 : 2));
        }
    }

    @Test
    void outOfBoundsCoordinatesAreMirroredAtTheCrossedBound() {
        assertEquals(1.7, Fireworks.map(2.3, 0, 2), 1e-15);
        assertEquals(0.3, Fireworks.map(-0.3, 0, 2), 1e-15);
        assertEquals(0.5, Fireworks.map(4.5, 0, 2), 1e-15); // 4.5 -> mirrored at 2 -> -0.5 -> mirrored at 0
        assertEquals(1.5, Fireworks.map(-2.5, 0, 2), 1e-15); // -2.5 -> 2.5 -> 1.5
        assertEquals(3, Fireworks.map(-5, -1, INF), 1e-15);
        assertEquals(-3, Fireworks.map(5, -INF, 1), 1e-15);
        assertEquals(1.25, Fireworks.map(1.25, 0, 2));
        assertEquals(2, Fireworks.map(2, 0, 2));
    }

    @Test
    void theSameSeedGivesTheSameCandidates() {
        Fireworks a = Fireworks.create(30, 20, 1, 123);
        Fireworks b = Fireworks.create(30, 20, 1, 123);
        Fireworks other = Fireworks.create(30, 20, 1, 124);
        for (int g = 0; g < 20; g++) {
            double[][] ca = a.ask();
            double[][] cb = b.ask();
            double[][] co = other.ask();
            for (int k = 0; k < ca.length; k++) {
                assertArrayEquals(ca[k], cb[k], "generation " + g + " candidate " + k);
            }
            assertFalse(Arrays.equals(ca[1], co[1]), "another seed, other sparks");
            double[] v = values(ca, FireworksBenchmarkTest.Fn.ROSENBROCK);
            a.tell(v);
            b.tell(v);
            other.tell(values(co, FireworksBenchmarkTest.Fn.ROSENBROCK));
        }
        assertArrayEquals(a.best(), b.best());
        assertArrayEquals(a.ask(), a.ask(), "asking twice gives the same generation");
    }

    @Test
    void stateRoundTripsBitwise() throws IOException {
        Fireworks.Settings s = Fireworks.Settings.DEFAULTS.withBounds(-3, 3);
        Fireworks a = Fireworks.create(16, 10, 0.7, 55, s, new double[16]);
        for (int g = 0; g < 7; g++) {
            a.tell(values(a.ask(), FireworksBenchmarkTest.Fn.ELLIPSOID));
        }
        byte[] state = write(a);
        Fireworks b = Fireworks.create(16, 10, 0.7, 55, s, new double[16]);
        b.readState(new DataInputStream(new ByteArrayInputStream(state)));
        assertArrayEquals(state, write(b));
        assertEquals(a.generation(), b.generation());
        for (int g = 0; g < 15; g++) {
            double[][] ca = a.ask();
            double[][] cb = b.ask();
            for (int k = 0; k < ca.length; k++) {
                assertArrayEquals(ca[k], cb[k]);
            }
            double[] v = values(ca, FireworksBenchmarkTest.Fn.ELLIPSOID);
            a.tell(v);
            b.tell(v);
        }
        assertArrayEquals(write(a), write(b));
        assertEquals(Double.doubleToRawLongBits(a.bestValue()), Double.doubleToRawLongBits(b.bestValue()));
        // a state written before the first tell restores the start point and +inf
        Fireworks fresh = Fireworks.create(16, 10, 0.7, 55, s, fill(16, 1));
        Fireworks into = Fireworks.create(16, 10, 0.7, 55, s, new double[16]);
        into.readState(new DataInputStream(new ByteArrayInputStream(write(fresh))));
        assertArrayEquals(fill(16, 1), into.best());
        assertEquals(INF, into.bestValue());
        assertArrayEquals(fill(16, 1), into.ask()[0]);
    }

    @Test
    void aStateFromOtherSettingsOrGarbageIsOneLineError() throws IOException {
        byte[] state = write(Fireworks.create(16, 10, 0.7, 55));
        assertOneLine(() -> read(Fireworks.create(16, 12, 0.7, 55), state), "population 10");
        assertOneLine(() -> read(Fireworks.create(15, 10, 0.7, 55), state), "dimension 16");
        assertOneLine(() -> read(Fireworks.create(16, 10, 0.7, 56), state), "seed 55");
        assertOneLine(() -> read(Fireworks.create(16, 10, 0.8, 55), state), "sigma0 0.7");
        assertOneLine(() -> read(Fireworks.create(16, 10, 0.7, 55,
                Fireworks.Settings.DEFAULTS.withBounds(-1, 1), new double[16]), state), "settings");
        assertOneLine(() -> read(Fireworks.create(16, 10, 0.7, 55), new byte[] {1, 2, 3, 4, 5, 6, 7, 8}),
                "not a Fireworks state");
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        Fireworks.Settings d = Fireworks.Settings.DEFAULTS;
        assertOneLine(() -> Fireworks.create(0, 20, 1, 1), "dimension must be >= 1");
        assertOneLine(() -> Fireworks.create(5, 1, 1, 1), "population must be >= 2");
        assertOneLine(() -> Fireworks.create(5, 20, 0, 1), "sigma0");
        assertOneLine(() -> Fireworks.create(5, 20, -1, 1), "sigma0");
        assertOneLine(() -> Fireworks.create(5, 20, Double.NaN, 1), "sigma0");
        assertOneLine(() -> Fireworks.create(5, 20, INF, 1), "sigma0");
        assertOneLine(() -> Fireworks.create(5, 20, 1, 1, d, new double[4]), "start point has 4 values");
        assertOneLine(() -> Fireworks.create(5, 20, 1, 1, d, null), "start point has no values");
        assertOneLine(() -> Fireworks.create(5, 20, 1, 1, null, new double[5]), "settings");
        assertOneLine(() -> Fireworks.create(2, 20, 1, 1, d, new double[] {0, Double.NaN}), "start[1]");
        assertOneLine(() -> Fireworks.create(2, 20, 1, 1, d.withBounds(1, 2), new double[2]), "start[0] = 0.0");
        assertOneLine(() -> new Fireworks.Settings(1, 1.2, 0.9, 1, 1, 1e-8, -INF, INF), "mutationFraction");
        assertOneLine(() -> new Fireworks.Settings(-0.1, 1.2, 0.9, 1, 1, 1e-8, -INF, INF), "mutationFraction");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1, 0.9, 1, 1, 1e-8, -INF, INF), "amplitudeUp");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 1, 1, 1, 1e-8, -INF, INF), "amplitudeDown");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 0, 1, 1, 1e-8, -INF, INF), "amplitudeDown");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 0.9, 0, 1, 1e-8, -INF, INF), "amplitudePerSigma");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 0.9, 1, 0, 1e-8, -INF, INF), "mutationScale");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 0.9, 1, 1, 0, -INF, INF), "minAmplitudeRatio");
        assertOneLine(() -> new Fireworks.Settings(0.2, 1.2, 0.9, 1, 1, 1.5, -INF, INF), "minAmplitudeRatio");
        assertOneLine(() -> d.withBounds(2, 1), "lower bound 2.0 must be below upper bound 1.0");
        assertOneLine(() -> d.withBounds(1, 1), "must be below");
        assertOneLine(() -> d.withBounds(Double.NaN, 1), "lower");
        assertOneLine(() -> d.withBounds(0, Double.NaN), "upper");
        Fireworks f = Fireworks.create(3, 4, 1, 1);
        assertOneLine(() -> f.tell(new double[3]), "tell expects 4 values, got 3");
        assertOneLine(() -> f.tell(null), "tell expects 4 values");
    }

    private static void assertOneLine(Executable run, String fragment) {
        ZotuneException e = assertThrows(ZotuneException.class, run);
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith("fireworks"), e.getMessage());
    }

    private static double[] values(double[][] c, FireworksBenchmarkTest.Fn f) {
        double[] v = new double[c.length];
        for (int k = 0; k < c.length; k++) {
            v[k] = f.value(c[k]);
        }
        return v;
    }

    private static byte[] write(Fireworks f) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        f.writeState(new DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    private static void read(Fireworks f, byte[] state) throws IOException {
        f.readState(new DataInputStream(new ByteArrayInputStream(state)));
    }
}
