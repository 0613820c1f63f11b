package org.zotune.dfo.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The Fireworks optimiser's expected behaviour on the classic test functions (ALGORITHMS.md §7): 20 seeds, λ = 20,
 * σ0 = 1 from the origin, against pure random search with the same number of evaluations drawn from FWA's own
 * first-generation distribution (uniform in [−√3, √3)^D). Every optimum is away from the start (no origin bias).
 * The 10-D run is fast and always on; 10, 30 and 100 dimensions print the whole table with -Dzotune.measure=true.
 */
class FireworksBenchmarkTest {
    static final int SEEDS = 20;
    static final int POPULATION = 20;

    /** Test functions, minimum 0; the definitions, independent of the optimiser. */
    enum Fn {
        /** Σ (x_i − 1)². */
        SPHERE(1e3, 20) {
            @Override
            double value(double[] x) {
                double s = 0;
                for (double v : x) {
                    s += (v - 1) * (v - 1);
                }
                return s;
            }
        },
        /** Σ 10^(6 i/(D−1)) (x_i − 1)²: condition number 10^6. */
        ELLIPSOID(5, 20) {
            @Override
            double value(double[] x) {
                int d = x.length;
                double s = 0;
                for (int i = 0; i < d; i++) {
                    double w = d == 1 ? 1 : Math.pow(10, 6.0 * i / (d - 1));
                    s += w * (x[i] - 1) * (x[i] - 1);
                }
                return s;
            }
        },
        /** Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)², minimum at (1, ..., 1). */
        ROSENBROCK(10, 20) {
            @Override
            double value(double[] x) {
                double s = 0;
                for (int i = 0; i + 1 < x.length; i++) {
                    double a = x[i + 1] - x[i] * x[i];
                    double b = 1 - x[i];
                    s += 100 * a * a + b * b;
                }
                return s;
            }
        },
        /**
         * 10 D + Σ (y_i² − 10 cos 2π y_i), y = x − 0.5: the start (the origin) sits on a local maximum of every
         * coordinate, not next to one of the lattice of local minima at integer y.
         */
        RASTRIGIN(1.5, 15) {
            @Override
            double value(double[] x) {
                double s = 10.0 * x.length;
                for (double v : x) {
                    double y = v - 0.5;
                    s += y * y - 10 * Math.cos(2 * Math.PI * y);
                }
                return s;
            }
        };

        /** FWA's median best value is at most random search's median divided by this (the stated margin). */
        final double margin;
        /** FWA's best is below random search's best on at least this many of the 20 seeds (multimodal: not all). */
        final int seedsBeaten;

        Fn(double margin, int seedsBeaten) {
            this.margin = margin;
            this.seedsBeaten = seedsBeaten;
        }

        abstract double value(double[] x);
    }

    /** One run: the best value after {@code evaluations}, and the evaluations to first fall below the target. */
    record Run(double best, long evaluationsToTarget) {
    }

    static Run fireworks(Fn f, int dimension, long seed, int evaluations, double target) {
        Fireworks o = Fireworks.create(dimension, POPULATION, 1.0, seed);
        long hit = -1;
        for (int e = 0; e + POPULATION <= evaluations; e += POPULATION) {
            double[][] c = o.ask();
            double[] v = new double[POPULATION];
            for (int k = 0; k < POPULATION; k++) {
                v[k] = f.value(c[k]);
            }
            o.tell(v);
            if (hit < 0 && o.bestValue() < target) {
                hit = e + POPULATION;
            }
        }
        return new Run(o.bestValue(), hit);
    }

    static double randomSearch(Fn f, int dimension, long seed, int evaluations) {
        SplittableRandom r = new SplittableRandom(seed);
        double a = Math.sqrt(3);
        double best = Double.POSITIVE_INFINITY;
        double[] x = new double[dimension];
        for (int e = 0; e < evaluations; e++) {
            for (int j = 0; j < dimension; j++) {
                x[j] = a * (2 * r.nextDouble() - 1);
            }
            best = Math.min(best, f.value(x));
        }
        return best;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** Runs every function at one dimension, prints its rows and checks the margins; returns sphere's successes. */
    static int table(int dimension, int evaluations, double target) {
        int sphereSuccesses = 0;
        for (Fn f : Fn.values()) {
            double[] fwa = new double[SEEDS];
            double[] rnd = new double[SEEDS];
            double[] hits = new double[SEEDS];
            int successes = 0;
            int beaten = 0;
            for (int s = 0; s < SEEDS; s++) {
                Run run = fireworks(f, dimension, 1 + s, evaluations, target);
                fwa[s] = run.best();
                rnd[s] = randomSearch(f, dimension, 1000 + s, evaluations);
                hits[s] = run.evaluationsToTarget() < 0 ? Double.POSITIVE_INFINITY : run.evaluationsToTarget();
                successes += run.evaluationsToTarget() >= 0 ? 1 : 0;
                beaten += fwa[s] < rnd[s] ? 1 : 0;
            }
            System.out.printf(Locale.ROOT, "fireworks D=%d N=%d %-10s median best %.3e (worst %.3e)  random search"
                    + " %.3e  FWA better on %d/%d seeds  f<%.0e: %d/%d, median evaluations %s%n", dimension,
                    evaluations, f, median(fwa), Arrays.stream(fwa).max().getAsDouble(), median(rnd), beaten, SEEDS,
                    target, successes, SEEDS, successes * 2 > SEEDS ? String.format("%.0f", median(hits)) : "-");
            assertTrue(median(fwa) * f.margin <= median(rnd), f + " D=" + dimension + ": median " + median(fwa)
                    + " is not " + f.margin + "x below random search's " + median(rnd));
            assertTrue(beaten >= f.seedsBeaten, f + " D=" + dimension + ": FWA beats random search on " + beaten
                    + " seeds, fewer than " + f.seedsBeaten);
            if (f == Fn.SPHERE) {
                sphereSuccesses = successes;
            }
        }
        return sphereSuccesses;
    }

    @Test
    void beatsRandomSearchOnEveryFunctionAndSolvesTheTenDimensionalSphere() {
        int sphere = table(10, 10_000, 1e-8);
        assertEquals(SEEDS, sphere, "10-D sphere: f < 1e-8 within 10 000 evaluations on every seed");
    }

    /** A measurement (about five minutes on two shared cores): 10, 30 and 100 dimensions, 1000·D evaluations. */
    @Test
    void measuredTable() {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        for (int d : new int[] {10, 30, 100}) {
            table(d, 1000 * d, 1e-8);
        }
    }
}
