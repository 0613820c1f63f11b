package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;
import org.zotune.train.objective.LabelSimilarity.Pooling;

/**
 * Label similarity against computations written here: on a tiny random BertModel (each text encoded alone, pooled by
 * hand: mean, first token, pooler from its weights) and on all-MiniLM-L6-v2 against ONNX Runtime's mean-pooled
 * embeddings (reference.json); the zero-shot SST-2 dev accuracy of MiniLM label similarity is printed.
 */
class LabelSimilarityTest {
    @TempDir
    Path dir;

    private static PromptBatch batch(List<int[]> texts, int[] gold) {
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            ex.add(new EncodedExample("t:" + i, new int[][] {texts.get(i)}, new int[] {0}, gold[i]));
        }
        return PromptBatch.of(ex, 0);
    }

    private static double cos(double[] a, double[] b) {
        double d = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }

    /** −log softmax(s)[gold] averaged, in double. */
    private static double ce(double[][] s, int[] gold) {
        double total = 0;
        for (int x = 0; x < s.length; x++) {
            double z = 0;
            for (double v : s[x]) {
                z += Math.exp(v);
            }
            total += Math.log(z) - s[x][gold[x]];
        }
        return total / s.length;
    }

    @Test
    void lossEqualsAnIndependentComputationOnATinyEncoder() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 23, false, true);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        var stored = SafetensorsFile.open(folder.resolve("model.safetensors")).tensors();
        float[] pw = stored.get("bert.pooler.dense.weight").toFloats();
        float[] pb = stored.get("bert.pooler.dense.bias").toFloats();
        int h = TinyBertFolder.HIDDEN;
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"));
                CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            List<int[]> texts = List.of(tok.encode("the movie was great fun"), tok.encode("dull plot"),
                    tok.encode("it is a boring film , the acting is bad"), tok.encode("loved it"));
            int[] gold = {1, 0, 0, 1};
            int[][] labels = {tok.encode("terrible"), tok.encode("great")};
            // each text alone (no padding), pooled three ways by hand
            List<int[]> all = new ArrayList<>(texts);
            all.add(labels[0]);
            all.add(labels[1]);
            double[][][] pooled = new double[3][all.size()][h];
            for (int r = 0; r < all.size(); r++) {
                int[] ids = all.get(r);
                float[] hs = ops.toHost(m.model().hiddenStates(ops, p, Batch.of(ids), null));
                for (int i = 0; i < h; i++) {
                    double sum = 0;
                    for (int t = 0; t < ids.length; t++) {
                        sum += hs[t * h + i];
                    }
                    pooled[0][r][i] = sum / ids.length;
                    pooled[1][r][i] = hs[i];
                }
                for (int o = 0; o < h; o++) {
                    double z = pb[o];
                    for (int i = 0; i < h; i++) {
                        z += (double) pw[o * h + i] * hs[i];
                    }
                    pooled[2][r][o] = Math.tanh(z);
                }
            }
            PromptBatch b = batch(texts, gold);
            Pooling[] kinds = {Pooling.MEAN, Pooling.CLS, Pooling.POOLER};
            for (int k = 0; k < 3; k++) {
                for (double tau : new double[] {LabelSimilarity.DEFAULT_TEMPERATURE, 0.5}) {
                    LabelSimilarity obj = new LabelSimilarity(labels, kinds[k], tau, 0);
                    double[][] want = new double[texts.size()][2];
                    for (int x = 0; x < texts.size(); x++) {
                        for (int c = 0; c < 2; c++) {
                            want[x][c] = cos(pooled[k][x], pooled[k][texts.size() + c]) / tau;
                        }
                    }
                    double[][] got = obj.choiceScores(ops, m.model(), p, b);
                    for (int x = 0; x < texts.size(); x++) {
                        for (int c = 0; c < 2; c++) {
                            assertEquals(want[x][c], got[x][c], 1e-4 * (1 + Math.abs(want[x][c])),
                                    kinds[k] + " tau " + tau + " s[" + x + "][" + c + "]");
                        }
                    }
                    double wantLoss = ce(want, gold);
                    assertEquals(wantLoss, obj.loss(ops, m.model(), p, b), 1e-4 * (1 + wantLoss), kinds[k] + " loss");
                    Evaluator.Result r = Evaluator.evaluate(ops, m.model(), p,
                            List.of(new EncodedExample("a", new int[][] {texts.get(0)}, new int[] {0}, 1),
                                    new EncodedExample("b", new int[][] {texts.get(1)}, new int[] {0}, 0)), 2, 0, obj);
                    int[] pred = {want[0][1] > want[0][0] ? 1 : 0, want[1][1] > want[1][0] ? 1 : 0};
                    assertArrayEquals(pred, r.predictions());
                }
            }
        }
    }

    @Test
    void lossOnMiniLmEqualsOnnxRuntimeEmbeddings() throws IOException {
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        JsonNode ref = new ObjectMapper().readTree(model.resolve("reference.json").toFile());
        LoadedEncoder m = ModelLoader.loadEncoder(model);
        int[][] ids = new int[ref.get("sentences").size()][];
        for (int s = 0; s < ids.length; s++) {
            List<Integer> row = new ArrayList<>();
            for (int t = 0; t < ref.get("input_ids").get(s).size(); t++) {
                if (ref.get("attention_mask").get(s).get(t).asInt() != 0) {
                    row.add(ref.get("input_ids").get(s).get(t).asInt());
                }
            }
            ids[s] = row.stream().mapToInt(Integer::intValue).toArray();
        }
        // sentences 0, 2, 3, 4 scored against the descriptions 1 and 5
        int[] xs = {0, 2, 3, 4};
        int[] cs = {1, 5};
        int[] gold = {0, 1, 1, 0};
        for (double tau : new double[] {LabelSimilarity.DEFAULT_TEMPERATURE, 1.0}) {
            double[][] want = new double[xs.length][cs.length];
            for (int x = 0; x < xs.length; x++) {
                for (int c = 0; c < cs.length; c++) {
                    double dot = 0;
                    JsonNode a = ref.get("mean_pooled_normalised").get(xs[x]);
                    JsonNode b = ref.get("mean_pooled_normalised").get(cs[c]);
                    for (int i = 0; i < a.size(); i++) {
                        dot += a.get(i).asDouble() * b.get(i).asDouble();
                    }
                    want[x][c] = dot / tau;
                }
            }
            LabelSimilarity obj = new LabelSimilarity(new int[][] {ids[cs[0]], ids[cs[1]]}, Pooling.MEAN, tau, 0);
            List<int[]> texts = new ArrayList<>();
            for (int x : xs) {
                texts.add(ids[x]);
            }
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
                PromptBatch b = batch(texts, gold);
                double[][] got = obj.choiceScores(ops, m.model(), p, b);
                for (int x = 0; x < xs.length; x++) {
                    for (int c = 0; c < cs.length; c++) {
                        assertEquals(want[x][c], got[x][c], 1e-4 / tau, "tau " + tau + " s[" + x + "][" + c + "]");
                    }
                }
                double wantLoss = ce(want, gold);
                assertEquals(wantLoss, obj.loss(ops, m.model(), p, b), 1e-4 / tau, "tau " + tau + " loss");
            }
        }
    }

    /** A measurement (2-3 minutes on two cores), not a check: runs with -Dzotune.measure=true only. */
    @Test
    void zeroShotSst2AccuracyOfMiniLmIsPrinted() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        Path dev = TestData.file("datasets/sst2-glue/dev.tsv");
        List<String> lines = Files.readAllLines(dev);
        int n = 300;
        LoadedEncoder m = ModelLoader.loadEncoder(model);
        try (HfTokenizer tok = HfTokenizer.load(model.resolve("tokenizer.json"));
                CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            String[][] descriptions = {{"negative", "positive"}, {"It was terrible.", "It was great."}};
            for (String[] d : descriptions) {
                LabelSimilarity obj = new LabelSimilarity(new int[][] {tok.encode(d[0]), tok.encode(d[1])},
                        Pooling.MEAN, LabelSimilarity.DEFAULT_TEMPERATURE, 0);
                List<EncodedExample> ex = new ArrayList<>();
                for (int i = 1; i <= n; i++) {
                    String[] f = lines.get(i).split("\t");
                    ex.add(new EncodedExample("dev.tsv:" + (i + 1), new int[][] {tok.encode(f[0].strip())},
                            new int[] {0}, Integer.parseInt(f[1].strip())));
                }
                Evaluator.Result r = Evaluator.evaluate(ops, m.model(), p, ex, 32, 0, obj);
                assertTrue(r.accuracy() >= 0 && r.accuracy() <= 1);
                System.out.printf("zero-shot SST-2 (first %d GLUE dev sentences), all-MiniLM-L6-v2 label similarity, "
                        + "mean pooling, tau %.2f, descriptions '%s' / '%s': accuracy %.4f, loss %.4f%n", n,
                        LabelSimilarity.DEFAULT_TEMPERATURE, d[0], d[1], r.accuracy(), r.loss());
            }
        }
    }

    @Test
    void refusalsAreOneLine() throws IOException {
        int[][] two = {{2, 11, 3}, {2, 12, 3}};
        assertTrue(assertThrows(ZotuneException.class, () -> new LabelSimilarity(new int[][] {{2, 3}}, Pooling.MEAN,
                0.05, 0)).getMessage().contains("at least 2 labels"));
        assertTrue(assertThrows(ZotuneException.class, () -> new LabelSimilarity(two, Pooling.MEAN, 0, 0))
                .getMessage().contains("temperature must be a positive number"));
        assertTrue(assertThrows(ZotuneException.class, () -> Pooling.parse("max")).getMessage()
                .contains("'max' is not one of mean, cls, pooler"));
        LoadedEncoder m = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("np"), 3, true));
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            String msg = assertThrows(ZotuneException.class, () -> new LabelSimilarity(two, Pooling.POOLER, 0.05, 0)
                    .loss(ops, m.model(), p, batch(List.of(new int[] {2, 9, 3}), new int[] {0}))).getMessage();
            assertTrue(msg.contains("has no pooler"), msg);
        }
    }
}
