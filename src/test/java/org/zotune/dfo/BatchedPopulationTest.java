package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.zotune.dfo.PopulationFixtures.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.AttentionTargets.Projection;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.LabelSimilarity;
import org.zotune.train.objective.MaskedLmPrompt;
import org.zotune.train.objective.NegativeAccuracy;
import org.zotune.train.objective.NegativeF1;

/**
 * The batched population forward against the members evaluated one at a time: each member's factors (and the other
 * layers' current factors) merged into a copy of the weights, W' = W + B·A computed here, through the existing
 * forward and objective; on a tiny random BERT (masked-LM prompt) and tiny random GPT-2 (packed q|k|v), OPT (pre- and
 * post-norm) and Llama (grouped keys) with prompt classification, −accuracy and the LM loss; λ = 3, odd lengths,
 * padding. z = 0 reproduces the base model's loss exactly.
 */
class BatchedPopulationTest {

    @TempDir
    Path dir;


    @Test
    void batchedLossesEqualTheMembersMergedOneAtATime() throws IOException {
        try (CpuOps ops = new CpuOps()) {
            for (Case c : cases()) {
                for (int layer : new int[] {0, c.model().config().numLayers() - 1}) {
                    checkAgainstMerged(ops, c, layer, 17 + layer);
                }
            }
        }
    }

    /** The same generic path on the CUDA backend (per-member products through CudaOps), float32. */
    @Test
    @Tag("gpu")
    void onCudaBatchedLossesEqualTheMembersMergedOneAtATime() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        try (CudaOps ops = CudaOps.create(DType.F32)) {
            for (Case c : cases()) {
                for (int layer : new int[] {0, c.model().config().numLayers() - 1}) {
                    checkAgainstMerged(ops, c, layer, 17 + layer);
                }
            }
        }
    }

    /**
     * A generation spread over 2 and 3 workers, each with its own CPU backend and copy of the weights: the same
     * losses, bit for bit, as one batched forward over all members (each member's rows are computed alone).
     */
    @Test
    void aGenerationSpreadOverWorkersGivesTheBatchedLossesBitForBit() throws IOException {
        for (Case c : cases()) {
            Subspace s = subspace(c, 5);
            Random r = new Random(5);
            double[][] candidates = new double[5][];
            for (int i = 0; i < candidates.length; i++) {
                candidates[i] = gaussian(r, D);
            }
            double[][] current = new double[s.layers()][];
            for (int l = 0; l < current.length; l++) {
                current[l] = gaussian(r, D);
            }
            double[] whole;
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(c.weights(), DType.F32)) {
                whole = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s).losses(1, candidates, current);
            }
            for (int n : new int[] {2, 3}) {
                List<CpuOps> backends = new ArrayList<>();
                List<Parameters> params = new ArrayList<>();
                List<PopulationLoss> workers = new ArrayList<>();
                for (int k = 0; k < n; k++) {
                    CpuOps ops = new CpuOps();
                    Parameters p = ops.createParameters(c.weights(), DType.F32);
                    backends.add(ops);
                    params.add(p);
                    workers.add(new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s));
                }
                try (SpreadPopulation spread = new SpreadPopulation(workers, 60)) {
                    assertArrayEquals(whole, spread.losses(1, candidates, current), c.name() + ", " + n + " workers");
                } finally {
                    params.forEach(Parameters::close);
                    backends.forEach(CpuOps::close);
                }
            }
        }
    }

    @Test
    void aFailingOrHangingPopulationWorkerIsNamed() {
        PopulationLoss fine = new PopulationLoss() {
            public int layers() {
                return 2;
            }

            public int dimension() {
                return 4;
            }

            public double[] losses(int layer, double[][] candidates, double[][] current) {
                return new double[candidates.length];
            }
        };
        PopulationLoss broken = new PopulationLoss() {
            public int layers() {
                return 2;
            }

            public int dimension() {
                return 4;
            }

            public double[] losses(int layer, double[][] candidates, double[][] current) {
                throw new IllegalStateException("out of memory");
            }
        };
        PopulationLoss hung = new PopulationLoss() {
            public int layers() {
                return 2;
            }

            public int dimension() {
                return 4;
            }

            public double[] losses(int layer, double[][] candidates, double[][] current) {
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return new double[candidates.length];
            }
        };
        double[][] cands = new double[4][4];
        double[][] cur = new double[2][4];
        try (SpreadPopulation s = new SpreadPopulation(List.of(fine, broken), 60)) {
            org.zotune.parallel.WorkerFailure f = assertThrows(
                    org.zotune.parallel.WorkerFailure.class, () -> s.losses(0, cands, cur));
            assertEquals(1, f.rank());
            assertEquals("population worker 1 of 2 failed: out of memory", f.getMessage());
        }
        try (SpreadPopulation s = new SpreadPopulation(List.of(fine, fine, hung), 0.5)) {
            org.zotune.parallel.WorkerFailure f = assertThrows(
                    org.zotune.parallel.WorkerFailure.class, () -> s.losses(0, cands, cur));
            assertEquals(2, f.rank());
            assertEquals("population worker 2 of 3 did not answer within 0.5 s (hung or too slow)", f.getMessage());
        }
    }

    @Test
    void zeroPointsReproduceTheBaseModelsLossExactly() throws IOException {
        for (Case c : cases()) {
            Subspace s = subspace(c, 3);
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(c.weights(), DType.F32)) {
                double base = c.objective().loss(ops, c.model(), p, c.train());
                BatchedPopulation pop = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s);
                double[][] current = new double[s.layers()][D];
                double[] losses = pop.losses(1, new double[3][D], current);
                for (double v : losses) {
                    assertEquals(base, v, c.name());
                }
            }
        }
    }

    @Test
    void anObjectiveWithoutABatchedReductionIsRefusedInOneLine() throws IOException {
        Case c = decoder("gpt2", gpt2(), new ClassificationLoss(), 1);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(c.weights(), DType.F32)) {
            ZotuneException e = assertThrows(ZotuneException.class,
                    () -> new BatchedPopulation(ops, c.model(), p, new NegativeF1(), c.train(), subspace(c, 1)));
            assertEquals("objective f1 is not batched over a DFO population; use mlm, similarity, classification, "
                    + "accuracy or lm", e.getMessage());
        }
    }

    @Test
    void theMaterialisedAdapterMergedGivesTheLossOfItsPoints() throws IOException {
        for (Case c : cases()) {
            Subspace s = subspace(c, 23);
            Random r = new Random(23);
            double[][] best = new double[s.layers()][];
            for (int l = 0; l < best.length; l++) {
                best[l] = gaussian(r, D);
            }
            DfoAdapter adapter = DfoAdapter.of(s, best);
            boolean packed = c.model().config().family() == ModelFamily.GPT2;
            assertEquals(packed ? 2 * RANK : RANK, adapter.rank(), c.name());
            assertEquals(packed ? List.of("c_attn") : c.model().config().family() == ModelFamily.BERT
                    ? List.of("query", "key") : List.of("q_proj", "k_proj"), adapter.targetModules(), c.name());
            assertEquals(s.layers() * (packed ? 2 : 4), adapter.tensors().size(), c.name());
            // PEFT layout: per module A [r, in] then B [out, r]; B·A of the packed module is B_Q·A_Q over the q rows,
            // B_K·A_K over the k rows and zero over v
            for (int l = 0; l < s.layers(); l++) {
                Subspace.Factors f = s.factors(l, best[l]);
                Projection q = s.targets().q().get(l);
                Projection k = s.targets().k().get(l);
                if (packed) {
                    HostTensor a = adapter.tensors().get(2 * l);
                    HostTensor b = adapter.tensors().get(2 * l + 1);
                    assertEquals("base_model.model." + q.module() + ".lora_A.weight", a.name());
                    assertArrayEquals(new long[] {2 * RANK, q.in()}, a.shape());
                    assertArrayEquals(new long[] {q.width(), 2 * RANK}, b.shape());
                    double[][] ba = product(b.toFloats(), a.toFloats(), q.width(), 2 * RANK, q.in());
                    double[][] bq = product(f.bQ(), f.aQ(), q.out(), RANK, q.in());
                    double[][] bk = product(f.bK(), f.aK(), k.out(), RANK, k.in());
                    for (int o = 0; o < q.width(); o++) {
                        for (int i = 0; i < q.in(); i++) {
                            double want = o < q.out() ? bq[o][i] : o < q.out() + k.out() ? bk[o - q.out()][i] : 0;
                            assertEquals(want, ba[o][i], 1e-6, c.name() + " row " + o);
                        }
                    }
                } else {
                    HostTensor a = adapter.tensors().get(4 * l + 2);
                    assertEquals("base_model.model." + k.module() + ".lora_A.weight", a.name());
                    assertArrayEquals(new long[] {RANK, k.in()}, a.shape());
                    assertArrayEquals(f.aK(), a.toFloats());
                    assertArrayEquals(new long[] {k.out(), RANK}, adapter.tensors().get(4 * l + 3).shape());
                    assertArrayEquals(f.bK(), adapter.tensors().get(4 * l + 3).toFloats());
                }
            }
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(c.weights(), DType.F32);
                 Parameters m = ops.createParameters(adapter.merged(s, c.weights()), DType.F32)) {
                BatchedPopulation pop = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s);
                double batched = pop.losses(1, new double[][] {best[1]}, best)[0];
                double merged = c.objective().loss(ops, c.model(), m, c.train());
                assertEquals(merged, batched, 1e-5 * Math.max(1, Math.abs(merged)), c.name());
            }
        }
    }

    private static double[][] product(float[] b, float[] a, int rows, int r, int in) {
        double[][] out = new double[rows][in];
        for (int o = 0; o < rows; o++) {
            for (int i = 0; i < in; i++) {
                for (int j = 0; j < r; j++) {
                    out[o][i] += (double) b[o * r + j] * a[j * in + i];
                }
            }
        }
        return out;
    }

    private void checkAgainstMerged(Ops ops, Case c, int layer, long seed) {
        Subspace s = subspace(c, seed);
        Random r = new Random(seed);
        double[][] candidates = new double[3][];
        for (int i = 0; i < candidates.length; i++) {
            candidates[i] = gaussian(r, D);
        }
        double[][] current = new double[s.layers()][];
        for (int l = 0; l < current.length; l++) {
            current[l] = gaussian(r, D); // current[layer] is random too: it must be ignored
        }
        try (Parameters p = ops.createParameters(c.weights(), DType.F32);
             BatchedPopulation pop = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s)) {
            double[] batched = pop.losses(layer, candidates, current);
            double base = c.objective().loss(ops, c.model(), p, c.train());
            for (int i = 0; i < candidates.length; i++) {
                double[][] points = current.clone();
                points[layer] = candidates[i];
                double want;
                try (Parameters merged = ops.createParameters(merged(c, s, points), DType.F32)) {
                    want = c.objective().loss(ops, c.model(), merged, c.train());
                }
                assertEquals(want, batched[i], 1e-5 * Math.max(1, Math.abs(want)),
                        c.name() + " layer " + layer + " member " + i);
            }
            if (!(c.objective() instanceof NegativeAccuracy)) { // the updates reach the loss, per member
                assertNotEquals(batched[0], batched[1], c.name());
                assertNotEquals(base, batched[0], c.name());
            }
        }
    }

    /** The host weights with every layer's W_Q + B_Q·A_Q and W_K + B_K·A_K at its point, in float32. */
    private List<Case> cases() throws IOException {
        List<Case> out = new ArrayList<>();
        out.add(bert());
        out.add(similarity(false));
        out.add(similarity(true));
        ModelConfig gpt2 = gpt2();
        ModelConfig optPost = new ModelConfig(ModelFamily.OPT, 13, 8, 2, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, false, false, 6, 0, null, true, true, 0, 2, 1);
        ModelConfig optPre = new ModelConfig(ModelFamily.OPT, 13, 8, 2, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, true, true, 8, 0, null, true, true, 0, 2, 1);
        ModelConfig llama = new ModelConfig(ModelFamily.LLAMA, 17, 12, 3, 4, 2, 6, 20, 32, 1e-6,
                ModelConfig.Activation.SILU, false, true, true, 12, 10000, null, true, true, 1, 2, -1);
        out.add(decoder("gpt2 classification", gpt2, new ClassificationLoss(), 1));
        out.add(decoder("gpt2 lm", gpt2, new CausalLmLoss(), 2));
        out.add(decoder("opt post-norm classification", optPost, new ClassificationLoss(), 3));
        out.add(decoder("opt pre-norm accuracy", optPre, new NegativeAccuracy(), 4));
        out.add(decoder("llama classification", llama, new ClassificationLoss(), 5));
        return out;
    }

    private static ModelConfig gpt2() {
        return new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);
    }

    /**
     * Label similarity on a tiny random bare BertModel (mean pooling) or one with BERT's pooler: three examples of 6, 9
     * and 5 tokens, label descriptions of 3 and 4 tokens (padded together).
     */
    private Case similarity(boolean pooler) throws IOException {
        LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("sim" + pooler), 13, false,
                pooler));
        int cls = TinyBertFolder.id("[CLS]");
        int sep = TinyBertFolder.id("[SEP]");
        List<EncodedExample> ex = List.of(
                new EncodedExample("a", new int[][] {{cls, 15, 22, 19, 5, sep}}, new int[] {0}, 1),
                new EncodedExample("b", new int[][] {{cls, 16, 23, 10, 29, 9, 10, 20, sep}}, new int[] {0}, 0),
                new EncodedExample("c", new int[][] {{cls, 31, 8, 20, sep}}, new int[] {0}, 0));
        LabelSimilarity sim = new LabelSimilarity(new int[][] {{cls, TinyBertFolder.id("terrible"), sep},
            {cls, TinyBertFolder.id("great"), TinyBertFolder.id("."), sep}},
                pooler ? LabelSimilarity.Pooling.POOLER : LabelSimilarity.Pooling.MEAN, 0.05, 0);
        return new Case("bert similarity " + (pooler ? "pooler" : "mean"), e.model(), e.parameters(), sim,
                PromptBatch.of(ex, 0));
    }

    /** A tiny random BertForMaskedLM, masked-LM prompt over three examples of 6, 9 and 5 tokens (padded). */
    private Case bert() throws IOException {
        LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 11, true));
        int mask = TinyBertFolder.id("[MASK]");
        int cls = TinyBertFolder.id("[CLS]");
        int sep = TinyBertFolder.id("[SEP]");
        List<EncodedExample> ex = List.of(
                new EncodedExample("a", new int[][] {{cls, 15, 22, 19, mask, sep}}, new int[] {4}, 1),
                new EncodedExample("b", new int[][] {{cls, 16, 23, 10, 29, 9, 10, mask, sep}}, new int[] {7}, 0),
                new EncodedExample("c", new int[][] {{cls, mask, 8, 20, sep}}, new int[] {1}, 0));
        MaskedLmPrompt mlm = new MaskedLmPrompt(mask, new int[] {TinyBertFolder.id("terrible"),
            TinyBertFolder.id("great")});
        return new Case("bert mlm", e.model(), e.parameters(), mlm, PromptBatch.of(ex, 0));
    }

    /** Three examples of two candidates each, prompts of 5, 2 and 4 tokens, answers of 1 to 3 tokens (padded). */
}
