package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.dfo.AttentionTargets.Projection;
import org.zotune.zo.noise.Noise;

/**
 * The projections: regenerated identically from (seed, layer, block), A maps N(0, s_l²) and B maps PyTorch's default
 * Linear init by their documented per-element definition and by their statistics, factors = P·z against a naive
 * product, z = 0 gives zero factors, the s_l formula, and the one-line refusals.
 */
class SubspaceTest {
    // two layers: q [6 <- 5], k [4 <- 5] (a GQA-like key), and GPT-2-like packed q|k|v [3·5 <- 5]
    private static final AttentionTargets TARGETS = new AttentionTargets(
            List.of(new Projection(0, "l0.q", 5, 6, 0, 6), new Projection(7, "l1.qkv", 5, 5, 0, 15)),
            List.of(new Projection(2, "l0.k", 5, 4, 0, 4), new Projection(7, "l1.qkv", 5, 5, 5, 15)));

    private static Subspace subspace(int dimension, long seed) {
        return Subspace.of(TARGETS, dimension, 3, seed, new double[] {0.25, 1.5});
    }

    @Test
    void mapsAreTheSameWhenRegeneratedAndDifferPerSeedLayerAndBlock() {
        Subspace a = subspace(40, 7);
        Subspace b = subspace(40, 7);
        for (int l = 0; l < 2; l++) {
            for (int j = 0; j < 4; j++) {
                assertArrayEquals(a.map(l, j), b.map(l, j));
            }
        }
        assertFalse(Arrays.equals(a.map(0, 0), subspace(40, 8).map(0, 0)));
        assertFalse(Arrays.equals(Arrays.copyOf(a.map(0, 1), 10), Arrays.copyOf(a.map(1, 1), 10)));
        assertFalse(Arrays.equals(Arrays.copyOf(a.map(0, 0), 10), Arrays.copyOf(a.map(0, 2), 10)));
        // factors through a fresh object equal the first object's, in any order of asking
        double[] z = point(40, 3);
        Subspace.Factors f1 = a.factors(1, z);
        b.factors(0, point(40, 4));
        Subspace.Factors f2 = b.factors(1, z);
        assertArrayEquals(f1.aQ(), f2.aQ());
        assertArrayEquals(f1.bK(), f2.bK());
    }

    @Test
    void mapElementsFollowTheirDefinition() {
        long seed = 123456789012345L;
        Subspace s = subspace(40, seed);
        int d = 10;
        assertEquals(3 * 5 * d, s.map(0, Subspace.A_Q).length);
        assertEquals(6 * 3 * d, s.map(0, Subspace.B_Q).length);
        assertEquals(4 * 3 * d, s.map(0, Subspace.B_K).length);
        for (int j = 0; j < 4; j++) {
            float[] p = s.map(1, j);
            long mapSeed = Subspace.mapSeed(seed, 1, j);
            for (int i : new int[] {0, 1, 2, 3, 7, p.length - 1}) {
                float expected = j % 2 == 0 ? (float) (1.5 * Noise.gaussian(mapSeed, 0, i))
                        : (float) (1 / Math.sqrt(d) * (2.0 * Noise.uniform(Noise.word(mapSeed, 0, i)) - 1.0));
                assertEquals(expected, p[i], "block " + j + " element " + i);
            }
        }
    }

    @Test
    void aMapsAreGaussianWithDeviationSlAndBMapsUniformWithinTheLinearBound() {
        AttentionTargets wide = new AttentionTargets(List.of(new Projection(0, "q", 100, 100, 0, 100)),
                List.of(new Projection(1, "k", 100, 100, 0, 100)));
        Subspace s = Subspace.of(wide, 400, 4, 99, new double[] {0.3});
        float[] a = s.map(0, Subspace.A_K); // 40,000 values
        double mean = Arrays.stream(toDoubles(a)).average().orElseThrow();
        double sd = Math.sqrt(Arrays.stream(toDoubles(a)).map(v -> (v - mean) * (v - mean)).sum() / a.length);
        assertEquals(0, mean, 0.3 * 4 / Math.sqrt(a.length)); // 4 standard errors
        assertEquals(0.3, sd, 0.3 * 0.02);
        float[] b = s.map(0, Subspace.B_Q);
        double bound = 1 / Math.sqrt(100);
        double bm = Arrays.stream(toDoubles(b)).average().orElseThrow();
        double bvar = Arrays.stream(toDoubles(b)).map(v -> v * v).sum() / b.length;
        for (float v : b) {
            assertTrue(Math.abs(v) <= bound, "B map value " + v + " outside ±" + bound);
        }
        assertEquals(0, bm, bound / Math.sqrt(3) * 4 / Math.sqrt(b.length));
        assertEquals(bound * bound / 3, bvar, bound * bound / 3 * 0.03);
    }

    @Test
    void factorsAreTheMapsTimesTheirBlockOfZ() {
        Subspace s = subspace(40, 5);
        double[] z = point(40, 11);
        Subspace.Factors f = s.factors(0, z);
        float[][] got = {f.aQ(), f.bQ(), f.aK(), f.bK()};
        for (int j = 0; j < 4; j++) {
            float[] p = s.map(0, j);
            int rows = p.length / 10;
            assertEquals(rows, got[j].length);
            for (int e = 0; e < rows; e++) {
                double acc = 0;
                for (int c = 0; c < 10; c++) {
                    acc += (double) p[e * 10 + c] * z[j * 10 + c];
                }
                assertEquals(acc, got[j][e], 1e-6 * Math.max(1, Math.abs(acc)));
            }
        }
        Subspace.Factors zero = s.factors(1, new double[40]);
        for (float[] v : new float[][] {zero.aQ(), zero.bQ(), zero.aK(), zero.bK()}) {
            for (float x : v) {
                assertEquals(0f, x);
            }
        }
    }

    @Test
    void aGenerationsFactorsEqualTheOrderedDoubleSumsBitwise() {
        Subspace s = subspace(40, 5);
        double[][] zs = new double[9][];
        for (int i = 0; i < zs.length; i++) {
            zs[i] = point(40, 20 + i);
        }
        zs[4] = zs[1].clone(); // a repeated candidate
        List<Subspace.Factors> all = s.factors(0, zs); // in parallel over the points
        assertEquals(zs.length, all.size());
        for (int i = 0; i < zs.length; i++) {
            Subspace.Factors f = all.get(i);
            float[][] got = {f.aQ(), f.bQ(), f.aK(), f.bK()};
            for (int j = 0; j < 4; j++) {
                float[] p = s.map(0, j);
                int rows = p.length / 10; // 15, 18, 15, 12: the four-row blocks and their tails
                assertEquals(rows, got[j].length);
                for (int e = 0; e < rows; e++) {
                    double acc = 0;
                    for (int c = 0; c < 10; c++) {
                        acc += (double) p[e * 10 + c] * zs[i][j * 10 + c];
                    }
                    assertEquals((float) acc, got[j][e], "point " + i + " block " + j + " row " + e);
                }
            }
            Subspace.Factors one = subspace(40, 5).factors(0, zs[i]);
            assertArrayEquals(one.bQ(), f.bQ(), "point " + i + ": one at a time");
        }
    }

    @Test
    void aScaleIsAlphaSigmaOverRootDTimesSigma0() {
        // 2 / (sqrt(500) * 0.5) = 4 / 22.360679774997898
        assertEquals(0.17888543819998318, Subspace.aScale(2.0, 1.0, 500, 0.5), 1e-15);
        assertEquals(0.5 * 0.8 / (Math.sqrt(20) * 2), Subspace.aScale(0.8, 0.5, 20, 2), 1e-15);
    }

    @Test
    void badSubspaceAndRankAreOneLine() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> subspace(42, 1));
        assertEquals("key 'dfo.subspace' must be a positive multiple of 4 (four blocks: A_Q, B_Q, A_K, B_K), got 42",
                e.getMessage());
        assertThrows(ZotuneException.class, () -> subspace(0, 1));
        ZotuneException r = assertThrows(ZotuneException.class,
                () -> Subspace.of(TARGETS, 40, 5, 1, new double[] {1, 1}));
        assertEquals("key 'dfo.rank' must be between 1 and the projections' size 4, got 5", r.getMessage());
    }

    static double[] point(int n, long seed) {
        java.util.Random r = new java.util.Random(seed);
        double[] z = new double[n];
        for (int i = 0; i < n; i++) {
            z[i] = r.nextGaussian();
        }
        return z;
    }

    private static double[] toDoubles(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
