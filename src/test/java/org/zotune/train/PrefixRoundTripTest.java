package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.api.DataSet;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.cuda.Cuda;
import org.zotune.model.BundledModel;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;
import org.zotune.train.run.Fingerprints;

/**
 * A prefix run's adapter out and back in, on the bundled stories260K (Llama, 5 layers, 4 kv heads of 8): loaded with
 * {@link Model#open(ModelSource, Device, Precision, Path)} it scores the dev text exactly as the run's last evaluation
 * did; the trajectory replays to the same prefix bit for bit and refuses another base, as loading the adapter onto
 * that base is refused; a prefix adapter that does not fit the model is one line naming the file and what is wrong.
 */
class PrefixRoundTripTest {
    @TempDir
    Path dir;

    private static final String[] PREFIX = {"optimizer:", "  name: zo-adam", "  lr: 1.0e-2", "steps: 5",
        "eval_every: 5", "peft:", "  method: prefix", "  tokens: 3"};

    private final BundledModel b = BundledModel.get();
    private final ModelSource bundled = ModelSource.of(b.model()).withTokenizer(b.tokenizer());

    @Test
    void exportedPrefixLoadsAndReplaysBitForBit() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, PREFIX)), TrainRuns.quiet());
        Path adapter = run.resolve("adapter");

        double runDevLoss = Double.NaN;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(line);
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")
                    && n.path("t").asLong() == 5) {
                runDevLoss = n.path("loss").asDouble();
            }
        }
        assertTrue(Double.isFinite(runDevLoss), "the run evaluated dev at step 5");
        // the base's fingerprint is recorded, as for LoRA
        String recorded = SafetensorsFile.open(adapter.resolve(PrefixExport.WEIGHTS)).metadata()
                .get(PeftExport.BASE_WEIGHTS);
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32)) {
            double plain = m.evaluate(DataSet.text(dev), 32, 16, 7).loss();
            assertNotEquals(plain, runDevLoss, "the prefix changes the model");
        }
        assertEquals(Fingerprints.weights(org.zotune.model.ModelLoader.load(b.model()).parameters()), recorded);
        // AUTO is the CPU only without a GPU: on one it scores on CUDA, where a CPU run's prefix scores within
        // rounding, not bit for bit (PrefixCudaGpuTest scores a CUDA run's prefix there)
        Device[] devices = Cuda.availability().usable() ? new Device[] {Device.CPU}
                : new Device[] {Device.CPU, Device.AUTO};
        for (Device d : devices) {
            try (Model m = Model.open(bundled, d, Precision.F32, adapter)) {
                assertEquals("prefix", m.adapterMethod());
                assertEquals(runDevLoss, m.evaluate(DataSet.text(dev), 32, 16, 7).loss(), 0.0,
                        "the loaded prefix scores dev as the run did (" + d + ")");
                ZotuneException e = assertThrows(ZotuneException.class, () -> m.export(dir.resolve("export")));
                assertTrue(e.getMessage().contains("does not merge into the weights"), e.getMessage());
            }
        }
        if (!Cuda.availability().usable()) { // a prefix loads on CUDA too (PrefixCudaGpuTest): here no device
            ZotuneException e = assertThrows(ZotuneException.class, () -> Model.open(bundled, Device.CUDA,
                    Precision.F32, adapter).close());
            assertTrue(e.getMessage().contains("CUDA"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }

        // the trajectory replays onto the base to the run's prefix, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(bundled, run.resolve("trajectory.jsonl"), replayed, Device.CPU);
        float[] want = SafetensorsFile.open(adapter.resolve(PrefixExport.WEIGHTS)).tensors().get("prompt_embeddings")
                .toFloats();
        Map<String, HostTensor> got = SafetensorsFile.open(replayed.resolve(PrefixExport.WEIGHTS)).tensors();
        assertEquals(java.util.Set.of("prompt_embeddings"), got.keySet());
        assertArrayEquals(want, got.get("prompt_embeddings").toFloats());
        assertEquals(Files.readString(adapter.resolve(PrefixExport.CONFIG)),
                Files.readString(replayed.resolve(PrefixExport.CONFIG)));
        assertEquals(recorded, SafetensorsFile.open(replayed.resolve(PrefixExport.WEIGHTS)).metadata()
                .get(PeftExport.BASE_WEIGHTS));
        if (!Cuda.availability().usable()) { // a prefix replays on CUDA too (PrefixCudaGpuTest): here no device
            ZotuneException e = assertThrows(ZotuneException.class, () -> FineTune.replay(bundled,
                    run.resolve("trajectory.jsonl"), dir.resolve("cuda"), Device.CUDA));
            assertTrue(e.getMessage().startsWith("replay --device cuda: no usable CUDA device"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("cuda")), "nothing written");
        }

        // another base with the same parameter names (one weight moved): replay and loading are refused
        Path other = dir.resolve("other");
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32)) {
            m.export(other);
        }
        Map<String, HostTensor> w = new LinkedHashMap<>(SafetensorsFile.open(other.resolve("model.safetensors"))
                .tensors());
        String first = w.keySet().iterator().next();
        float[] v = w.get(first).toFloats();
        v[0] += 0.5f;
        w.put(first, HostTensor.ofFloats(first, v, w.get(first).shape()));
        Files.delete(other.resolve("model.safetensors"));
        SafetensorsWriter.write(other.resolve("model.safetensors"), w.values());
        ModelSource otherSource = ModelSource.of(other).withTokenizer(b.tokenizer());
        ZotuneException e = assertThrows(ZotuneException.class, () -> FineTune.replay(otherSource,
                run.resolve("trajectory.jsonl"), dir.resolve("r2"), Device.CPU));
        assertTrue(e.getMessage().contains("not those the run started from"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Model.open(otherSource, Device.CPU, Precision.F32, adapter)
                .close());
        assertTrue(e.getMessage().contains("trained on other base weights"), e.getMessage());
    }

    /** A prefix adapter for stories260K (3 tokens, 5 layers, width 32) written here, then broken one way each. */
    @Test
    void prefixAdaptersThatDoNotFitAreOneLine() throws IOException {
        Path good = dir.resolve("good");
        float[] table = new float[3 * 2 * 5 * 32];
        java.util.Random r = new java.util.Random(4);
        for (int i = 0; i < table.length; i++) {
            table[i] = (float) r.nextGaussian();
        }
        Files.createDirectories(good);
        SafetensorsWriter.write(good.resolve(PrefixExport.WEIGHTS), java.util.List.of(HostTensor.ofFloats(
                "prompt_embeddings", table, 3, 2 * 5 * 32)));
        // as peft's save_pretrained writes it for a Llama with grouped keys (token_dim = kv_heads·head_dim)
        Files.writeString(good.resolve(PrefixExport.CONFIG), "{\"peft_type\": \"PREFIX_TUNING\", \"task_type\": "
                + "\"CAUSAL_LM\", \"num_virtual_tokens\": 3, \"num_layers\": 5, \"token_dim\": 32, "
                + "\"num_attention_heads\": 4, \"num_transformer_submodules\": 1, \"prefix_projection\": false, "
                + "\"encoder_hidden_size\": 64, \"inference_mode\": true, \"base_model_name_or_path\": \"x\"}");
        double plain;
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32)) {
            plain = m.evaluate(DataSet.text(TrainRuns.austen(dir, "heldout.txt", 600)), 32, 16, 7).loss();
        }
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32, good)) { // no fingerprint: any fitting base
            assertNotEquals(plain, m.evaluate(DataSet.text(dir.resolve("heldout.txt")), 32, 16, 7).loss());
        }
        expect(withConfig(good, "layers", c -> c.put("num_layers", 4)), "num_layers 4", "the model's layers (5)");
        expect(withConfig(good, "dim", c -> c.put("token_dim", 64).put("num_attention_heads", 8)),
                "token_dim 64 and num_attention_heads 8", "4 key/value heads of 8");
        expect(withConfig(good, "tokens", c -> c.put("num_virtual_tokens", 0)), "num_virtual_tokens must be");
        expect(withConfig(good, "tokens4", c -> c.put("num_virtual_tokens", 4)), "prompt_embeddings has shape "
                + "[3, 320]", "[4, 320]");
        expect(withConfig(good, "proj", c -> c.put("prefix_projection", true)), "prefix_projection");
        expect(withConfig(good, "sub", c -> c.put("num_transformer_submodules", 2)), "num_transformer_submodules");
        expect(withConfig(good, "ia3", c -> c.put("peft_type", "IA3")), "peft_type 'IA3' is not LORA");
        Path missing = withConfig(good, "missing", c -> { });
        Files.delete(missing.resolve(PrefixExport.WEIGHTS));
        SafetensorsWriter.write(missing.resolve(PrefixExport.WEIGHTS), java.util.List.of(HostTensor.ofFloats(
                "other", table, 3, 320)));
        expect(missing, "tensor other", "one tensor, prompt_embeddings");
    }

    private void expect(Path adapter, String... parts) {
        ZotuneException e = assertThrows(ZotuneException.class, () -> Model.open(bundled, Device.CPU, Precision.F32,
                adapter).close());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), e.getMessage());
        }
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    private Path withConfig(Path good, String name, Consumer<ObjectNode> edit) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.copy(good.resolve(PrefixExport.WEIGHTS), d.resolve(PrefixExport.WEIGHTS));
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(good.resolve(PrefixExport.CONFIG).toFile());
        edit.accept(c);
        Files.writeString(d.resolve(PrefixExport.CONFIG), c.toString());
        return d;
    }
}
