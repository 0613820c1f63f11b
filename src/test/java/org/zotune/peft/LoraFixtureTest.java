package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.DType;
import org.zotune.train.PeftImport;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.train.run.Fingerprints;

/**
 * LoRA forwards against Hugging Face peft: tiny random GPT-2, OPT and Llama bases with peft-made adapters (random
 * non-zero A and B) written by scripts/make_lora_fixtures.py into src/test/resources/lora-fixtures (made on the GPU
 * host, where torch and peft are installed). Each adapter is read as zotune reads any PEFT folder
 * ({@link PeftImport}) and applied per pass as training does; the logits at the first and the last position and the
 * loss must match peft's. Skips while the fixtures are absent.
 */
class LoraFixtureTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void adaptersMadeByPeftGivePeftsLogitsAndLoss() throws IOException, URISyntaxException {
        URL manifest = LoraFixtureTest.class.getResource("/lora-fixtures/manifest.json");
        Assumptions.assumeTrue(manifest != null && manifest.getProtocol().equals("file"),
                "no LoRA fixtures: run scripts/make_lora_fixtures.py --out src/test/resources/lora-fixtures");
        Path root = Path.of(manifest.toURI()).getParent();
        JsonNode models = JSON.readTree(manifest).get("models");
        assertEquals(3, models.size(), "gpt2, opt and llama");
        for (JsonNode m : models) {
            String name = m.get("name").asText();
            Path dir = root.resolve(name);
            JsonNode want = JSON.readTree(dir.resolve("expected.json").toFile());
            LoadedModel loaded = ModelLoader.load(dir.resolve("model"));
            PeftImport.Adapter a = PeftImport.read(dir.resolve("adapter"), loaded.model(),
                    () -> Fingerprints.weights(loaded.parameters()));
            int[] ids = JSON.convertValue(want.get("input_ids"), int[].class);
            try (CpuOps ops = new CpuOps(); Parameters base = ops.createParameters(loaded.parameters(), DType.F32);
                    Lora.Applied applied = a.lora().apply(ops);
                    Parameters tensors = ops.createParameters(a.tensors(), DType.F32)) {
                WeightSource w = TrainableStorage.own(applied.set(), tensors).weights(base);
                try (Ops.Scope s = ops.scope()) {
                    Batch batch = Batch.of(ids);
                    Tensor logits = loaded.model().forward(ops, w, batch);
                    float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(NextTokenTargets.of(batch))));
                    double loss = ce[0] / ce[1];
                    double wantLoss = want.get("loss").asDouble();
                    assertEquals(wantLoss, loss, 1e-5 * Math.abs(wantLoss), name + " loss");
                    assertTrue(Math.abs(wantLoss - want.get("base_loss").asDouble()) > 1e-3,
                            name + ": the adapter changes peft's loss");
                    rows(name + " first", want.get("logits_first"), ops.toHost(ops.rows(logits, 0, 1)));
                    rows(name + " last", want.get("logits_last"),
                            ops.toHost(ops.rows(logits, ids.length - 1, ids.length)));
                }
            }
        }
    }

    private static void rows(String what, JsonNode want, float[] got) {
        assertEquals(want.size(), got.length, what + " vocabulary");
        for (int i = 0; i < got.length; i++) {
            double w = want.get(i).asDouble();
            assertEquals(w, got[i], 1e-4 + 1e-4 * Math.abs(w), what + " logit " + i);
        }
    }
}
