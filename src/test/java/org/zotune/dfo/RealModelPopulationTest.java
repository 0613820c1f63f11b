package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.LabelSimilarity;

/**
 * Real checkpoints: the article's setting on all-MiniLM-L6-v2 (label similarity, D = 500, r = 4, s_l from the
 * model's own σ̂) and the bundled decoder stories260K (Llama, grouped keys; prompt classification): the batched
 * population against each member merged into a copy of the weights (the exported adapter), and z = 0 against the
 * base model's loss, exactly. Prints σ̂.
 */
class RealModelPopulationTest {
    @Test
    void batchedGenerationOnMiniLmEqualsTheMergedMembers() throws IOException {
        Path folder = TestData.file("models/all-MiniLM-L6-v2");
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"));
             CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            String[] texts = {"a gripping , beautifully acted film", "dull and far too long",
                "the plot makes no sense at all", "one of the best movies of the year"};
            int[] gold = {1, 0, 0, 1};
            List<EncodedExample> ex = new ArrayList<>();
            for (int i = 0; i < texts.length; i++) {
                ex.add(new EncodedExample("x" + i, new int[][] {tok.encode(texts[i])}, new int[] {0}, gold[i]));
            }
            PromptBatch train = PromptBatch.of(ex, 0);
            LabelSimilarity sim = new LabelSimilarity(new int[][] {tok.encode("It was terrible."),
                tok.encode("It was great.")}, LabelSimilarity.Pooling.MEAN, LabelSimilarity.DEFAULT_TEMPERATURE, 0);
            double[] sigma = HiddenStatistics.sigmaHat(ops, m.model(), p,
                    m.parameters().get(HiddenStatistics.wordEmbedding(m.model())).toFloats(), train.batch());
            System.out.println("all-MiniLM-L6-v2 sigma-hat per layer: " + java.util.Arrays.toString(sigma));
            double[] scales = new double[sigma.length];
            for (int l = 0; l < sigma.length; l++) {
                assertTrue(sigma[l] > 0 && Double.isFinite(sigma[l]), "sigma " + l);
                scales[l] = Subspace.aScale(sigma[l], 1, 500, 1);
            }
            Subspace s = Subspace.of(AttentionTargets.of(m.model()), 500, 4, 42, scales);
            BatchedPopulation pop = new BatchedPopulation(ops, m.model(), p, sim, train, s);
            double base = sim.loss(ops, m.model(), p, train);
            double[][] zero = new double[s.layers()][500];
            for (double v : pop.losses(3, new double[2][500], zero)) {
                assertEquals(base, v);
            }
            Random r = new Random(5);
            double[][] current = new double[s.layers()][500];
            double[][] candidates = new double[3][500];
            fill(r, current[1]); // another layer's current point applies to every member
            for (double[] z : candidates) {
                fill(r, z);
            }
            double[] batched = pop.losses(3, candidates, current);
            for (int i = 0; i < candidates.length; i++) {
                double[][] points = current.clone();
                points[3] = candidates[i];
                DfoAdapter adapter = DfoAdapter.of(s, points);
                try (Parameters merged = ops.createParameters(adapter.merged(s, m.parameters()), DType.F32)) {
                    double want = sim.loss(ops, m.model(), merged, train);
                    assertEquals(want, batched[i], 1e-5 * Math.max(1, Math.abs(want)), "member " + i);
                }
            }
            assertNotEquals(batched[0], batched[1]);
            assertNotEquals(base, batched[0]);
            System.out.printf("all-MiniLM-L6-v2 label similarity: base loss %.6f, members %s%n", base,
                    java.util.Arrays.toString(batched));
        }
    }

    @Test
    void batchedGenerationOnStories260KEqualsTheMergedMembers() throws IOException {
        LoadedModel m = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        Llama2cTokenizer tok = Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
        String[] prompts = {"Once upon a time, there was a little", "Lily went to the park and saw a big",
            "Tom was sad because he lost his"};
        String[][] options = {{" girl", " dog"}, {" tree", " ball"}, {" toy", " friend"}};
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            int[] p = tok.encode(prompts[i]);
            int[][] rows = new int[2][];
            int[] starts = new int[2];
            for (int c = 0; c < 2; c++) {
                int[] o = tok.encodeNoSpecial(options[i][c]);
                rows[c] = java.util.Arrays.copyOf(p, p.length + o.length);
                System.arraycopy(o, 0, rows[c], p.length, o.length);
                starts[c] = p.length;
            }
            ex.add(new EncodedExample("x" + i, rows, starts, i % 2));
        }
        PromptBatch train = PromptBatch.of(ex, 0);
        ClassificationLoss objective = new ClassificationLoss();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            double[] sigma = HiddenStatistics.sigmaHat(ops, m.model(), p,
                    m.parameters().get(HiddenStatistics.wordEmbedding(m.model())).toFloats(), train.batch());
            System.out.println("stories260K sigma-hat per layer: " + java.util.Arrays.toString(sigma));
            double[] scales = new double[sigma.length];
            for (int l = 0; l < sigma.length; l++) {
                scales[l] = Subspace.aScale(sigma[l], 1, 100, 1);
            }
            Subspace s = Subspace.of(AttentionTargets.of(m.model()), 100, 4, 42, scales);
            BatchedPopulation pop = new BatchedPopulation(ops, m.model(), p, objective, train, s);
            double base = objective.loss(ops, m.model(), p, train);
            int last = s.layers() - 1;
            for (double v : pop.losses(last, new double[3][100], new double[s.layers()][100])) {
                assertEquals(base, v);
            }
            Random r = new Random(9);
            double[][] current = new double[s.layers()][100];
            fill(r, current[0]);
            double[][] candidates = new double[3][100];
            for (double[] z : candidates) {
                fill(r, z);
            }
            double[] batched = pop.losses(last, candidates, current);
            for (int i = 0; i < candidates.length; i++) {
                double[][] points = current.clone();
                points[last] = candidates[i];
                DfoAdapter adapter = DfoAdapter.of(s, points);
                try (Parameters merged = ops.createParameters(adapter.merged(s, m.parameters()), DType.F32)) {
                    double want = objective.loss(ops, m.model(), merged, train);
                    assertEquals(want, batched[i], 1e-5 * Math.max(1, Math.abs(want)), "member " + i);
                }
            }
            assertNotEquals(batched[0], batched[1]);
        }
    }

    private static void fill(Random r, double[] z) {
        for (int i = 0; i < z.length; i++) {
            z[i] = r.nextGaussian();
        }
    }
}
