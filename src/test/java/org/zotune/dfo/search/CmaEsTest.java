package org.zotune.dfo.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;

import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.zo.noise.Philox4x32;

/** CMA-ES one generation at a time against a plain reference, determinism, resume, bad input. */
class CmaEsTest {

    /**
     * The tutorial's update written out a second time, independently of {@link CmaEs}: Commons Math matrices,
     * C^{-1/2} from Commons Math's eigendecomposition, refreshed by the same lazy rule (Hansen's purecmaes.m:
     * evaluations since the last refresh &gt; λ/((c_1+c_μ)·n·10)).
     */
    static final class Reference {
        final int n;
        final int lambda;
        final int mu;
        final boolean sep;
        final double[] w;
        final double mueff;
        final double cs;
        final double ds;
        final double cc;
        final double c1;
        final double cmu;
        final double chiN;
        RealVector m;
        RealVector ps;
        RealVector pc;
        RealMatrix cov;
        RealMatrix invSqrt; // C^{-1/2} of the last refresh
        double sigma;
        int g;
        double eigeneval;

        Reference(int n, int lambda, double sigma0, boolean sep, double[] start) {
            this.n = n;
            this.lambda = lambda;
            this.sep = sep;
            mu = lambda / 2;
            w = new double[mu];
            double s = 0;
            for (int i = 1; i <= mu; i++) {
                w[i - 1] = Math.log((lambda + 1.0) / 2) - Math.log(i);
                s += w[i - 1];
            }
            double s2 = 0;
            for (int i = 0; i < mu; i++) {
                w[i] = w[i] / s;
                s2 += w[i] * w[i];
            }
            mueff = 1 / s2;
            cs = (mueff + 2) / (n + mueff + 5);
            ds = 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs;
            cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n);
            double a1 = 2 / (Math.pow(n + 1.3, 2) + mueff);
            double amu = Math.min(1 - a1, 2 * (mueff - 2 + 1 / mueff) / (Math.pow(n + 2, 2) + mueff));
            if (sep) { // Ros & Hansen 2008: both rates ×(n+2)/3
                c1 = Math.min(1, a1 * (n + 2) / 3);
                cmu = Math.min(1 - c1, amu * (n + 2) / 3);
            } else {
                c1 = a1;
                cmu = amu;
            }
            chiN = Math.sqrt(n) * (1 - 1.0 / (4 * n) + 1.0 / (21 * n * n));
            m = new ArrayRealVector(start);
            ps = new ArrayRealVector(n);
            pc = new ArrayRealVector(n);
            cov = identity(n);
            invSqrt = identity(n);
            sigma = sigma0;
        }

        static RealMatrix identity(int n) {
            RealMatrix id = new Array2DRowRealMatrix(n, n);
            for (int i = 0; i < n; i++) {
                id.setEntry(i, i, 1);
            }
            return id;
        }

        void update(double[][] xs, double[] f) {
            Integer[] idx = new Integer[lambda];
            for (int i = 0; i < lambda; i++) {
                idx[i] = i;
            }
            Arrays.sort(idx, (a, b) -> Double.compare(f[a], f[b]));
            RealVector old = m;
            RealVector newMean = new ArrayRealVector(n);
            for (int i = 0; i < mu; i++) {
                newMean = newMean.add(new ArrayRealVector(xs[idx[i]]).mapMultiply(w[i]));
            }
            RealVector yw = newMean.subtract(old).mapDivide(sigma);
            m = newMean;
            ps = ps.mapMultiply(1 - cs).add(invSqrt.operate(yw).mapMultiply(Math.sqrt(cs * (2 - cs) * mueff)));
            g++;
            boolean hsig = ps.getNorm() / Math.sqrt(1 - Math.pow(1 - cs, 2 * g)) / chiN < 1.4 + 2.0 / (n + 1);
            pc = pc.mapMultiply(1 - cc);
            if (hsig) {
                pc = pc.add(yw.mapMultiply(Math.sqrt(cc * (2 - cc) * mueff)));
            }
            RealMatrix rankMu = new Array2DRowRealMatrix(n, n);
            for (int i = 0; i < mu; i++) {
                RealVector yi = new ArrayRealVector(xs[idx[i]]).subtract(old).mapDivide(sigma);
                rankMu = rankMu.add(yi.outerProduct(yi).scalarMultiply(w[i]));
            }
            double delta = hsig ? 0 : cc * (2 - cc);
            cov = cov.scalarMultiply(1 - c1 - cmu + c1 * delta)
                    .add(pc.outerProduct(pc).scalarMultiply(c1))
                    .add(rankMu.scalarMultiply(cmu));
            if (sep) {
                RealMatrix diag = new Array2DRowRealMatrix(n, n);
                for (int i = 0; i < n; i++) {
                    diag.setEntry(i, i, cov.getEntry(i, i));
                }
                cov = diag;
                invSqrt = new Array2DRowRealMatrix(n, n);
                for (int i = 0; i < n; i++) {
                    invSqrt.setEntry(i, i, 1 / Math.sqrt(cov.getEntry(i, i)));
                }
            } else if ((double) g * lambda - eigeneval > lambda / ((c1 + cmu) * n * 10)) {
                eigeneval = (double) g * lambda;
                EigenDecomposition e = new EigenDecomposition(cov);
                RealMatrix v = e.getV();
                RealMatrix dinv = new Array2DRowRealMatrix(n, n);
                for (int i = 0; i < n; i++) {
                    dinv.setEntry(i, i, 1 / Math.sqrt(e.getRealEigenvalue(i)));
                }
                invSqrt = v.multiply(dinv).multiply(v.transpose());
            }
            sigma *= Math.exp(cs / ds * (ps.getNorm() / chiN - 1));
        }
    }

    /** The documented draw, written here from the class comment: Box–Muller on two 53-bit uniforms. */
    static double[] documentedNormals(long seed, long generation, int member, int n) {
        double[] z = new double[n];
        for (int i = 0; i < n; i++) {
            int[] w = Philox4x32.generate(i / 2, member, (int) generation, 0x434D4131, (int) seed,
                    (int) (seed >>> 32));
            long u = Long.parseUnsignedLong(Integer.toUnsignedString(w[1])) * 4294967296L
                    + Long.parseUnsignedLong(Integer.toUnsignedString(w[0]));
            long v = Long.parseUnsignedLong(Integer.toUnsignedString(w[3])) * 4294967296L
                    + Long.parseUnsignedLong(Integer.toUnsignedString(w[2]));
            double u1 = (double) ((u >>> 11) + 1) / 9007199254740992.0;
            double u2 = (double) (v >>> 11) / 9007199254740992.0;
            double r = Math.sqrt(-2 * Math.log(u1));
            z[i] = i % 2 == 0 ? r * Math.cos(2 * Math.PI * u2) : r * Math.sin(2 * Math.PI * u2);
        }
        return z;
    }

    static double ellipsoid(double[] x) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            s += Math.pow(1e3, (double) i / Math.max(1, x.length - 1)) * x[i] * x[i];
        }
        return s;
    }

    static void assertClose(double[] want, double[] got, double rel, String what) {
        double scale = 0;
        for (double v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], rel * Math.max(scale, 1e-300), what + "[" + i + "]");
        }
    }

    static double[] flat(RealMatrix a, boolean diagonalOnly) {
        int n = a.getRowDimension();
        if (diagonalOnly) {
            double[] d = new double[n];
            for (int i = 0; i < n; i++) {
                d[i] = a.getEntry(i, i);
            }
            return d;
        }
        double[] f = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                f[i * n + j] = a.getEntry(i, j);
            }
        }
        return f;
    }

    private void followsReference(int n, int lambda, boolean sep, long seed, int generations) {
        double[] start = new double[n];
        for (int i = 0; i < n; i++) {
            start[i] = 1 + 0.5 * i;
        }
        double sigma0 = 0.7;
        CmaEs es = CmaEs.create(n, lambda, sigma0, sep, seed, start);
        Reference ref = new Reference(n, lambda, sigma0, sep, start);
        for (int g = 0; g < generations; g++) {
            double[][] xs = es.ask();
            // the samples are m + σ·y with y ~ N(0, C) drawn from the documented normals
            for (int k = 0; k < lambda; k++) {
                double[] z = documentedNormals(seed, g, k, n);
                RealVector y = new ArrayRealVector(xs[k]).subtract(ref.m).mapDivide(ref.sigma);
                if (sep) {
                    for (int i = 0; i < n; i++) {
                        assertEquals(Math.sqrt(ref.cov.getEntry(i, i)) * z[i], y.getEntry(i), 1e-12 * (1 + Math.abs(z[i])),
                                "sep sample g=" + g + " k=" + k + " i=" + i);
                    }
                } else {
                    // y = B·D·z with B orthogonal: ‖C^{-1/2}·y‖ = ‖z‖ (C of the last refresh)
                    double zn = new ArrayRealVector(z).getNorm();
                    assertEquals(zn, ref.invSqrt.operate(y).getNorm(), 1e-10 * zn, "sample norm g=" + g + " k=" + k);
                }
            }
            double[] f = new double[lambda];
            for (int k = 0; k < lambda; k++) {
                f[k] = ellipsoid(xs[k]);
            }
            es.tell(f);
            ref.update(xs, f);
            String at = (sep ? "sep" : "full") + " n=" + n + " g=" + (g + 1) + " ";
            assertClose(ref.m.toArray(), es.mean(), 1e-12, at + "mean");
            assertClose(ref.ps.toArray(), es.pathSigma(), 1e-10, at + "p_sigma");
            assertClose(ref.pc.toArray(), es.pathC(), 1e-10, at + "p_c");
            assertClose(flat(ref.cov, sep), es.covariance(), 1e-10, at + "C");
            assertEquals(ref.sigma, es.sigma(), 1e-10 * ref.sigma, at + "sigma");
        }
    }

    @Test
    void fullCovarianceFollowsTheReferenceGenerationByGeneration() {
        followsReference(4, 8, false, 11, 14);
        followsReference(3, 6, false, 12, 10);
        followsReference(5, 7, false, 13, 12); // odd λ: μ = 3, weights from ln(4) − ln i
        // n = 40, λ = 8: λ/((c1+cμ)·n·10) ≈ 8.7 evaluations, so C^{-1/2} is one generation stale every other time
        followsReference(40, 8, false, 14, 7);
    }

    @Test
    void separableFollowsTheReferenceGenerationByGeneration() {
        followsReference(4, 8, true, 21, 14);
        followsReference(5, 9, true, 22, 10);
    }

    @Test
    void theEigendecompositionIsRefreshedLazily() {
        // n = 60, λ = 10: λ/((c1+cμ)·n·10) ≈ 12.8 evaluations, so every second generation
        CmaEs es = CmaEs.create(60, 10, 0.5, false, 3);
        long refreshes = 0;
        long last = 0;
        for (int g = 0; g < 20; g++) {
            double[][] xs = es.ask();
            double[] f = new double[10];
            for (int k = 0; k < 10; k++) {
                f[k] = ellipsoid(xs[k]);
            }
            es.tell(f);
            if (es.eigenEvaluations() != last) {
                refreshes++;
                last = es.eigenEvaluations();
            }
        }
        assertEquals(10, refreshes);
    }

    @Test
    void nanValuesRankLast() {
        CmaEs es = CmaEs.create(3, 4, 1.0, false, 5);
        double[][] xs = es.ask();
        es.tell(new double[] {Double.NaN, 2.0, Double.NaN, 1.0});
        // μ = 2: members 3 then 1, w ∝ (ln 2.5 − ln 1, ln 2.5 − ln 2)
        double w1 = Math.log(2.5);
        double w2 = Math.log(2.5) - Math.log(2);
        double[] want = new double[3];
        for (int i = 0; i < 3; i++) {
            want[i] = (w1 * xs[3][i] + w2 * xs[1][i]) / (w1 + w2);
        }
        assertClose(want, es.mean(), 1e-14, "mean");
        assertEquals(1.0, es.bestValue());
        assertArrayEquals(xs[3], es.best());
    }

    @Test
    void beforeTheFirstTellTheBestIsTheStart() {
        CmaEs es = CmaEs.create(3, 6, 1.0, true, 1, new double[] {1, 2, 3});
        assertArrayEquals(new double[] {1, 2, 3}, es.best());
        assertEquals(Double.POSITIVE_INFINITY, es.bestValue());
        assertArrayEquals(new double[3], CmaEs.create(3, 6, 1.0, true, 1).best());
    }

    @Test
    void theSameSeedGivesTheSameRunAndAnotherSeedAnother() {
        for (boolean sep : new boolean[] {false, true}) {
            double[][] a = run(CmaEs.create(6, 10, 0.8, sep, 42), 15);
            double[][] b = run(CmaEs.create(6, 10, 0.8, sep, 42), 15);
            double[][] c = run(CmaEs.create(6, 10, 0.8, sep, 43), 15);
            assertTrue(Arrays.deepEquals(a, b));
            assertFalse(Arrays.deepEquals(a, c));
        }
    }

    /** Runs {@code gens} generations on the ellipsoid; returns the last ask. */
    private static double[][] run(CmaEs es, int gens) {
        double[][] xs = null;
        for (int g = 0; g < gens; g++) {
            xs = es.ask();
            double[] f = new double[xs.length];
            for (int k = 0; k < xs.length; k++) {
                f[k] = ellipsoid(xs[k]);
            }
            es.tell(f);
        }
        return es.ask();
    }

    private static byte[] save(CmaEs es) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            es.writeState(out);
        }
        return bytes.toByteArray();
    }

    private static void restore(CmaEs es, byte[] state) throws IOException {
        es.readState(new DataInputStream(new ByteArrayInputStream(state)));
    }

    @Test
    void aRestoredOptimiserContinuesBitForBit() throws IOException {
        for (boolean sep : new boolean[] {false, true}) {
            double[] start = {0.5, -1, 2, 0, 1, 3, -2};
            CmaEs a = CmaEs.create(7, 9, 0.6, sep, 77, start);
            run(a, 9); // leaves an ask pending: the state is written between ask and tell
            byte[] state = save(a);
            CmaEs b = CmaEs.create(7, 9, 0.6, sep, 77, start);
            restore(b, state);
            assertEquals(a.generation(), b.generation());
            for (int g = 0; g < 12; g++) {
                double[][] xa = a.ask();
                double[][] xb = b.ask();
                assertTrue(Arrays.deepEquals(xa, xb), "generation " + a.generation());
                double[] f = new double[9];
                for (int k = 0; k < 9; k++) {
                    f[k] = ellipsoid(xa[k]);
                }
                a.tell(f);
                b.tell(f.clone());
            }
            assertArrayEquals(save(a), save(b));
            assertEquals(a.bestValue(), b.bestValue());
            assertArrayEquals(a.best(), b.best());
            assertEquals(a.sigma(), b.sigma());
        }
    }

    @Test
    void aStateRestoresOnlyIntoTheSameSettings() throws IOException {
        byte[] state = save(CmaEs.create(5, 8, 1.0, false, 9));
        assertEquals("CMA-ES state: dimension 5 in the state but 6 here",
                assertThrows(ZotuneException.class, () -> restore(CmaEs.create(6, 8, 1.0, false, 9), state)).getMessage());
        assertEquals("CMA-ES state: population 8 in the state but 10 here",
                assertThrows(ZotuneException.class, () -> restore(CmaEs.create(5, 10, 1.0, false, 9), state)).getMessage());
        assertEquals("CMA-ES state: covariance is full in the state but separable here",
                assertThrows(ZotuneException.class, () -> restore(CmaEs.create(5, 8, 1.0, true, 9), state)).getMessage());
        assertEquals("CMA-ES state: seed 9 in the state but 8 here",
                assertThrows(ZotuneException.class, () -> restore(CmaEs.create(5, 8, 1.0, false, 8), state)).getMessage());
        byte[] bad = state.clone();
        bad[7] = 9; // version word
        assertEquals("CMA-ES state: version 9 is not supported (expected 1)",
                assertThrows(ZotuneException.class, () -> restore(CmaEs.create(5, 8, 1.0, false, 9), bad)).getMessage());
        CmaEs target = CmaEs.create(5, 8, 1.0, false, 9);
        double[][] before = target.ask();
        assertThrows(IOException.class, () -> restore(target, Arrays.copyOf(state, state.length - 3)));
        assertTrue(Arrays.deepEquals(before, target.ask()), "a truncated state leaves the optimiser as it was");
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        assertEquals("CMA-ES: dimension must be >= 1, got 0",
                assertThrows(ZotuneException.class, () -> CmaEs.create(0, 10, 1, false, 1)).getMessage());
        assertEquals("CMA-ES: population must be >= 2, got 1",
                assertThrows(ZotuneException.class, () -> CmaEs.create(3, 1, 1, false, 1)).getMessage());
        assertEquals("CMA-ES: sigma0 must be a finite number > 0, got 0.0",
                assertThrows(ZotuneException.class, () -> CmaEs.create(3, 4, 0, true, 1)).getMessage());
        assertEquals("CMA-ES: sigma0 must be a finite number > 0, got -1.0",
                assertThrows(ZotuneException.class, () -> CmaEs.create(3, 4, -1, true, 1)).getMessage());
        assertEquals("CMA-ES: sigma0 must be a finite number > 0, got NaN",
                assertThrows(ZotuneException.class, () -> CmaEs.create(3, 4, Double.NaN, true, 1)).getMessage());
        assertEquals("CMA-ES: start has 2 values, expected the dimension 3",
                assertThrows(ZotuneException.class, () -> CmaEs.create(3, 4, 1, true, 1, new double[2])).getMessage());
        assertEquals("CMA-ES: start[1] is Infinity, must be finite",
                assertThrows(ZotuneException.class,
                        () -> CmaEs.create(2, 4, 1, true, 1, new double[] {0, Double.POSITIVE_INFINITY})).getMessage());
        CmaEs es = CmaEs.create(3, 4, 1, false, 1);
        es.ask();
        assertEquals("CMA-ES tell: expected 4 values (the population), got 3",
                assertThrows(ZotuneException.class, () -> es.tell(new double[3])).getMessage());
        assertEquals(0, es.generation(), "a rejected tell changes nothing");
        assertNotEquals(null, es.ask());
    }
}
