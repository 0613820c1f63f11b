package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.DType;
import org.zotune.train.PeftImport;
import org.zotune.train.run.Fingerprints;

/**
 * LoRA on encoders against Hugging Face peft: tiny random BertForMaskedLM (task_type None, PEFT's names
 * base_model.model.bert.encoder..., targets query, value and output.dense, which PEFT's suffix rule applies to the
 * attention's output dense and the FFN's) and BertModel (FEATURE_EXTRACTION, base_model.model.encoder..., targets key
 * and intermediate.dense) with known non-zero A and B, written by scripts/make_lora_fixtures.py into
 * src/test/resources/lora-fixtures on the GPU host. Each adapter is read as any PEFT folder ({@link PeftImport}) and
 * applied per pass; the last hidden state at the first and last token and the MLM logits at the masks must be peft's
 * within 1e-4 (abs + rel). Skips while the fixtures are absent.
 */
class LoraEncoderFixtureTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void encoderAdaptersMadeByPeftGivePeftsOutputs() throws IOException, URISyntaxException {
        URL manifest = LoraEncoderFixtureTest.class.getResource("/lora-fixtures/manifest.json");
        Assumptions.assumeTrue(manifest != null && manifest.getProtocol().equals("file"),
                "no LoRA fixtures: run scripts/make_lora_fixtures.py --out src/test/resources/lora-fixtures");
        Path root = Path.of(manifest.toURI()).getParent();
        JsonNode encoders = JSON.readTree(manifest).path("encoders");
        assertEquals(2, encoders.size(), "bert-mlm and bert-bare in " + manifest);
        for (JsonNode m : encoders) {
            String name = m.get("name").asText();
            Path dir = root.resolve(name);
            JsonNode want = JSON.readTree(dir.resolve("expected.json").toFile());
            LoadedEncoder loaded = ModelLoader.loadEncoder(dir.resolve("model"));
            PeftImport.Adapter a = PeftImport.read(dir.resolve("adapter"), loaded.model(),
                    () -> Fingerprints.weights(loaded.parameters()));
            int layers = loaded.config().numLayers();
            List<String> modules = a.lora().targets().stream().map(Lora.Target::module).toList();
            int perLayer = name.equals("bert-mlm") ? 4 : 2; // query, value, attention.output.dense, output.dense
            assertEquals(perLayer * layers, modules.size(), name + " adapts " + modules);
            if (name.equals("bert-mlm")) {
                assertTrue(modules.contains("bert.encoder.layer.0.attention.output.dense")
                        && modules.contains("bert.encoder.layer.0.output.dense"), "output.dense is both: " + modules);
            }
            int[] ids = JSON.convertValue(want.get("input_ids"), int[].class);
            int[] masks = JSON.convertValue(want.get("mask_positions"), int[].class);
            try (CpuOps ops = new CpuOps(); Parameters base = ops.createParameters(loaded.parameters(), DType.F32);
                    Lora.Applied applied = a.lora().apply(ops);
                    Parameters tensors = ops.createParameters(a.tensors(), DType.F32)) {
                WeightSource w = TrainableStorage.own(applied.set(), tensors).weights(base);
                try (Ops.Scope s = ops.scope()) {
                    Tensor h = loaded.model().hiddenStates(ops, w, Batch.of(ids), new int[ids.length]);
                    double worst = rows(name + " first token", want.get("last_hidden_first"),
                            ops.toHost(ops.rows(h, 0, 1)));
                    worst = Math.max(worst, rows(name + " last token", want.get("last_hidden_last"),
                            ops.toHost(ops.rows(h, ids.length - 1, ids.length))));
                    double moved = 0;
                    JsonNode b = want.get("base_last_hidden_first");
                    for (int i = 0; i < b.size(); i++) {
                        moved = Math.max(moved, Math.abs(b.get(i).asDouble() - want.get("last_hidden_first").get(i)
                                .asDouble()));
                    }
                    assertTrue(moved > 1e-3, name + ": the adapter changes peft's hidden state (" + moved + ")");
                    if (masks.length > 0) {
                        float[] logits = ops.toHost(loaded.model().mlmLogits(ops, w, h, masks));
                        int vocab = loaded.config().vocabSize();
                        for (int k = 0; k < masks.length; k++) {
                            float[] row = new float[vocab];
                            System.arraycopy(logits, k * vocab, row, 0, vocab);
                            worst = Math.max(worst, rows(name + " logits at mask " + masks[k],
                                    want.get("logits_at_masks").get(k), row));
                        }
                    }
                    System.out.println("LoRA fixture " + name + " (" + modules.size() + " modules) vs peft: max |err| "
                            + worst);
                }
            }
        }
    }

    private static double rows(String what, JsonNode want, float[] got) {
        assertEquals(want.size(), got.length, what + " width");
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            double w = want.get(i).asDouble();
            assertEquals(w, got[i], 1e-4 + 1e-4 * Math.abs(w), what + " element " + i);
            worst = Math.max(worst, Math.abs(w - got[i]));
        }
        return worst;
    }
}
