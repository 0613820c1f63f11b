package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.dfo.DfoSearch.Method;
import org.zotune.dfo.DfoSearch.Schedule;
import org.zotune.dfo.DfoSearch.Settings;
import org.zotune.dfo.search.SearchFactory.Kind;

/** The DFO-LoRA search's schedule, budget, alternation, bests and bitwise resume, on a synthetic quadratic. */
class DfoSearchTest {

    private static List<DfoSearch.Generation> runAll(DfoSearch s) {
        List<DfoSearch.Generation> out = new ArrayList<>();
        while (!s.done()) {
            out.add(s.step());
        }
        return out;
    }

    @Test
    void layersScheduleSearchesEachLayerForBudgetOverLambdaLGenerationsInTurn() {
        int layers = 3;
        int lambda = 4;
        long budget = 100; // ⌊100 / 12⌋ = 8 generations per layer, 96 evaluations, 4 left unspent
        SearchFixtures.Quadratic q = new SearchFixtures.Quadratic(layers, 6);
        DfoSearch s = new DfoSearch(q, new SearchFixtures.Factory(lambda), new Settings(Method.CMA, Schedule.LAYERS,
                lambda, budget, 7));
        runAll(s);
        List<Integer> expected = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            for (int g = 0; g < 8; g++) {
                expected.add(l);
            }
        }
        assertEquals(expected, q.layerCalls);
        assertEquals(96, q.evaluations);
        assertEquals(96, s.evaluations());
    }

    @Test
    void roundsScheduleCyclesTheLayersUntilTheBudget() {
        int lambda = 5;
        SearchFixtures.Quadratic q = new SearchFixtures.Quadratic(3, 4);
        DfoSearch s = new DfoSearch(q, new SearchFixtures.Factory(lambda), new Settings(Method.FWA, Schedule.ROUNDS,
                lambda, 73, 7));
        runAll(s);
        List<Integer> expected = new ArrayList<>();
        for (int n = 0; n < 73 / 5; n++) { // 14 generations: four rounds and two layers of a fifth
            expected.add(n % 3);
        }
        assertEquals(expected, q.layerCalls);
        assertEquals(70, q.evaluations);
    }

    @Test
    void theBudgetCounterNeverExceedsTheBudget() {
        for (Schedule schedule : Schedule.values()) {
            for (int lambda = 2; lambda <= 7; lambda++) {
                for (int layers = 1; layers <= 4; layers++) {
                    for (long budget = lambda * layers; budget <= 60; budget += 7) {
                        SearchFixtures.Quadratic q = new SearchFixtures.Quadratic(layers, 3);
                        DfoSearch s = new DfoSearch(q, new SearchFixtures.Factory(lambda), new Settings(
                                Method.ALTERNATE, schedule, lambda, budget, 1));
                        while (!s.done()) {
                            s.step();
                            assertTrue(s.evaluations() <= budget);
                            assertEquals(q.evaluations, s.evaluations());
                        }
                        // no room for another generation under rounds; under layers, none for another full round
                        long unspent = budget - q.evaluations;
                        assertTrue(schedule == Schedule.ROUNDS ? unspent < lambda : unspent < (long) lambda * layers,
                                schedule + " λ " + lambda + " L " + layers + " budget " + budget);
                    }
                }
            }
        }
    }

    @Test
    void alternateSwitchesOptimiserAtEachVisitOfALayerEachKeepingItsOwnState() {
        for (Schedule schedule : Schedule.values()) {
            int lambda = 3;
            SearchFixtures.Quadratic q = new SearchFixtures.Quadratic(2, 4);
            SearchFixtures.Factory f = new SearchFixtures.Factory(lambda);
            DfoSearch s = new DfoSearch(q, f, new Settings(Method.ALTERNATE, schedule, lambda, 30, 3));
            List<DfoSearch.Generation> gens = runAll(s); // 10 generations, 5 per layer
            int[] visits = new int[2];
            for (DfoSearch.Generation g : gens) {
                assertEquals(visits[g.layer()] % 2 == 0 ? Kind.CMA_ES : Kind.FIREWORKS, g.kind(), schedule + " " + g);
                assertEquals(visits[g.layer()], g.visit());
                visits[g.layer()]++;
            }
            assertEquals(4, f.made.size(), "one optimiser per layer and kind, made once");
            for (SearchFixtures.RandomSearch r : f.made) {
                assertEquals(r.kind == Kind.CMA_ES ? 3 : 2, r.generation, schedule + " " + r.layer + " " + r.kind);
                assertEquals(DfoSearch.optimizerSeed(3, r.layer, r.kind), r.seed);
            }
        }
    }

    @Test
    void otherLayersAreHeldAtTheirBestCandidateSoFar() {
        int lambda = 4;
        int layers = 3;
        SearchFixtures.Quadratic q = new SearchFixtures.Quadratic(layers, 5);
        DfoSearch s = new DfoSearch(q, new SearchFixtures.Factory(lambda), new Settings(Method.ALTERNATE,
                Schedule.ROUNDS, lambda, 4 * 20, 11));
        runAll(s);
        // the best candidate of each layer, tracked here from the recorded calls alone
        double[][] best = new double[layers][5];
        double[] bestValue = {Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY};
        for (int call = 0; call < q.layerCalls.size(); call++) {
            int layer = q.layerCalls.get(call);
            double[][] current = q.currentCalls.get(call);
            for (int l = 0; l < layers; l++) {
                if (l != layer) {
                    assertArrayEquals(best[l], current[l], "call " + call + " layer " + l);
                }
            }
            for (double[] c : q.candidateCalls.get(call)) {
                double[][] z = SearchFixtures.Quadratic.copy(current);
                z[layer] = c;
                double v = q.value(z);
                if (v < bestValue[layer]) {
                    bestValue[layer] = v;
                    best[layer] = c.clone();
                }
            }
        }
        assertArrayEquals(bestValue, s.bestLosses());
        for (int l = 0; l < layers; l++) {
            assertArrayEquals(best[l], s.bestPoints()[l]);
        }
    }

    @Test
    void aGenerationOfNanLossesKeepsTheStartPoint() {
        PopulationLoss nan = new PopulationLoss() {
            public int layers() {
                return 2;
            }

            public int dimension() {
                return 3;
            }

            public double[] losses(int layer, double[][] candidates, double[][] current) {
                double[] v = new double[candidates.length];
                java.util.Arrays.fill(v, Double.NaN);
                return v;
            }
        };
        DfoSearch s = new DfoSearch(nan, new SearchFixtures.Factory(3), new Settings(Method.CMA, Schedule.ROUNDS, 3,
                12, 1));
        runAll(s);
        assertArrayEquals(new double[3], s.bestPoints()[0]);
        assertEquals(Double.POSITIVE_INFINITY, s.bestLosses()[1]);
    }

    private static byte[] state(DfoSearch s) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream d = new DataOutputStream(b)) {
            s.writeState(d);
        }
        return b.toByteArray();
    }

    @Test
    void aResumedSearchContinuesBitForBit() throws IOException {
        for (Schedule schedule : Schedule.values()) {
            for (int stopAt : new int[] {1, 4, 5, 9}) {
                Settings settings = new Settings(Method.ALTERNATE, schedule, 4, 4 * 3 * 5, 99); // 15 generations
                SearchFixtures.Quadratic q1 = new SearchFixtures.Quadratic(3, 6);
                DfoSearch whole = new DfoSearch(q1, new SearchFixtures.Factory(4), settings);
                List<DfoSearch.Generation> expected = runAll(whole);

                SearchFixtures.Quadratic q2 = new SearchFixtures.Quadratic(3, 6);
                DfoSearch first = new DfoSearch(q2, new SearchFixtures.Factory(4), settings);
                List<DfoSearch.Generation> got = new ArrayList<>();
                for (int i = 0; i < stopAt; i++) {
                    got.add(first.step());
                }
                byte[] saved = state(first);
                SearchFixtures.Quadratic q3 = new SearchFixtures.Quadratic(3, 6);
                DfoSearch resumed = new DfoSearch(q3, new SearchFixtures.Factory(4), settings);
                resumed.readState(new DataInputStream(new ByteArrayInputStream(saved)));
                assertEquals(stopAt, resumed.position());
                assertEquals(stopAt * 4L, resumed.evaluations());
                got.addAll(runAll(resumed));
                assertEquals(expected, got, schedule + " stopped at " + stopAt); // records: doubles compared by bits
                for (int l = 0; l < 3; l++) {
                    assertArrayEquals(whole.bestPoints()[l], resumed.bestPoints()[l]);
                }
                assertArrayEquals(whole.bestLosses(), resumed.bestLosses());
                assertArrayEquals(state(whole), state(resumed));
                // the resumed part asked the same candidates as the uninterrupted run
                for (int c = 0; c < q3.candidateCalls.size(); c++) {
                    double[][] a = q1.candidateCalls.get(stopAt + c);
                    double[][] b = q3.candidateCalls.get(c);
                    for (int i = 0; i < a.length; i++) {
                        assertArrayEquals(a[i], b[i]);
                    }
                }
            }
        }
    }

    @Test
    void aStateOfOtherSettingsIsRefusedNamingWhatDiffers() throws IOException {
        Settings settings = new Settings(Method.CMA, Schedule.ROUNDS, 4, 40, 5);
        DfoSearch a = new DfoSearch(new SearchFixtures.Quadratic(2, 3), new SearchFixtures.Factory(4), settings);
        a.step();
        byte[] saved = state(a);
        DfoSearch b = new DfoSearch(new SearchFixtures.Quadratic(2, 3), new SearchFixtures.Factory(5),
                new Settings(Method.CMA, Schedule.ROUNDS, 5, 40, 5));
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> b.readState(new DataInputStream(new ByteArrayInputStream(saved))));
        assertTrue(e.getMessage().contains("population 4"), e.getMessage());
        DfoSearch c = new DfoSearch(new SearchFixtures.Quadratic(2, 4), new SearchFixtures.Factory(4), settings);
        e = assertThrows(ZotuneException.class,
                () -> c.readState(new DataInputStream(new ByteArrayInputStream(saved))));
        assertTrue(e.getMessage().contains("subspace 3"), e.getMessage());
    }

    @Test
    void badSettingsAreOneLineNamingTheKey() {
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> new Settings(Method.CMA, Schedule.LAYERS, 1, 100, 0));
        assertTrue(e.getMessage().contains("dfo.population"), e.getMessage());
        e = assertThrows(ZotuneException.class, () -> new Settings(Method.CMA, Schedule.ROUNDS, 20, 19, 0));
        assertTrue(e.getMessage().contains("dfo.budget") && e.getMessage().contains("one generation"),
                e.getMessage());
        // enough for one generation, not for one per layer under the layers schedule
        e = assertThrows(ZotuneException.class, () -> new DfoSearch(new SearchFixtures.Quadratic(3, 2),
                new SearchFixtures.Factory(20), new Settings(Method.CMA, Schedule.LAYERS, 20, 59, 0)));
        assertTrue(e.getMessage().contains("dfo.budget") && e.getMessage().contains("60"), e.getMessage());
    }

    @Test
    void differentLayersAndKindsGetDifferentSeeds() {
        assertNotEquals(DfoSearch.optimizerSeed(1, 0, Kind.CMA_ES), DfoSearch.optimizerSeed(1, 0, Kind.FIREWORKS));
        assertNotEquals(DfoSearch.optimizerSeed(1, 0, Kind.CMA_ES), DfoSearch.optimizerSeed(1, 1, Kind.CMA_ES));
        assertNotEquals(DfoSearch.optimizerSeed(1, 0, Kind.CMA_ES), DfoSearch.optimizerSeed(2, 0, Kind.CMA_ES));
    }
}
