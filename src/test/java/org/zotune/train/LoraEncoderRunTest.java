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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Pooling;
import org.zotune.api.Precision;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * LoRA runs on a tiny random BERT with the encoder objectives: the run trains A and B only (the optimiser's state is
 * ZO-Adam's m and v over the adapters), exports what PEFT writes for the model class its objective trains (mlm:
 * BertForMaskedLM's bert.encoder… names, task_type null; similarity: BertModel's encoder… names, task_type
 * FEATURE_EXTRACTION), and the adapter loads back through {@link Model#open(ModelSource, Device, Precision, Path)}
 * scoring as the base with W + (α/r)·B·A merged by this test from the adapter file (in double).
 */
class LoraEncoderRunTest {
    @TempDir
    Path dir;

    private static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    private Trainer.Summary train(Path model, Path out, String... objective) throws IOException {
        return trainPeft(model, out, "", objective);
    }

    private Trainer.Summary trainPeft(Path model, Path out, String merge, String... objective) throws IOException {
        Path data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        List<String> lines = new ArrayList<>(List.of("model: '" + model + "'", "data:", "  format: jsonl",
                "  train: '" + data + "'", "  dev: '" + data + "'"));
        lines.addAll(List.of(objective));
        lines.addAll(List.of("optimizer: {name: zo-adam, lr: 0.05}", "eps: 0.01", "steps: 12", "batch_size: 6",
                "eval_every: 6", "max_length: 16",
                "peft: {method: lora, r: 2, alpha: 4, targets: [q, v, down]" + merge + "}",
                "device: cpu", "seed: 3", "out: '" + out + "'", ""));
        TrainConfig c = TrainConfig.parse("run.yaml", String.join("\n", lines), List.of());
        Trainer.Summary s = new Trainer(c, model, null, new Trainer.Options(false, false, 0, false),
                new PrintWriter(new StringWriter())).run();
        assertEquals(12, s.steps());
        return s;
    }

    /**
     * The base folder's weights with each adapted W replaced by W + (α/r)·B·A from the adapter's own file (A [r, in],
     * B [out, r] under PEFT's names), written as a second model folder.
     */
    private Path mergedFolder(Path base, Path adapter, String name) throws IOException {
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        double scale = cfg.get("lora_alpha").asDouble() / cfg.get("r").asInt();
        Map<String, HostTensor> peft = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        Map<String, HostTensor> weights = SafetensorsFile.open(base.resolve("model.safetensors")).tensors();
        List<HostTensor> out = new ArrayList<>();
        int merged = 0;
        for (Map.Entry<String, HostTensor> w : weights.entrySet()) {
            String module = w.getKey().substring(0, w.getKey().length() - ".weight".length());
            String key = "base_model.model." + module;
            HostTensor a = peft.get(key + ".lora_A.weight");
            if (a == null) {
                key = "base_model.model." + module.substring("bert.".length()); // the bare BertModel's name
                a = peft.get(key + ".lora_A.weight");
            }
            if (a == null) {
                out.add(w.getValue());
                continue;
            }
            HostTensor b = peft.get(key + ".lora_B.weight");
            int r = (int) a.shape()[0];
            int in = (int) a.shape()[1];
            int rows = (int) b.shape()[0];
            float[] av = a.toFloats();
            float[] bv = b.toFloats();
            float[] v = w.getValue().toFloats();
            for (int o = 0; o < rows; o++) {
                for (int i = 0; i < in; i++) {
                    double d = 0;
                    for (int j = 0; j < r; j++) {
                        d += (double) bv[o * r + j] * av[j * in + i];
                    }
                    v[o * in + i] = (float) (v[o * in + i] + scale * d);
                }
            }
            out.add(HostTensor.ofFloats(w.getKey(), v, w.getValue().shape()));
            merged++;
        }
        assertEquals(3 * TinyBertFolder.LAYERS, merged, "q, v and down in each layer");
        Path folder = Files.createDirectories(dir.resolve(name));
        Files.copy(base.resolve("config.json"), folder.resolve("config.json"));
        Files.copy(base.resolve("tokenizer.json"), folder.resolve("tokenizer.json"));
        SafetensorsWriter.write(folder.resolve("model.safetensors"), out);
        return folder;
    }

    private static void optimiserStateIsTheAdapters(Path run, long adapterElements) {
        Checkpoints.Loaded ck = Checkpoints.load(run);
        long params = ck.state().parameters().stream().mapToLong(HostTensor::numel).sum();
        long state = ck.state().optimizerState().stream().mapToLong(HostTensor::numel).sum();
        assertEquals(adapterElements, params, "the checkpoint's θ is the adapters");
        assertEquals(2 * adapterElements, state, "ZO-Adam's m and v, over the adapters only");
    }

    /** q, v: [16, 16] and down [16, 32] per layer, r 2: A [2, in] + B [out, 2]. */
    private static final long ADAPTER_ELEMENTS = TinyBertFolder.LAYERS * (2 * (2 * 16 + 16 * 2) + (2 * 32 + 16 * 2));

    @Test
    void aMaskedLmRunExportsBertForMaskedLmNamesAndLoadsBack() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Path out = dir.resolve("mlm");
        Trainer.Summary s = train(model, out, "  template: '{text} It was [MASK].'",
                "  verbalizer: {pos: great, neg: terrible}", "objective: mlm");
        assertTrue(s.finalDev().loss() != s.initialDev().loss(), "the dev loss moves: " + s.initialDev().loss()
                + " -> " + s.finalDev().loss());
        optimiserStateIsTheAdapters(out, ADAPTER_ELEMENTS);
        Path adapter = out.resolve("adapter");
        assertFalse(Files.exists(out.resolve("model")), "no full weights without peft.merge");
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        assertTrue(cfg.get("task_type").isNull(), "PEFT has no masked-LM task type");
        String layer = "bert\\.encoder\\.layer\\.\\d+\\.";
        assertEquals("(?:" + layer + "attention\\.self\\.query|" + layer + "attention\\.self\\.value|" + layer
                + "output\\.dense)", cfg.get("target_modules").asText(), "one regular expression: PEFT's suffix rule "
                + "would take output.dense for the attention's output dense too");
        Map<String, HostTensor> t = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        assertEquals(3 * 2 * TinyBertFolder.LAYERS, t.size());
        HostTensor a = t.get("base_model.model.bert.encoder.layer.1.output.dense.lora_A.weight");
        assertArrayEquals(new long[] {2, 32}, a.shape(), "down's A [r, in 32]");
        assertArrayEquals(new long[] {16, 2}, t.get("base_model.model.bert.encoder.layer.1.output.dense.lora_B.weight")
                .shape());
        assertFalse(t.containsKey("base_model.model.bert.encoder.layer.1.attention.output.dense.lora_A.weight"));

        int[] ids = {2, 16, 15, 22, 19, 5, 9, 10, 4, 5, 3}; // [CLS] the movie is fun . it was [MASK] . [SEP]
        Path merged = mergedFolder(model, adapter, "merged-mlm");
        float[] plain;
        float[] adapted;
        float[] want;
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            plain = m.fillMask(ids, 4, 3).get(0).logits();
        }
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            assertEquals("lora", m.adapterMethod());
            adapted = m.fillMask(ids, 4, 3).get(0).logits();
            // the API's export of an encoder with its adapter: the weights this test merged from the adapter file
            Path exported = dir.resolve("exported-mlm");
            m.export(exported);
            Map<String, HostTensor> x = SafetensorsFile.open(exported.resolve("model.safetensors")).tensors();
            Map<String, HostTensor> w = SafetensorsFile.open(merged.resolve("model.safetensors")).tensors();
            assertEquals(w.keySet(), x.keySet());
            for (String k : w.keySet()) {
                float[] a1 = w.get(k).toFloats();
                float[] a2 = x.get(k).toFloats();
                for (int i = 0; i < a1.length; i++) {
                    assertEquals(a1[i], a2[i], 1e-6 + 1e-6 * Math.abs(a1[i]), k + " [" + i + "]");
                }
            }
            assertEquals(new ObjectMapper().readTree(model.resolve("config.json").toFile()).get("architectures"),
                    new ObjectMapper().readTree(exported.resolve("config.json").toFile()).get("architectures"));
        }
        try (Model m = Model.open(ModelSource.of(merged), Device.CPU, Precision.F32)) {
            want = m.fillMask(ids, 4, 3).get(0).logits();
        }
        double worst = 0;
        double moved = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs(adapted[i] - want[i]));
            moved = Math.max(moved, Math.abs(plain[i] - want[i]));
            assertEquals(want[i], adapted[i], 1e-5 + 1e-5 * Math.abs(want[i]), "logit " + i);
        }
        System.out.println("mlm LoRA adapter through Model.open vs merged by the test: max |err| " + worst
                + " (moved " + moved + ")");
        assertTrue(moved > 1e-4, "the adapter changes the mask's logits (" + moved + ")");
    }

    @Test
    void aSimilarityRunExportsBertModelNamesAndLoadsBack() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path out = dir.resolve("sim");
        train(model, out, "objective: similarity", "similarity: {labels: {pos: it was great, neg: it was terrible}}");
        optimiserStateIsTheAdapters(out, ADAPTER_ELEMENTS);
        Path adapter = out.resolve("adapter");
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        assertEquals("FEATURE_EXTRACTION", cfg.get("task_type").asText());
        Map<String, HostTensor> t = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        assertTrue(t.containsKey("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight"),
                "BertModel's names: " + t.keySet());
        assertTrue(t.keySet().stream().noneMatch(n -> n.contains("bert.")), "no bert. prefix: " + t.keySet());

        Path merged = mergedFolder(model, adapter, "merged-sim");
        List<String> texts = List.of("the movie is fun", "a boring movie");
        float[][] plain;
        float[][] adapted;
        float[][] want;
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            plain = m.embed(texts, Pooling.MEAN, false);
        }
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            adapted = m.embed(texts, Pooling.MEAN, false);
        }
        try (Model m = Model.open(ModelSource.of(merged), Device.CPU, Precision.F32)) {
            want = m.embed(texts, Pooling.MEAN, false);
        }
        double moved = 0;
        for (int s = 0; s < texts.size(); s++) {
            for (int i = 0; i < want[s].length; i++) {
                assertEquals(want[s][i], adapted[s][i], 1e-5 + 1e-5 * Math.abs(want[s][i]), texts.get(s) + " " + i);
                moved = Math.max(moved, Math.abs(plain[s][i] - want[s][i]));
            }
        }
        assertTrue(moved > 1e-4, "the adapter changes the embeddings (" + moved + ")");
    }

    /**
     * Objective head with LoRA: the classifier trains in full beside A and B (PEFT's SEQ_CLS modules_to_save), exported
     * as PEFT saves it (base_model.model.classifier.weight, task_type SEQ_CLS, modules_to_save [classifier]).
     */
    @Test
    void aHeadRunTrainsTheClassifierBesideTheAdaptersAsPeftsSeqCls() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("head"), 8, false);
        Path out = dir.resolve("cls");
        Trainer.Summary s = trainPeft(model, out, ", merge: true", "objective: head");
        assertTrue(s.finalDev().loss() < s.initialDev().loss(), "the dev loss falls: " + s.initialDev().loss()
                + " -> " + s.finalDev().loss());
        long head = 2 * 16 + 2; // classifier.weight [2 labels, 16] and classifier.bias [2]
        optimiserStateIsTheAdapters(out, ADAPTER_ELEMENTS + head);
        Path adapter = out.resolve("adapter");
        JsonNode cfg = new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        assertEquals("SEQ_CLS", cfg.get("task_type").asText());
        assertEquals("[\"classifier\"]", cfg.get("modules_to_save").toString());
        Map<String, HostTensor> t = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        assertEquals(3 * 2 * TinyBertFolder.LAYERS + 2, t.size(), t.keySet().toString());
        assertArrayEquals(new long[] {2, 16}, t.get("base_model.model.classifier.weight").shape());
        assertArrayEquals(new long[] {2}, t.get("base_model.model.classifier.bias").shape());
        assertTrue(t.containsKey("base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight"),
                "BertForSequenceClassification's names: " + t.keySet());
        float max = 0;
        for (float v : t.get("base_model.model.classifier.weight").toFloats()) {
            max = Math.max(max, Math.abs(v));
        }
        assertTrue(max > 0, "the zero-initialised classifier trained");
        // peft.merge: the merged body with the trained classifier, as objective head exports full weights
        Map<String, HostTensor> merged = SafetensorsFile.open(out.resolve("model/model.safetensors")).tensors();
        assertArrayEquals(t.get("base_model.model.classifier.weight").toFloats(), merged.get("classifier.weight")
                .toFloats());
        JsonNode mc = new ObjectMapper().readTree(out.resolve("model/config.json").toFile());
        assertEquals("BertForSequenceClassification", mc.get("architectures").get(0).asText());

        // the adapter itself scores through the API's eval as the run's final dev evaluation did: A and B over the
        // body, the classifier from modules_to_save, its labels and pooling from the adapter's metadata
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            org.zotune.api.EvalResult e = m.evaluate(org.zotune.api.DataSet.jsonl(dir.resolve("d.jsonl")), 16, 6, 3);
            System.out.println("head + LoRA adapter, API eval: loss " + e.loss() + ", accuracy " + e.accuracy()
                    + " (the run's final dev: " + s.finalDev().loss() + ", " + s.finalDev().accuracy() + ")");
            assertEquals(s.finalDev().loss(), e.loss(), 1e-6 * s.finalDev().loss());
            assertEquals(s.finalDev().accuracy(), e.accuracy());
            // and exports what the run's peft.merge wrote into model/: the merged body with the classifier, and the
            // classifier's config keys
            Path exported = dir.resolve("exported");
            m.export(exported);
            Map<String, HostTensor> x = SafetensorsFile.open(exported.resolve("model.safetensors")).tensors();
            assertEquals(merged.keySet(), x.keySet());
            for (String k : merged.keySet()) {
                assertArrayEquals(merged.get(k).toFloats(), x.get(k).toFloats(), k);
            }
            JsonNode xc = new ObjectMapper().readTree(exported.resolve("config.json").toFile());
            for (String key : new String[] {"architectures", "num_labels", "id2label", "label2id", "zotune_pooling"}) {
                assertEquals(mc.get(key), xc.get(key), key);
            }
        }
    }
}
