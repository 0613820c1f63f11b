package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.MaskPrediction;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;

/**
 * Prefix tuning with the masked-LM objective on a tiny random BertForMaskedLM: the run trains (the dev loss moves),
 * writes its PEFT prefix adapter (2 layers, 2 heads of 8: token_dim 16, task_type null), the trajectory replays to
 * that adapter bit for bit, and {@link Model#open(ModelSource, Device, Precision, Path)} applies it to fill-mask.
 */
class PrefixEncoderRunTest {
    @TempDir
    Path dir;

    private static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    @Test
    void aMaskedLmPrefixRunTrainsExportsAndReplays() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Path data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        Path out = dir.resolve("run");
        TrainConfig c = TrainConfig.parse("run.yaml", String.join("\n", "model: '" + model + "'", "objective: mlm",
                "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  template: '{text} It was [MASK].'", "  verbalizer: {pos: great, neg: terrible}",
                "optimizer: {name: zo-adam, lr: 0.01}", "eps: 0.01", "steps: 20", "batch_size: 6", "eval_every: 10",
                "max_length: 16", "peft: {method: prefix, tokens: 2}", "device: cpu", "seed: 3", "out: '" + out
                + "'", ""), List.of());
        Trainer.Summary s = new Trainer(c, model, null, new Trainer.Options(false, false, 0, false),
                new PrintWriter(new StringWriter())).run();
        assertEquals(20, s.steps());
        double before = s.initialDev().loss();
        double after = s.finalDev().loss();
        assertTrue(Double.isFinite(after) && after != before, "dev loss " + before + " -> " + after);

        Path adapter = out.resolve("adapter");
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        assertEquals("PREFIX_TUNING", cfg.get("peft_type").asText());
        assertTrue(cfg.get("task_type").isNull(), "an encoder's prefix has no causal task type");
        assertEquals(2, cfg.get("num_layers").asInt());
        assertEquals(16, cfg.get("token_dim").asInt(), "2 heads × 8");
        assertFalse(Files.exists(out.resolve("model")), "no full weights for a prefix run");

        // replay onto the encoder: the run's prefix, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(ModelSource.of(model), out.resolve("trajectory.jsonl"), replayed, Device.CPU);
        assertArrayEquals(SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors()
                .get("prompt_embeddings").toFloats(), SafetensorsFile.open(replayed.resolve(
                "adapter_model.safetensors")).tensors().get("prompt_embeddings").toFloats());

        // the adapter on fill-mask: other logits at the mask than the frozen encoder's
        int[] ids = {2, 16, 15, 22, 19, 5, 9, 10, 4, 5, 3}; // [CLS] the movie is fun . it was [MASK] . [SEP]
        float[] plain;
        float[] prefixed;
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            plain = m.fillMask(ids, 4, 3).get(0).logits();
        }
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            List<MaskPrediction> p = m.fillMask(ids, 4, 3);
            assertEquals(8, p.get(0).position());
            prefixed = p.get(0).logits();
        }
        double moved = 0;
        for (int i = 0; i < plain.length; i++) {
            moved = Math.max(moved, Math.abs(plain[i] - prefixed[i]));
        }
        assertTrue(moved > 1e-3, "the prefix changes the mask's logits (" + moved + ")");
    }

    /** A bare BertModel (no masked-LM head, as all-MiniLM-L6-v2) takes a prefix too: its start needs no MLM head. */
    @Test
    void aSimilarityPrefixRunOnABareEncoderTrains() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 7, false);
        Path data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        Path out = dir.resolve("run");
        TrainConfig c = TrainConfig.parse("run.yaml", String.join("\n", "model: '" + model + "'",
                "objective: similarity", "similarity: {labels: {pos: it was great, neg: it was terrible}}",
                "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "optimizer: {name: zo-sgd, lr: 0.05}", "eps: 0.01", "steps: 10", "batch_size: 6", "eval_every: 10",
                "max_length: 16", "peft: {method: prefix, tokens: 2}", "device: cpu", "seed: 3", "out: '" + out
                + "'", ""), List.of());
        Trainer.Summary s = new Trainer(c, model, null, new Trainer.Options(false, false, 0, false),
                new PrintWriter(new StringWriter())).run();
        assertEquals(10, s.steps());
        double before = s.initialDev().loss();
        double after = s.finalDev().loss();
        assertTrue(Double.isFinite(after) && after != before, "dev loss " + before + " -> " + after);
        assertTrue(Files.isRegularFile(out.resolve("adapter/adapter_model.safetensors")));
    }
}
