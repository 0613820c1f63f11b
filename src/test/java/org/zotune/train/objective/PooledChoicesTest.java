package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The description the pooling encoder objectives give the captured CUDA step ({@link PooledChoices}) and its
 * plain-Java loss (the reference of choice_loss.cu's pool_rows + head_loss / similarity_loss): fed the forward's
 * output on the CPU backend (tiny random BERT), it gives the objective's own CPU loss bit for bit, for objective head
 * (mean, cls and pooler pooling, a random 3-label head) and label similarity (mean, cls, pooler; temperature 0.5 and 0.05).
 */
class PooledChoicesTest {
    @TempDir
    Path dir;

    private static final String[] TEXTS = {"the movie was great fun", "dull plot", "a boring film , the acting is bad",
        "loved it", "the film is fun"};

    @Test
    void headReferenceEqualsTheObjectivesCpuLoss() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 7, false, true); // with the pooler
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        SequenceClassifier model = new SequenceClassifier(m.model(), 3);
        List<HostTensor> init = new ArrayList<>(m.parameters());
        Random rnd = new Random(3);
        for (HostTensor t : model.zeroHead()) {
            float[] v = new float[Math.toIntExact(t.numel())];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) rnd.nextGaussian();
            }
            init.add(HostTensor.ofFloats(t.name(), v, t.shape()));
        }
        PromptBatch b = batch(folder, new int[] {2, 0, 1, 1, 0});
        int compared = 0;
        for (HeadClassification.Pooling pooling : HeadClassification.Pooling.values()) {
            HeadClassification objective = new HeadClassification(pooling);
            PooledChoices c = objective.pooledChoices(model, b).orElseThrow();
            assertEquals(PooledChoices.Scoring.HEAD, c.scoring());
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(init, DType.F32)) {
                float want = objective.loss(ops, model, p, b);
                float got = reference(ops, model, p, c);
                System.out.printf("head %s: objective %.9g reference %.9g%n", pooling, want, got);
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "head " + pooling);
                compared++;
            }
        }
        assertEquals(3, compared);
        PromptBatch badGold = batch(folder, new int[] {3, 0, 1, 1, 0});
        String msg = assertThrows(ZotuneException.class,
                () -> new HeadClassification(HeadClassification.Pooling.MEAN).pooledChoices(model, badGold))
                .getMessage();
        assertEquals("example 0 of the batch has no gold label among its 3 labels", msg);
    }

    @Test
    void similarityReferenceEqualsTheObjectivesCpuLoss() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 8, false, true);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        PromptBatch b = batch(folder, new int[] {1, 0, 0, 1, 1});
        int[][] labels;
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            TextRowEncoder enc = new TextRowEncoder(tok, 64);
            labels = new int[][] {enc.description("0", "it was terrible"), enc.description("1", "it was great")};
        }
        int compared = 0;
        for (LabelSimilarity.Pooling pooling : LabelSimilarity.Pooling.values()) {
            for (double temperature : new double[] {0.5, 0.05}) {
                LabelSimilarity objective = new LabelSimilarity(labels, pooling, temperature, 0);
                PooledChoices c = objective.pooledChoices(m.model(), b).orElseThrow();
                assertEquals(b.examples() + 2, c.batch().batch(), "the joint batch: examples then descriptions");
                try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
                    float want = objective.loss(ops, m.model(), p, b);
                    float got = reference(ops, m.model(), p, c);
                    System.out.printf("similarity %s tau %.2f: objective %.9g reference %.9g%n", pooling,
                            temperature, want, got);
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                            "similarity " + pooling + " " + temperature);
                    compared++;
                }
            }
        }
        assertEquals(6, compared);
    }

    /** The forward the device step runs (hidden states, or the pooler's output), then the reference loss. */
    private static float reference(Ops ops, LanguageModel model, Parameters p, PooledChoices c) {
        EncoderModel e = (EncoderModel) model;
        try (Ops.Scope s = ops.scope()) {
            Tensor hidden = e.hiddenStates(ops, p, c.batch(), null);
            Tensor out = c.pooling() == PooledChoices.Pooling.POOLER ? e.pooled(ops, p, hidden, c.batch().seq())
                    : hidden;
            float[] w = c.headWeight() >= 0 ? ops.toHost(p.weight(c.headWeight())) : null;
            float[] bias = c.headBias() >= 0 ? ops.toHost(p.weight(c.headBias())) : null;
            return c.loss(ops.toHost(out), model.config().hiddenSize(), w, bias);
        }
    }

    private static PromptBatch batch(Path folder, int[] gold) throws IOException {
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            TextRowEncoder enc = new TextRowEncoder(tok, 64);
            List<EncodedExample> ex = new ArrayList<>();
            for (int i = 0; i < gold.length; i++) {
                ex.add(enc.encode("t:" + i, List.of(TEXTS[i]), gold[i]));
            }
            return PromptBatch.of(ex, 0);
        }
    }
}
