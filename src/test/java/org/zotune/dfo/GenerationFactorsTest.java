package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CausalLmLoss;

/**
 * The host side of a captured DFO generation: {@link GenerationFactors}' packing against a plain list of the updates
 * built here in the order the batched forward applies them (every other layer with a non-zero point, ascending, on
 * all rows; then member i's on its rows), each factor at a 64-float boundary, nothing else in the array; and its
 * capture key, which changes exactly with the searched layer, λ, the member's tokens and the set of other layers with
 * a non-zero point (not with the points' values, nor with the searched layer's current point). On GPT-2 (one packed
 * q|k|v update of rank 2r per layer) and OPT (separate q and k updates). Also the {@code zotune.dfo.graph} switch.
 */
class GenerationFactorsTest {
    private static final int D = 12;
    private static final int RANK = 2;

    /** One update as the forward applies it, built without the packing. */
    private record Update(int weight, int from, int to, float[] a, float[] b) {
    }

    @Test
    void packingHoldsEveryUpdateInLaunchOrderAligned() {
        for (ModelConfig c : List.of(gpt2(), opt())) {
            Subspace s = subspace(c);
            Random r = new Random(3);
            int members = 5;
            int tokens = 7;
            double[][] candidates = points(r, members);
            double[][] current = points(r, s.layers());
            current[1] = new double[D]; // layer 1 at zero: no update of its own
            for (int layer = 0; layer < s.layers(); layer++) {
                GenerationFactors g = GenerationFactors.of(s, layer, candidates, current, tokens);
                List<Update> want = new ArrayList<>();
                for (int l = 0; l < s.layers(); l++) {
                    if (l != layer && l != 1) {
                        for (Subspace.Pair p : s.pairs(l, s.factors(l, current[l]))) {
                            want.add(new Update(p.target().weight(), 0, members * tokens, p.a(), p.b()));
                        }
                    }
                }
                for (int i = 0; i < members; i++) {
                    for (Subspace.Pair p : s.pairs(layer, s.factors(layer, candidates[i]))) {
                        want.add(new Update(p.target().weight(), i * tokens, (i + 1) * tokens, p.a(), p.b()));
                    }
                }
                String name = c.family() + " layer " + layer;
                assertEquals(want.size(), g.slots().size(), name);
                boolean[] used = new boolean[g.packed().length];
                int end = 0;
                for (int k = 0; k < want.size(); k++) {
                    Update u = want.get(k);
                    GenerationFactors.Slot slot = g.slots().get(k);
                    assertEquals(u.weight(), slot.weight(), name + " slot " + k);
                    assertEquals(u.from(), slot.from(), name + " slot " + k);
                    assertEquals(u.to(), slot.to(), name + " slot " + k);
                    assertEquals(u.a().length, slot.rank() * slot.in(), name + " slot " + k);
                    assertEquals(u.b().length, slot.out() * slot.rank(), name + " slot " + k);
                    assertArrayEquals(u.a(), g.a(k), name + " slot " + k + " A");
                    assertArrayEquals(u.b(), g.b(k), name + " slot " + k + " B");
                    for (int[] region : new int[][] {{slot.aOffset(), u.a().length}, {slot.bOffset(), u.b().length}}) {
                        assertEquals(0, region[0] % 64, name + " slot " + k + " offset " + region[0]);
                        assertTrue(region[0] >= end, name + " slot " + k + ": regions in order, apart");
                        for (int i = region[0]; i < region[0] + region[1]; i++) {
                            used[i] = true;
                        }
                        end = region[0] + region[1];
                    }
                }
                assertTrue(g.packed().length - end < 64, name + ": no room beyond the last factor's alignment");
                for (int i = 0; i < used.length; i++) {
                    if (!used[i]) {
                        assertEquals(0f, g.packed()[i], name + " float " + i + " outside every factor");
                    }
                }
            }
        }
    }

    @Test
    void theKeyChangesExactlyWithWhatAGraphBakesIn() {
        Subspace s = subspace(opt());
        Random r = new Random(9);
        double[][] current = points(r, s.layers());
        current[2] = new double[D];
        GenerationFactors g = GenerationFactors.of(s, 1, points(r, 5), current, 7);
        assertEquals(List.of(1, 5, 7, 2, 0, 3), g.key());
        // other values: the same key (the graph reads the factors from its buffer)
        double[][] moved = points(r, s.layers());
        moved[2] = new double[D];
        moved[1] = new double[D]; // the searched layer's own current point is not applied
        assertEquals(g.key(), GenerationFactors.of(s, 1, points(r, 5), moved, 7).key());
        moved[2][3] = -0.0; // still zero
        assertEquals(g.key(), GenerationFactors.of(s, 1, points(r, 5), moved, 7).key());
        assertNotEquals(g.key(), GenerationFactors.of(s, 2, points(r, 5), moved, 7).key(), "layer");
        assertNotEquals(g.key(), GenerationFactors.of(s, 1, points(r, 3), moved, 7).key(), "λ");
        assertNotEquals(g.key(), GenerationFactors.of(s, 1, points(r, 5), moved, 8).key(), "member tokens");
        moved[0] = new double[D];
        assertNotEquals(g.key(), GenerationFactors.of(s, 1, points(r, 5), moved, 7).key(), "layer 0 at zero");
        moved[2][0] = 1e-30;
        assertEquals(List.of(1, 5, 7, 2, 2, 3), GenerationFactors.of(s, 1, points(r, 5), moved, 7).key());
    }

    @Test
    void theGraphSwitchIsTrueOrFalseAndTheCpuRunsEagerly() {
        String before = System.getProperty(BatchedPopulation.GRAPH_PROPERTY);
        try {
            System.clearProperty(BatchedPopulation.GRAPH_PROPERTY);
            assertTrue(BatchedPopulation.graphsEnabled());
            System.setProperty(BatchedPopulation.GRAPH_PROPERTY, "false");
            assertEquals(false, BatchedPopulation.graphsEnabled());
            System.setProperty(BatchedPopulation.GRAPH_PROPERTY, "off");
            ZotuneException e = assertThrows(ZotuneException.class, BatchedPopulation::graphsEnabled);
            assertEquals("system property zotune.dfo.graph must be true or false, got 'off'", e.getMessage());
            System.setProperty(BatchedPopulation.GRAPH_PROPERTY, "false");
            ModelConfig c = gpt2();
            LanguageModel m = Architectures.createModel(c);
            List<HostTensor> w = new ArrayList<>();
            for (ParamSpec p : m.params()) {
                w.add(HostTensor.ofFloats(p.name(), new float[(int) p.numel()], p.shape()));
            }
            PromptBatch train = PromptBatch.of(List.of(new EncodedExample("x", new int[][] {{3, 4, 5, 6}},
                    new int[] {2}, 0)), 0);
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(w, DType.F32)) {
                try (BatchedPopulation pop = new BatchedPopulation(ops, m, p, new CausalLmLoss(), train,
                        subspace(c))) {
                    assertEquals("generations eager (-Dzotune.dfo.graph=false)", pop.generations());
                }
                System.clearProperty(BatchedPopulation.GRAPH_PROPERTY);
                try (BatchedPopulation pop = new BatchedPopulation(ops, m, p, new CausalLmLoss(), train,
                        subspace(c))) {
                    assertEquals("generations eager (backend " + ops.name() + ")", pop.generations());
                    assertEquals(BatchedPopulation.Mode.EAGER, pop.mode());
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(BatchedPopulation.GRAPH_PROPERTY);
            } else {
                System.setProperty(BatchedPopulation.GRAPH_PROPERTY, before);
            }
        }
    }

    private static Subspace subspace(ModelConfig c) {
        AttentionTargets t = AttentionTargets.of(Architectures.createModel(c));
        double[] scales = new double[t.layers()];
        for (int l = 0; l < scales.length; l++) {
            scales[l] = 0.3 + 0.1 * l;
        }
        return Subspace.of(t, D, RANK, 41, scales);
    }

    private static double[][] points(Random r, int n) {
        double[][] z = new double[n][D];
        for (double[] p : z) {
            for (int i = 0; i < D; i++) {
                p[i] = r.nextGaussian();
            }
        }
        return z;
    }

    private static ModelConfig gpt2() {
        return new ModelConfig(ModelFamily.GPT2, 11, 8, 3, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);
    }

    private static ModelConfig opt() {
        return new ModelConfig(ModelFamily.OPT, 13, 8, 4, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, true, true, 8, 0, null, true, true, 0, 2, 1);
    }
}
