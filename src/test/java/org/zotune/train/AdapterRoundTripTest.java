package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.api.DataSet;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.Logits;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * A LoRA run's adapter out and back in, on the bundled stories260K (Llama, dim 64, 5 layers, k/v 32 wide): loaded
 * with {@link Model#open(ModelSource, Device, Precision, Path)} it scores the dev text exactly as the run's last
 * evaluation did; {@code peft.merge}'s full weights give the adapter's logits; the trajectory replays to the same
 * adapter bit for bit and refuses another base; the checkpoint's optimiser state is sized to the adapters.
 */
class AdapterRoundTripTest {
    @TempDir
    Path dir;

    private static final String[] LORA = {"optimizer:", "  name: zo-adam", "  lr: 1.0e-2", "steps: 5",
        "eval_every: 5", "peft:", "  method: lora", "  r: 4", "  alpha: 8", "  targets: [q, v]", "  merge: true"};

    @Test
    void exportedAdapterLoadsMergesAndReplaysBitForBit() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, LORA)), TrainRuns.quiet());
        Path adapter = run.resolve("adapter");
        BundledModel b = BundledModel.get();
        ModelSource bundled = ModelSource.of(b.model()).withTokenizer(b.tokenizer());

        // the run's last dev evaluation, reproduced by the loaded adapter bit for bit
        double runDevLoss = Double.NaN;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(line);
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")
                    && n.path("t").asLong() == 5) {
                runDevLoss = n.path("loss").asDouble();
            }
        }
        assertTrue(Double.isFinite(runDevLoss), "the run evaluated dev at step 5");
        double plain;
        double withAdapter;
        float[] adapterLogits;
        int[] ids;
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32)) {
            plain = m.evaluate(DataSet.text(dev), 32, 16, 7).loss();
        }
        try (Model m = Model.open(bundled, Device.CPU, Precision.F32, adapter)) {
            withAdapter = m.evaluate(DataSet.text(dev), 32, 16, 7).loss();
            ids = m.tokenize("Emma was handsome, clever, and rich, with a comfortable home.");
            adapterLogits = m.logits(ids, ids.length - 1).rows()[0];
            // the API's export merges the adapter as the run's peft.merge did: model/'s tensors bit for bit
            m.export(dir.resolve("exported"));
        }
        var runMerged = org.zotune.model.io.SafetensorsFile.open(run.resolve("model/model.safetensors")).tensors();
        var exported = org.zotune.model.io.SafetensorsFile.open(dir.resolve("exported/model.safetensors")).tensors();
        assertEquals(runMerged.keySet(), exported.keySet());
        for (String k : runMerged.keySet()) {
            assertArrayEquals(runMerged.get(k).toFloats(), exported.get(k).toFloats(), "Model.export vs the run's "
                    + "merged model/: " + k);
        }
        assertEquals(runDevLoss, withAdapter, 0.0, "the loaded adapter scores dev as the run did");
        assertNotEquals(plain, withAdapter, "the adapter changes the model");

        // peft.merge: model/ holds W + (alpha/r)·B·A, whose forward is the adapter's
        assertTrue(Files.isRegularFile(run.resolve("model/model.safetensors")), "merged weights in model/");
        assertTrue(Files.isRegularFile(run.resolve("best/model.safetensors")), "merged weights in best/");
        assertTrue(Files.isRegularFile(run.resolve("best/adapter/adapter_model.safetensors")));
        try (Model merged = Model.open(ModelSource.of(run.resolve("model")).withTokenizer(b.tokenizer()),
                Device.CPU, Precision.F32)) {
            Logits l = merged.logits(ids, ids.length - 1);
            float[] got = l.rows()[0];
            double moved = 0;
            for (int i = 0; i < got.length; i++) {
                assertEquals(adapterLogits[i], got[i], 1e-4 + 1e-5 * Math.abs(adapterLogits[i]), "logit " + i);
            }
            try (Model base = Model.open(bundled, Device.CPU, Precision.F32)) {
                float[] before = base.logits(ids, ids.length - 1).rows()[0];
                for (int i = 0; i < got.length; i++) {
                    moved = Math.max(moved, Math.abs(before[i] - got[i]));
                }
            }
            assertTrue(moved > 1e-4, "merged weights differ from the base (" + moved + ")");
        }

        // the trajectory replays onto the base to the run's adapter, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(bundled, run.resolve("trajectory.jsonl"), replayed, Device.CPU);
        Map<String, HostTensor> want = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
        Map<String, HostTensor> got = SafetensorsFile.open(replayed.resolve("adapter_model.safetensors")).tensors();
        assertEquals(want.keySet(), got.keySet());
        for (String k : want.keySet()) {
            assertArrayEquals(want.get(k).toFloats(), got.get(k).toFloats(), k);
        }
        assertEquals(Files.readString(adapter.resolve("adapter_config.json")),
                Files.readString(replayed.resolve("adapter_config.json")));
        // ... and refuses a base with other weights (the merged model has the same parameter names)
        ZotuneException e = assertThrows(ZotuneException.class, () -> FineTune.replay(ModelSource.of(
                run.resolve("model")), run.resolve("trajectory.jsonl"), dir.resolve("other"), Device.CPU));
        assertTrue(e.getMessage().contains("not those the run started from"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        // ... and loading the adapter onto that other base is refused too
        e = assertThrows(ZotuneException.class, () -> Model.open(ModelSource.of(run.resolve("model")),
                Device.CPU, Precision.F32, adapter).close());
        assertTrue(e.getMessage().contains("trained on other base weights"), e.getMessage());

        // optimiser state for the adapters only: ZO-Adam's m and v, each one value per adapter element
        long adapterElements = 0;
        LoadedModel loaded = ModelLoader.load(b.model());
        for (ParamSpec s : loaded.model().params()) {
            if (s.name().endsWith("self_attn.q_proj.weight") || s.name().endsWith("self_attn.v_proj.weight")) {
                adapterElements += 4 * (s.shape()[0] + s.shape()[1]); // A [r, in] and B [out, r]
            }
        }
        assertEquals(5 * 4 * ((64 + 64) + (64 + 32)), adapterElements, "q 64→64 and v 64→32 in 5 layers");
        List<HostTensor> state = Checkpoints.load(run).state().optimizerState();
        assertEquals(2 * 5 * 2 * 2, state.size(), "m and v per adapter tensor (A and B of q and v, 5 layers)");
        assertEquals(2 * adapterElements, state.stream().mapToLong(HostTensor::numel).sum(), "m and v");
        long params = Checkpoints.load(run).state().parameters().stream().mapToLong(HostTensor::numel).sum();
        assertEquals(adapterElements, params, "the checkpoint holds the adapters, not the frozen base");
    }
}
