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
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.api.DataSet;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.MaskPrediction;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Pooling;
import org.zotune.api.Precision;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * Prefix tuning with the masked-LM objective on a tiny random BertForMaskedLM: the run trains (the dev loss moves),
 * writes its PEFT prefix adapter (2 layers, 2 heads of 8: token_dim 16, task_type null), the trajectory replays to
 * that adapter bit for bit, and {@link Model#open(ModelSource, Device, Precision, Path)} applies it to fill-mask;
 * with objective head the classifier trains beside the prefix, is exported as PEFT's SEQ_CLS modules_to_save and
 * scores through the API's eval as the run's dev evaluation did.
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

    /**
     * Objective head with a prefix: the classifier trains in full beside the keys and values (PEFT's SEQ_CLS
     * modules_to_save), exported as PEFT saves a prompt-learning model's (base_model.classifier.weight, task_type
     * SEQ_CLS, modules_to_save [classifier]); the run's final dev loss is what this test computes from the exported
     * files (the prefix applied through the API's embeddings, the classifier's logits and cross-entropy here, in
     * double); the trajectory replays to the same files bit for bit.
     */
    @Test
    void aHeadPrefixRunTrainsTheClassifierBesideThePrefixAsPeftsSeqCls() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 9, false);
        Path data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        Path out = dir.resolve("run");
        TrainConfig c = TrainConfig.parse("run.yaml", String.join("\n", "model: '" + model + "'",
                "objective: head", "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "optimizer: {name: zo-adam, lr: 0.02}", "eps: 0.01", "steps: 30", "batch_size: 6", "eval_every: 10",
                "max_length: 16", "peft: {method: prefix, tokens: 2}", "device: cpu", "seed: 3", "out: '" + out
                + "'", ""), List.of());
        Trainer.Summary s = new Trainer(c, model, null, new Trainer.Options(false, false, 0, false),
                new PrintWriter(new StringWriter())).run();
        assertEquals(30, s.steps());
        assertTrue(s.finalDev().loss() < s.initialDev().loss(), "the dev loss falls: " + s.initialDev().loss()
                + " -> " + s.finalDev().loss());
        long prefix = TinyBertFolder.LAYERS * 2 * 2 * 16; // keys and values [2 tokens, 16] per layer
        long head = 2 * 16 + 2; // classifier.weight [2 labels, 16] and classifier.bias [2]
        Checkpoints.Loaded ck = Checkpoints.load(out);
        assertEquals(prefix + head, ck.state().parameters().stream().mapToLong(HostTensor::numel).sum(),
                "the checkpoint's θ is the prefix and the head");
        assertEquals(2 * (prefix + head), ck.state().optimizerState().stream().mapToLong(HostTensor::numel).sum(),
                "ZO-Adam's m and v, over the prefix and the head only");

        Path adapter = out.resolve("adapter");
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        assertEquals("PREFIX_TUNING", cfg.get("peft_type").asText());
        assertEquals("SEQ_CLS", cfg.get("task_type").asText());
        assertEquals("[\"classifier\"]", cfg.get("modules_to_save").toString());
        Map<String, HostTensor> t = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        assertEquals(List.of("base_model.classifier.bias", "base_model.classifier.weight", "prompt_embeddings"),
                t.keySet().stream().sorted().toList());
        HostTensor w = t.get("base_model.classifier.weight");
        HostTensor b = t.get("base_model.classifier.bias");
        assertArrayEquals(new long[] {2, 16}, w.shape());
        assertArrayEquals(new long[] {2}, b.shape());
        assertFalse(Files.exists(out.resolve("model")), "no full weights for a prefix run");

        // the final dev loss from the exported files: a prefix-only copy of the adapter on the API's mean-pooled
        // embeddings, then the classifier (labels in the reader's order: neg, pos) and the mean cross-entropy
        Path prefixOnly = Files.createDirectories(dir.resolve("prefix-only"));
        com.fasterxml.jackson.databind.node.ObjectNode plain = (com.fasterxml.jackson.databind.node.ObjectNode) cfg
                .deepCopy();
        plain.remove("modules_to_save");
        plain.putNull("task_type");
        Files.writeString(prefixOnly.resolve("adapter_config.json"), plain.toPrettyString());
        SafetensorsWriter.write(prefixOnly.resolve("adapter_model.safetensors"), List.of(t.get("prompt_embeddings")),
                SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).metadata());
        List<String> texts = List.of("the movie is fun", "the plot is dull", "loved the acting", "hated the film",
                "a good film", "a boring movie");
        int[] gold = {1, 0, 1, 0, 1, 0};
        float[][] pooled;
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, prefixOnly)) {
            pooled = m.embed(texts, Pooling.MEAN, false);
        }
        float[] wv = w.toFloats();
        float[] bv = b.toFloats();
        double loss = 0;
        for (int x = 0; x < texts.size(); x++) {
            double[] z = new double[2];
            for (int l = 0; l < 2; l++) {
                z[l] = bv[l];
                for (int i = 0; i < 16; i++) {
                    z[l] += (double) wv[l * 16 + i] * pooled[x][i];
                }
            }
            double max = Math.max(z[0], z[1]);
            loss += max + Math.log(Math.exp(z[0] - max) + Math.exp(z[1] - max)) - z[gold[x]];
        }
        loss /= texts.size();
        System.out.println("head + prefix: dev loss " + s.initialDev().loss() + " -> " + s.finalDev().loss()
                + "; from the exported files " + loss);
        assertEquals(s.finalDev().loss(), loss, 1e-5 * loss, "the run's final dev loss from its exported files");

        // replay onto the encoder: the run's prefix and classifier, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(ModelSource.of(model), out.resolve("trajectory.jsonl"), replayed, Device.CPU);
        Map<String, HostTensor> r = SafetensorsFile.open(replayed.resolve("adapter_model.safetensors")).tensors();
        assertEquals(t.keySet(), r.keySet());
        for (String k : t.keySet()) {
            assertArrayEquals(t.get(k).toFloats(), r.get(k).toFloats(), k);
        }
        assertEquals(cfg.get("modules_to_save"), new ObjectMapper().readTree(replayed.resolve(
                "adapter_config.json").toFile()).get("modules_to_save"));

        // the SEQ_CLS adapter itself: the API's eval scores the data as the run's final dev evaluation did (objective
        // auto picks head: the adapter's classifier, its labels and pooling from the adapter's metadata)
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            org.zotune.api.EvalResult e = m.evaluate(DataSet.jsonl(data), 16, 6, 3);
            System.out.println("head + prefix adapter, API eval: loss " + e.loss() + ", accuracy " + e.accuracy()
                    + " (the run's final dev: " + s.finalDev().loss() + ", " + s.finalDev().accuracy() + ")");
            assertEquals(s.finalDev().loss(), e.loss(), 1e-9 * s.finalDev().loss());
            assertEquals(s.finalDev().accuracy(), e.accuracy());
            assertEquals(6, e.examples());
        }
    }
}
