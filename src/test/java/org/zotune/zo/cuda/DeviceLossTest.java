package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;
import org.zotune.train.objective.MaskedChoices;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * The plain-Java references of choice_loss.cu's reductions against naive definitions: choice_row_sums' block order
 * gives the row's sum within float32 accumulation error (exactly for integer values) and its exact target count;
 * loss_mean is the in-order float32 mean; a description that does not fit its batch is refused; and the masked-LM
 * prompt's reference (masked_choice_loss's) on its own forward (the MLM head at the mask rows) gives the objective's
 * CPU loss bit for bit on a tiny random BERT, at θ and with other weights.
 */
class DeviceLossTest {
    @TempDir
    Path dir;

    @Test
    void maskedChoicesReferenceEqualsTheObjectivesCpuLoss() throws IOException {
        int compared = 0;
        for (long seed : new long[] {11, 12, 13}) {
            Path folder = TinyBertFolder.write(dir.resolve("bert" + seed), seed, true);
            LoadedEncoder model = ModelLoader.loadEncoder(folder);
            MaskedPromptEncoder enc = MaskedPromptEncoder.of(HfTokenizer.load(folder.resolve("tokenizer.json")), 0,
                    32);
            Map<String, String> words = new LinkedHashMap<>();
            words.put("neg", "terrible");
            words.put("pos", "great");
            MaskedTemplate t = new MaskedTemplate("t", "{text} It was [MASK].", words);
            List<Example> ex = new ArrayList<>();
            String[] texts = {"the movie is fun", "dull plot", "the acting was boring , the film was bad", "fun",
                "the film is great"};
            for (int i = 0; i < texts.length; i++) {
                ex.add(new Example("d.jsonl:" + (i + 1), Map.of("text", texts[i]), i % 2, List.of()));
            }
            Dataset d = new Dataset("d", Dataset.Kind.CLASSIFICATION, List.of("neg", "pos"), List.of("text"), ex,
                    List.of());
            PromptBatch b = PromptBatch.of(enc.encode(d, t), 0); // encode checks the template: words() after it
            MaskedLmPrompt objective = new MaskedLmPrompt(enc.maskId(), enc.labelTokens(t.words(), false));
            MaskedChoices c = objective.maskedChoices(model.model(), b).orElseThrow();
            DeviceLoss.MaskedChoices loss = new DeviceLoss.MaskedChoices(c.rows(), c.tokens(), c.gold());
            int vocab = model.model().config().vocabSize();
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
                float want = objective.loss(ops, model.model(), p, b);
                float[] logits;
                try (Ops.Scope s = ops.scope()) {
                    logits = ops.toHost(loss.forward().run(ops, model.model(), p, b.batch()));
                }
                assertEquals(texts.length * vocab, logits.length);
                float got = loss.reference(logits, vocab);
                System.out.printf("mlm prompt, BERT seed %d: objective %.9g reference %.9g%n", seed, want, got);
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "seed " + seed);
                compared++;
            }
        }
        assertEquals(3, compared);
    }

    @Test
    void rowSumsAreTheRowsSumsAndCounts() {
        Random rnd = new Random(5);
        for (int seq : new int[] {1, 7, 33, 1024, 1025, 2100}) {
            int rows = 3;
            float[] loss = new float[rows * seq];
            float[] whole = new float[rows * seq];
            int[] targets = new int[rows * seq];
            for (int i = 0; i < loss.length; i++) {
                targets[i] = rnd.nextInt(3) == 0 ? -1 : rnd.nextInt(50);
                loss[i] = targets[i] < 0 ? 0f : 10f * rnd.nextFloat();
                whole[i] = targets[i] < 0 ? 0f : rnd.nextInt(100);
            }
            float[] got = DeviceLoss.rowSums(loss, targets, seq);
            float[] exact = DeviceLoss.rowSums(whole, targets, seq);
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                long wsum = 0;
                int count = 0;
                for (int t = 0; t < seq; t++) {
                    sum += loss[r * seq + t];
                    wsum += (long) whole[r * seq + t];
                    count += targets[r * seq + t] >= 0 ? 1 : 0;
                }
                assertEquals(sum, got[2 * r], 1e-6 * sum + 1e-6, "seq " + seq + " row " + r);
                assertEquals((float) count, got[2 * r + 1], "count, seq " + seq + " row " + r);
                assertEquals((float) wsum, exact[2 * r], "integer sum, seq " + seq + " row " + r);
            }
        }
    }

    @Test
    void meanSumsInOrderThenDivides() {
        assertEquals(2.5f, DeviceLoss.mean(new float[] {5f, 2f}));
        float a = 1f / 3f;
        float b = 0.1f / 7f;
        float c = 1e8f / 1f;
        assertEquals(((a + b) + c) / 3, DeviceLoss.mean(new float[] {1f, 3f, 0.1f, 7f, 1e8f, 1f}));
    }

    @Test
    void descriptionsCheckTheirBatch() {
        Batch b = new Batch(2, 3, new int[6], new int[] {1, 1, 1, 1, 1, 1});
        new DeviceLoss.TokenCrossEntropy(new int[6]).check(b);
        assertThrows(org.zotune.ZotuneException.class, () -> new DeviceLoss.TokenCrossEntropy(new int[5]).check(b));
        DeviceLoss.Choices c = new DeviceLoss.Choices(new int[] {-1, 4, -1, -1, 5, -1}, 3, new int[] {0},
                new int[] {2}, new int[] {1}, 0, 2);
        c.check(b);
        assertEquals(List.of(new int[] {-1, 4, -1, -1, 5, -1}.length, 3), List.of(c.ints().get(0).length,
                c.ints().get(1).length));
        assertThrows(IllegalArgumentException.class, () -> new DeviceLoss.Choices(new int[6], 3, new int[] {0},
                new int[] {2}, new int[] {2}, 0, 2)); // gold outside the candidates
        assertThrows(IllegalArgumentException.class, () -> new DeviceLoss.Choices(new int[6], 3, new int[] {1},
                new int[] {2}, new int[] {0}, 0, 2)); // rows beyond the batch
    }
}
