package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.dfo.PopulationFixtures.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.LayerSplit;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.ClassificationLoss;

/**
 * The split forward the batched population runs (SharedLayers, LayerSplit), on the CPU: split at every layer it is
 * the whole forward bit for bit (GPT-2, OPT pre- and post-norm, Llama, BERT); the population's forward over λ copies
 * computes the layers below the searched one on one member's rows only (seen through the weight source's layer
 * inputs) and gives the whole forward's logits bit for bit; the head at chosen rows is those rows of the logits;
 * the answer positions of a candidate batch; the size check's one-line refusal.
 */
class SharedLayersTest {

    @TempDir
    Path dir;

    private static List<Case> decoders() {
        List<Case> out = new ArrayList<>();
        out.add(decoder("gpt2", new ModelConfig(ModelFamily.GPT2, 11, 8, 3, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1),
                new ClassificationLoss(), 1));
        out.add(decoder("opt post-norm", new ModelConfig(ModelFamily.OPT, 13, 8, 3, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, false, false, 6, 0, null, true, true, 0, 2, 1),
                new ClassificationLoss(), 3));
        out.add(decoder("opt pre-norm", new ModelConfig(ModelFamily.OPT, 13, 8, 3, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, true, true, 8, 0, null, true, true, 0, 2, 1),
                new ClassificationLoss(), 4));
        out.add(decoder("llama", new ModelConfig(ModelFamily.LLAMA, 17, 12, 3, 4, 2, 6, 20, 32, 1e-6,
                ModelConfig.Activation.SILU, false, true, true, 12, 10000, null, true, true, 1, 2, -1),
                new ClassificationLoss(), 5));
        return out;
    }

    @Test
    void splitAtEveryLayerIsTheWholeForwardBitForBit() throws IOException {
        try (CpuOps ops = new CpuOps()) {
            for (Case c : decoders()) {
                LayerSplit split = (LayerSplit) c.model();
                Batch b = c.train().batch();
                try (Parameters p = ops.createParameters(c.weights(), DType.F32)) {
                    float[] whole = ops.toHost(c.model().forward(ops, p, b));
                    for (int l = 0; l < c.model().config().numLayers(); l++) {
                        float[] got = ops.toHost(split.head(ops, p, split.hiddenFrom(ops, p, b, l,
                                split.layerInput(ops, p, b, l))));
                        assertArrayEquals(whole, got, c.name() + " split at layer " + l);
                    }
                    assertThrows(IllegalArgumentException.class, () -> split.layerInput(ops, p, b,
                            c.model().config().numLayers()), c.name());
                }
            }
            LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 11, true));
            LayerSplit split = (LayerSplit) e.model();
            Batch b = new Batch(2, 5, new int[] {2, 15, 22, 19, 3, 2, 16, 3, 0, 0}, new int[] {1, 1, 1, 1, 1, 1, 1,
                1, 0, 0});
            try (Parameters p = ops.createParameters(e.parameters(), DType.F32)) {
                float[] whole = ops.toHost(e.model().hiddenStates(ops, p, b, null));
                for (int l = 0; l < e.model().config().numLayers(); l++) {
                    float[] got = ops.toHost(split.hiddenFrom(ops, p, b, l, split.layerInput(ops, p, b, l)));
                    assertArrayEquals(whole, got, "bert split at layer " + l);
                }
            }
        }
    }

    /** The base weights, recording the rows of every layer input a forward runs on. */
    private static final class Recording implements WeightSource {
        private final WeightSource base;
        final List<int[]> seen = new ArrayList<>(); // (layer, rows)

        Recording(WeightSource base) {
            this.base = base;
        }

        @Override
        public Tensor weight(int index) {
            return base.weight(index);
        }

        @Override
        public void observeLayerInput(Ops ops, int layer, Tensor x) {
            seen.add(new int[] {layer, x.rows()});
        }
    }

    @Test
    void thePopulationsForwardRunsTheLayersBelowOnceAndGivesTheWholeForward() throws IOException {
        int lambda = 4;
        try (CpuOps ops = new CpuOps()) {
            for (Case c : decoders()) {
                int layers = c.model().config().numLayers();
                Subspace s = subspace(c, 9);
                Random r = new Random(9);
                Batch member = c.train().batch();
                int m = member.tokens();
                Batch rep = repeat(member, lambda);
                LanguageModel shared = SharedLayers.wrap(c.model());
                assertTrue(shared instanceof SharedLayers.Decoder, c.name());
                for (int layer = 0; layer < layers; layer++) {
                    double[][] candidates = new double[lambda][];
                    for (int i = 0; i < lambda; i++) {
                        candidates[i] = gaussian(r, D);
                    }
                    double[][] current = new double[layers][];
                    for (int l = 0; l < layers; l++) {
                        current[l] = gaussian(r, D);
                    }
                    GenerationFactors g = GenerationFactors.of(s, layer, candidates, current, m);
                    List<HostTensor> host = new ArrayList<>();
                    for (int k = 0; k < g.slots().size(); k++) {
                        GenerationFactors.Slot slot = g.slots().get(k);
                        host.add(HostTensor.ofFloats("a", g.a(k), slot.rank(), slot.in()));
                        host.add(HostTensor.ofFloats("b", g.b(k), slot.out(), slot.rank()));
                    }
                    String what = c.name() + " searched layer " + layer;
                    try (Parameters p = ops.createParameters(c.weights(), DType.F32);
                         Parameters f = ops.createParameters(host, DType.F32)) {
                        Recording rec = new Recording(p);
                        SharedLayers.SplitWeights w = SharedLayers.weights(rec, g, m, k -> f.weight(2 * k),
                                k -> f.weight(2 * k + 1));
                        float[] got = ops.toHost(shared.forward(ops, w, rep));
                        List<int[]> seen = new ArrayList<>(rec.seen);
                        rec.seen.clear();
                        float[] whole = ops.toHost(c.model().forward(ops, w.full(), rep));
                        assertArrayEquals(whole, got, what);
                        assertEquals(layers, seen.size(), what);
                        for (int[] lr : seen) {
                            assertEquals(lr[0] < layer ? m : lambda * m, lr[1], what + ": layer " + lr[0] + "'s rows");
                        }
                        // the head at chosen rows: those rows of the logits
                        int vocab = c.model().config().vocabSize();
                        int[] rows = {rep.tokens() - 1, 0, m + 2, 3};
                        float[] at = ops.toHost(((SharedLayers.Decoder) shared).logitsAt(ops, w, rep, rows));
                        for (int i = 0; i < rows.length; i++) {
                            assertArrayEquals(Arrays.copyOfRange(whole, rows[i] * vocab, (rows[i] + 1) * vocab),
                                    Arrays.copyOfRange(at, i * vocab, (i + 1) * vocab), what + " head row " + rows[i]);
                        }
                    }
                }
            }
        }
    }

    /**
     * On CUDA (float32) the decoders' device generation with the LM head at the answer positions only (at every size:
     * {@link BatchedPopulation#answerHeadAlways}): captured == uncaptured bit for bit, within 1e-5 relative of each
     * member merged into the weights and of the generation with the full logits, over an uncaptured, a capturing and
     * a replayed generation of the last layer with layer 0 at a non-zero point.
     */
    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void onCudaTheHeadAtTheAnswerPositionsGivesTheFullLogitsLosses() {
        org.zotune.cuda.Cuda.Availability a = org.zotune.cuda.Cuda.availability();
        org.junit.jupiter.api.Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        List<Case> cases = new ArrayList<>(decoders());
        cases.add(decoder("opt pre-norm accuracy", new ModelConfig(ModelFamily.OPT, 13, 8, 3, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, true, true, 8, 0, null, true, true, 0, 2, 1),
                new org.zotune.train.objective.NegativeAccuracy(), 4));
        List<String> failures = new ArrayList<>();
        try (org.zotune.backend.cuda.CudaOps ops = org.zotune.backend.cuda.CudaOps.create(DType.F32)) {
            for (Case c : cases) {
                int last = c.model().config().numLayers() - 1;
                Subspace s = subspace(c, 41);
                Random r = new Random(41);
                double[][] current = new double[s.layers()][D];
                current[0] = gaussian(r, D);
                double[][] candidates = new double[5][];
                for (int i = 0; i < candidates.length; i++) {
                    candidates[i] = gaussian(r, D);
                }
                try (Parameters p = ops.createParameters(c.weights(), DType.F32);
                     BatchedPopulation graph = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                             BatchedPopulation.Mode.GRAPH);
                     BatchedPopulation device = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                             BatchedPopulation.Mode.DEVICE);
                     BatchedPopulation full = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                             BatchedPopulation.Mode.GRAPH)) {
                    graph.answerHeadAlways();
                    device.answerHeadAlways();
                    double[] merged = new double[candidates.length];
                    for (int i = 0; i < candidates.length; i++) {
                        double[][] points = current.clone();
                        points[last] = candidates[i];
                        try (Parameters m = ops.createParameters(merged(c, s, points), DType.F32)) {
                            merged[i] = c.objective().loss(ops, c.model(), m, c.train());
                        }
                    }
                    double[] want = full.losses(last, candidates, current);
                    for (int g = 0; g < 3; g++) {
                        double[] got = graph.losses(last, candidates, current);
                        double[] uncaptured = device.losses(last, candidates, current);
                        double relMerged = 0;
                        double relFull = 0;
                        for (int i = 0; i < got.length; i++) {
                            relMerged = Math.max(relMerged, Math.abs(got[i] - merged[i]) / Math.max(1,
                                    Math.abs(merged[i])));
                            relFull = Math.max(relFull, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
                        }
                        String what = c.name() + " generation " + g + " (replayed " + graph.device().replayed() + ")";
                        System.out.printf(java.util.Locale.ROOT, "%s: answer-position head vs one at a time max rel "
                                + "%.3g, vs full logits %.3g, vs uncaptured %s%n", what, relMerged, relFull,
                                Arrays.equals(got, uncaptured) ? "bitwise" : "DIFFERENT");
                        if (!Arrays.equals(got, uncaptured)) {
                            failures.add(what + ": captured " + Arrays.toString(got) + " != uncaptured "
                                    + Arrays.toString(uncaptured));
                        }
                        if (!(relMerged <= 1e-5) || !(relFull <= 1e-5)) {
                            failures.add(what + ": vs one at a time " + relMerged + ", vs full logits " + relFull);
                        }
                    }
                    if (!graph.device().replayed()) {
                        failures.add(c.name() + ": the third generation did not replay");
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void aBatchThatIsNotEqualCopiesRunsTheWholeForward() {
        Batch member = new Batch(2, 3, new int[] {5, 6, 7, 8, 9, 0}, new int[] {1, 1, 1, 1, 1, 0});
        Batch rep = repeat(member, 3);
        Batch first = SharedLayers.memberOf(rep, 6);
        assertNotNull(first);
        assertArrayEquals(member.ids(), first.ids());
        assertArrayEquals(member.mask(), first.mask());
        assertEquals(2, first.batch());
        int[] ids = rep.ids().clone();
        ids[13] = 4; // copy 2 differs
        assertNull(SharedLayers.memberOf(new Batch(6, 3, ids, rep.mask()), 6));
        assertNull(SharedLayers.memberOf(rep, 4)); // not whole rows
        assertNull(SharedLayers.memberOf(rep, 12 + 3)); // not a divisor
    }

    @Test
    void answerRowsAreThePositionsWithTargetsPaddedPerRow() {
        // three rows of 5: answers at {3, 4}, {2}, {1, 2, 3}
        int[] targets = {-1, -1, -1, 7, 8, -1, -1, 9, -1, -1, -1, 4, 5, 6, -1};
        AnswerRows a = AnswerRows.of(targets, 5);
        assertEquals(3, a.perRow());
        assertArrayEquals(new int[] {3, 4, 0, 7, 5, 5, 11, 12, 13}, a.positions());
        assertArrayEquals(new int[] {7, 8, -1, 9, -1, -1, 4, 5, 6}, a.targets());
        assertThrows(IllegalArgumentException.class, () -> AnswerRows.of(targets, 4));
    }

    @Test
    void aGenerationWhoseTensorsPass2To31IsRefusedInOneLine() {
        // GPT-2 large: vocabulary 50257, hidden 1280, 36 layers, 20 heads of 64, inner 5120
        ModelConfig large = new ModelConfig(ModelFamily.GPT2, 50257, 1280, 36, 20, 20, 64, 5120, 1024, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 1280, 0, null, true, true, -1, 50256, -1);
        int member = 64 * 64; // 64 candidate rows of 64 tokens
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> PopulationSizes.check(large, 20, member, 64, member));
        assertEquals("dfo: one batched generation of population 20 x 4096 head rows x vocabulary 50257 = 4117053440 "
                + "logits in one tensor, more than 2^31 - 1; lower dfo.population or the training set, or spread the "
                + "population (parallel.gpus)", e.getMessage());
        PopulationSizes.check(large, 20, member, 64, 64); // the head at one answer position per row
        ZotuneException act = assertThrows(ZotuneException.class,
                () -> PopulationSizes.check(large, 20, 512 * 512, 512, 0));
        assertTrue(act.getMessage().startsWith("dfo: one batched generation of population 20 x 512 rows x 512 tokens "
                + "x width 5120 = 26843545600 activations"), act.getMessage());
        ZotuneException att = assertThrows(ZotuneException.class,
                () -> PopulationSizes.check(large, 20, 16 * 1024, 1024, 0));
        assertTrue(att.getMessage().contains("x 20 heads x 1024 keys = 6710886400 attention scores"),
                att.getMessage());
    }

    private static Batch repeat(Batch b, int copies) {
        int t = b.tokens();
        int[] ids = new int[copies * t];
        int[] mask = new int[copies * t];
        for (int i = 0; i < copies; i++) {
            System.arraycopy(b.ids(), 0, ids, i * t, t);
            System.arraycopy(b.mask(), 0, mask, i * t, t);
        }
        return new Batch(copies * b.batch(), b.seq(), ids, mask);
    }
}
