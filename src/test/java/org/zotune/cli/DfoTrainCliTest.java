package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.TrainConfig;
import org.zotune.train.TrainData;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * zotune train with method dfo end to end on the CPU with the real batched forward: the bundled stories260K (Llama,
 * prompt classification) and a tiny random BertForMaskedLM (MLM prompt). dev and test are the training file, so the
 * dev loss before and after is the training loss at z = 0 and at the result. The exported adapter is checked
 * against the run's numbers through the existing {@code zotune eval --adapter} (decoder) and through the base
 * weights merged with its tensors by the test's own loop (encoder: also opened as an adapter, its mask logits the
 * merged weights').
 */
class DfoTrainCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Six labelled sentences (jsonl), the dfo CLI tests' training, dev and test set. */
    static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    @TempDir
    Path dir;

    /** A dfo run on the bundled model: population 4, subspace 8, 3 generations per layer under schedule layers. */
    private Path decoder(Path out, String... dfo) throws IOException {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        return Files.writeString(dir.resolve(out.getFileName() + ".yaml"), String.join("\n", "model: bundled",
                "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  test: '" + data + "'", "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: bad}", "method: dfo", "device: cpu", "seed: 3",
                "out: '" + out + "'", "dfo:", "  population: 4", "  subspace: 8", "  budget: 60",
                String.join("\n", dfo), ""));
    }

    /** {@code zotune train --config cfg --no-progress more...}. */
    static CliRun train(Path cfg, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--config", cfg.toString(), "--no-progress"));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    private static JsonNode json(Path f) throws IOException {
        return JSON.readTree(f.toFile());
    }

    @Test
    void aDecoderRunSearchesWritesItsAdapterAndTheAdapterScoresAsTheRunDid() throws IOException {
        Path out = dir.resolve("run");
        CliRun r = train(decoder(out));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dfo: generation 15/15 layer 4"), r.err());
        JsonNode sub = json(out.resolve("subspace.json"));
        assertEquals(5, sub.path("layers").asInt());
        assertEquals(60, sub.path("evaluations").asLong());
        JsonNode s = json(out.resolve("summary.json"));
        assertEquals("completed", s.path("stopped").asText());
        assertEquals(15, s.path("steps").asLong());
        double before = s.path("initial_dev").path("loss").asDouble();
        double after = s.path("final_dev").path("loss").asDouble();
        // dev is the training set: the result's training loss is not above the base model's
        assertTrue(after <= before, "loss " + before + " -> " + after);
        assertTrue(after < before, "the search moved nothing: " + before + " -> " + after);
        assertEquals(after, s.path("final_test").path("loss").asDouble(), 0.0, "test is the same file");
        assertEquals(after, s.path("last_train_loss").asDouble(), 1e-5 * after,
                "the result's training loss (objective) and its dev classification loss are the same quantity");

        JsonNode cfg = json(out.resolve("adapter/adapter_config.json"));
        assertEquals("LORA", cfg.path("peft_type").asText());
        assertEquals(4, cfg.path("r").asInt());
        assertEquals(4.0, cfg.path("lora_alpha").asDouble(), "lora_alpha = r: scale 1");
        assertEquals("[\"q_proj\",\"k_proj\"]", cfg.path("target_modules").toString());
        assertTrue(SafetensorsFile.open(out.resolve("adapter/adapter_model.safetensors")).metadata()
                .containsKey("zotune_base_weights"));

        String[] eval = {"eval", "--model", "bundled", "--data", dir.resolve("d.jsonl").toString(), "--template",
            "{text} It was {label}", "--verbalizer", "pos=great,neg=bad", "--device", "cpu"};
        JsonNode base = lastJson(CliRun.of(eval));
        assertEquals(before, base.path("loss").asDouble(), 1e-6 * before, "zotune eval scores as the run does");
        List<String> withAdapter = new ArrayList<>(List.of(eval));
        withAdapter.addAll(List.of("--adapter", out.resolve("adapter").toString()));
        JsonNode adapted = lastJson(CliRun.of(withAdapter.toArray(String[]::new)));
        assertEquals(after, adapted.path("loss").asDouble(), 1e-5 * after, "the loaded adapter is the result");
        assertEquals(s.path("final_dev").path("accuracy").asDouble(), adapted.path("accuracy").asDouble());
    }

    private static JsonNode lastJson(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.outLines();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    @Test
    void stopAfterAndResumeGiveTheUninterruptedRunsFilesBitForBit() throws IOException {
        for (String schedule : new String[] {"layers", "rounds"}) {
            Path whole = dir.resolve("whole-" + schedule);
            Path parts = dir.resolve("parts-" + schedule);
            assertEquals(0, train(decoder(whole, "  schedule: " + schedule)).code());
            Path cfg = decoder(parts, "  schedule: " + schedule);
            assertEquals(0, train(cfg, "--stop-after", "3").code());
            assertTrue(Files.notExists(parts.resolve("adapter")), "no adapter before the search is done");
            assertEquals(0, train(cfg, "--resume", "--stop-after", "7").code());
            CliRun last = train(cfg, "--resume");
            assertEquals(0, last.code(), last.err());
            assertTrue(last.err().contains("resuming"), last.err());
            for (String f : new String[] {"metrics.jsonl", "subspace.json", "adapter/adapter_config.json"}) {
                assertEquals(Files.readString(whole.resolve(f)), Files.readString(parts.resolve(f)), schedule + f);
            }
            for (String f : new String[] {"adapter/adapter_model.safetensors", "checkpoint/step-15/search.bin"}) {
                assertArrayEquals(Files.readAllBytes(whole.resolve(f)), Files.readAllBytes(parts.resolve(f)),
                        schedule + " " + f);
            }
            JsonNode a = json(whole.resolve("summary.json"));
            JsonNode b = json(parts.resolve("summary.json"));
            for (String k : new String[] {"initial_dev", "final_dev", "final_test", "last_train_loss"}) {
                assertEquals(a.path(k), b.path(k), schedule + " " + k);
            }
            // resuming the finished run changes nothing of its results
            assertEquals(0, train(cfg, "--resume").code());
            assertEquals(Files.readString(whole.resolve("metrics.jsonl")),
                    Files.readString(parts.resolve("metrics.jsonl")));
        }
    }

    /** parallel.workers: each generation's members spread over CPU workers give the one-worker run's files. */
    @Test
    void aPopulationSpreadOverWorkersGivesTheOneWorkerRunBitForBit() throws IOException {
        Path one = dir.resolve("one");
        Path three = dir.resolve("three");
        assertEquals(0, train(decoder(one)).code());
        CliRun r = train(decoder(three), "--workers", "3");
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"metrics.jsonl", "subspace.json"}) {
            assertEquals(Files.readString(one.resolve(f)), Files.readString(three.resolve(f)), f);
        }
        assertArrayEquals(Files.readAllBytes(one.resolve("adapter/adapter_model.safetensors")),
                Files.readAllBytes(three.resolve("adapter/adapter_model.safetensors")));
        train(decoder(dir.resolve("gpu")), "--workers", "2", "--device", "cuda").assertUsageError(
                "parallel.workers 2", "CPU workers");
    }

    /**
     * parallel.gpus with method dfo: what cannot run is one line before anything is written (the CUDA lines as this
     * machine has it: no usable device, or fewer than two).
     */
    @Test
    void aPopulationOverGpusThatCannotRunIsOneLine() throws IOException {
        Path out = dir.resolve("gpus");
        train(decoder(out), "--gpus", "2").assertUsageError(
                "parallel.gpus 2: GPU replicas need device cuda (or auto); device is cpu");
        train(decoder(out), "--gpus", "2", "--device", "auto", "--workers", "2").assertUsageError(
                "parallel.gpus 2 and parallel.workers 2: choose GPU replicas or CPU workers, not both");
        train(decoder(out), "--gpus", "5", "--device", "cuda").assertUsageError(
                "parallel.gpus 5: dfo.population 4 gives some GPU no member; use parallel.gpus <= 4");
        org.zotune.cuda.Cuda.Availability a = org.zotune.cuda.Cuda.availability();
        if (!a.usable()) {
            train(decoder(out), "--gpus", "2", "--device", "auto").assertUsageError(
                    "parallel.gpus 2: no usable CUDA device (" + a.reason() + ")");
        } else if (org.zotune.cuda.Cuda.deviceCount() < 2) {
            train(decoder(out), "--gpus", "2", "--device", "cuda").assertUsageError(
                    "parallel.gpus 2: only 1 CUDA device is present (CUDA_VISIBLE_DEVICES chooses which); use "
                    + "parallel.gpus <= 1");
        }
        assertTrue(Files.notExists(out.resolve("metrics.jsonl")), "nothing of the run is written");
    }

    @Test
    void everyOptimizerScheduleAndCovarianceRuns() throws IOException {
        int n = 0;
        for (String optimizer : new String[] {"cma", "fwa", "alternate"}) {
            for (String schedule : new String[] {"layers", "rounds"}) {
                Path out = dir.resolve("run-" + n++);
                CliRun r = train(decoder(out, "  optimizer: " + optimizer, "  schedule: " + schedule,
                        "  covariance: " + (n % 2 == 0 ? "full" : "separable")));
                assertEquals(0, r.code(), optimizer + " " + schedule + ": " + r.err());
                JsonNode s = json(out.resolve("summary.json"));
                assertEquals(15, s.path("steps").asLong(), optimizer + " " + schedule);
                assertTrue(s.path("final_dev").path("loss").isNumber(), optimizer + " " + schedule);
                assertTrue(Files.isRegularFile(out.resolve("adapter/adapter_model.safetensors")));
                long fwa = Files.readAllLines(out.resolve("metrics.jsonl")).stream()
                        .filter(l -> l.contains("\"optimizer\":\"fwa\"")).count();
                long cma = Files.readAllLines(out.resolve("metrics.jsonl")).stream()
                        .filter(l -> l.contains("\"optimizer\":\"cma\"")).count();
                assertEquals(optimizer.equals("cma") ? 0 : optimizer.equals("fwa") ? 15 : 5, fwa,
                        optimizer + " " + schedule);
                assertEquals(15 - fwa, cma);
            }
        }
    }

    /** The article's objective for encoders without an MLM head: label similarity; objective head is refused. */
    @Test
    void anEncoderRunWithLabelSimilaritySearchesAndHeadIsRefused() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        Path out = dir.resolve("sim");
        Path cfg = Files.writeString(dir.resolve("sim.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: similarity", "similarity: {labels: {pos: it was great, neg: it was terrible}}", "data:",
                "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'", "method: dfo", "device: cpu",
                "seed: 4", "out: '" + out + "'", "dfo:", "  population: 6", "  subspace: 16", "  budget: 120",
                "  schedule: rounds", ""));
        CliRun r = train(cfg);
        assertEquals(0, r.code(), r.err());
        JsonNode s = json(out.resolve("summary.json"));
        double before = s.path("initial_dev").path("loss").asDouble();
        double after = s.path("final_dev").path("loss").asDouble();
        assertTrue(after <= before, "loss " + before + " -> " + after);
        assertTrue(Files.exists(out.resolve("adapter/adapter_model.safetensors")));
        train(cfg, "--set", "objective=head", "--overwrite").assertUsageError("method dfo", "objective head",
                "similarity or mlm");
    }

    @Test
    void anEncoderRunWithTheMaskedLmPromptExportsTheAdapterOfItsResult() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        Path out = dir.resolve("run");
        Path cfg = Files.writeString(dir.resolve("bert.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: mlm", "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  template: '{text} It was [MASK].'", "  verbalizer: {pos: great, neg: terrible}", "method: dfo",
                "device: cpu", "seed: 4", "out: '" + out + "'", "dfo:", "  population: 6", "  subspace: 16",
                "  budget: 120", "  schedule: rounds", ""));
        CliRun r = train(cfg);
        assertEquals(0, r.code(), r.err());
        JsonNode s = json(out.resolve("summary.json"));
        double before = s.path("initial_dev").path("loss").asDouble();
        double after = s.path("final_dev").path("loss").asDouble();
        assertTrue(after < before, "loss " + before + " -> " + after);
        JsonNode ac = json(out.resolve("adapter/adapter_config.json"));
        assertEquals("[\"query\",\"key\"]", ac.path("target_modules").toString());
        assertTrue(ac.path("task_type").isNull());
        assertEquals(4, ac.path("r").asInt());

        // the exported tensors: W + B·A merged by this test's own loop scores the training set as the run's result
        LoadedLanguageModel loaded = ModelLoader.loadAny(model);
        Map<String, HostTensor> peft = SafetensorsFile.open(out.resolve("adapter/adapter_model.safetensors"))
                .tensors();
        List<HostTensor> merged = new ArrayList<>();
        int adapted = 0;
        for (int p = 0; p < loaded.parameters().size(); p++) {
            HostTensor w = loaded.parameters().get(p);
            String module = "base_model.model." + w.name().substring(0, w.name().length() - ".weight".length());
            HostTensor a = peft.get(module + ".lora_A.weight");
            if (a == null || !w.name().endsWith(".weight")) {
                merged.add(w);
                continue;
            }
            adapted++;
            float[] av = a.toFloats();
            float[] bv = peft.get(module + ".lora_B.weight").toFloats();
            float[] v = w.toFloats();
            int in = (int) w.shape()[1];
            int rank = (int) a.shape()[0];
            for (int o = 0; o < w.shape()[0]; o++) {
                for (int i = 0; i < in; i++) {
                    double ba = 0;
                    for (int j = 0; j < rank; j++) {
                        ba += (double) bv[o * rank + j] * av[j * in + i];
                    }
                    v[o * in + i] = (float) (v[o * in + i] + ba);
                }
            }
            merged.add(HostTensor.ofFloats(w.name(), v, w.shape()));
        }
        assertEquals(2 * TinyBertFolder.LAYERS, adapted, "query and key of every layer");
        assertEquals(4 * TinyBertFolder.LAYERS, peft.size());
        TrainConfig c = TrainConfig.read(cfg, List.of());
        MaskedTemplate template = TrainData.maskedTemplate(c.data());
        MaskedPromptEncoder encoder = MaskedPromptEncoder.of(Tokenizers.forModel(model, null),
                Math.max(0, loaded.config().padTokenId()), c.maxLength());
        TrainData d = TrainData.loadMasked(c.data(), encoder, template, c.seed());
        MaskedLmPrompt objective = new MaskedLmPrompt(encoder.maskId(), encoder.labelTokens(template.words(), false));
        PromptBatch train = PromptBatch.of(d.train(), d.padId());
        try (CpuOps ops = new CpuOps(); Parameters w = ops.createParameters(merged, DType.F32);
             Parameters b = ops.createParameters(loaded.parameters(), DType.F32)) {
            double result = objective.loss(ops, loaded.model(), w, train);
            assertEquals(s.path("last_train_loss").asDouble(), result, 1e-5 * result);
            assertEquals(after, result, 1e-5 * result, "dev is the training set");
            assertEquals(before, objective.loss(ops, loaded.model(), b, train), 1e-5 * before);
        }
        // LoRA adapters load onto encoders: the result opens through --adapter's path, and its mask logits are the
        // merged weights' (task_type null, bert. names: BertForMaskedLM's)
        int[] ids = {2, 16, 15, 22, 19, 5, 9, 10, 4, 5, 3}; // [CLS] the movie is fun . it was [MASK] . [SEP]
        float[] want;
        float[] got;
        Path mergedDir = Files.createDirectories(dir.resolve("merged"));
        Files.copy(model.resolve("config.json"), mergedDir.resolve("config.json"));
        Files.copy(model.resolve("tokenizer.json"), mergedDir.resolve("tokenizer.json"));
        org.zotune.model.io.SafetensorsWriter.write(mergedDir.resolve("model.safetensors"), merged);
        int mask = TinyBertFolder.id("[MASK]");
        try (org.zotune.api.Model m = org.zotune.api.Model.open(org.zotune.api.ModelSource.of(model),
                org.zotune.api.Device.CPU, org.zotune.api.Precision.F32, out.resolve("adapter"))) {
            assertEquals("lora", m.adapterMethod());
            got = m.fillMask(ids, mask, 3).get(0).logits();
        }
        try (org.zotune.api.Model m = org.zotune.api.Model.open(org.zotune.api.ModelSource.of(mergedDir),
                org.zotune.api.Device.CPU, org.zotune.api.Precision.F32)) {
            want = m.fillMask(ids, mask, 3).get(0).logits();
        }
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]), "logit " + i);
        }
    }
}
