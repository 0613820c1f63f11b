package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Model#fillMask(String, int)} against transformers' {@code pipeline("fill-mask")} on complete Hugging Face
 * folders (config.json, model.safetensors, a WordPiece tokenizer.json for BERT and a byte-level BPE one for RoBERTa,
 * made by scripts/make_encoder_fixtures.py on the GPU host under src/test/resources/encoder-fixtures; skipped while
 * absent). For each sentence with one mask: the tokenizer's ids, the mask's position, the top-k ids in the
 * pipeline's order, their probabilities (softmax over the vocabulary at the mask) within 1e-5, and the token strings
 * (the pipeline's {@code tokenizer.decode([id])}, special tokens kept; zotune trims the surrounding whitespace).
 */
class ApiFillMaskFixtureTest {
    private static final String MAKE =
            "python3 scripts/make_encoder_fixtures.py --out src/test/resources/encoder-fixtures";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fillMaskGivesThePipelinesTopKOnBertAndRoberta() throws IOException {
        Path root = org.zotune.fixtures.HfFixtures.committed("encoder-fixtures", MAKE);
        JsonNode manifest = JSON.readTree(root.resolve("manifest.json").toFile());
        int models = 0;
        for (JsonNode m : manifest.get("models")) {
            check(root.resolve(m.asText()));
            models++;
        }
        assertEquals(2, models, "bert and roberta");
    }

    private static void check(Path dir) throws IOException {
        JsonNode ex = JSON.readTree(dir.resolve("expected.json").toFile());
        String name = ex.get("model").asText();
        int k = ex.get("fill_mask_top_k").asInt();
        JsonNode cases = ex.get("fill_mask");
        assertTrue(cases.size() > 0, name + ": fill-mask cases");
        double worst = 0;
        try (Model model = Model.open(ModelSource.of(dir.resolve("model")), Device.CPU, Precision.F32)) {
            assertTrue(model.hasTokenizer() && model.hasMaskedLmHead(), name + ": tokenizer and MLM head");
            assertEquals(ex.get("mask_id").asInt(), model.maskId(), name + " mask id");
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                String what = name + " \"" + text + "\"";
                assertArrayEquals(JSON.convertValue(c.get("input_ids"), int[].class), model.tokenize(text),
                        what + ": the tokenizer's ids");
                List<MaskPrediction> got = model.fillMask(text, k);
                assertEquals(1, got.size(), what + ": one mask");
                MaskPrediction p = got.get(0);
                assertEquals(c.get("mask_position").asInt(), p.position(), what + " mask position");
                JsonNode top = c.get("top_k");
                assertEquals(top.size(), p.top().size(), what + " k");
                StringBuilder line = new StringBuilder(what + ":");
                for (int i = 0; i < top.size(); i++) {
                    JsonNode want = top.get(i);
                    TokenProbability tp = p.top().get(i);
                    double d = Math.abs(tp.probability() - want.get("score").asDouble());
                    worst = Math.max(worst, d);
                    line.append(String.format(" %d %s %.6f (hf %d %.6f)", tp.id(), tp.token(), tp.probability(),
                            want.get("token").asInt(), want.get("score").asDouble()));
                    assertEquals(want.get("token").asInt(), tp.id(), what + " rank " + i + " id; " + line);
                    assertEquals(want.get("score").asDouble(), tp.probability(), 1e-5, what + " rank " + i + " score");
                    assertEquals(want.get("token_str").asText().strip(), tp.token(), what + " rank " + i + " token");
                }
                System.out.println(line);
            }
        }
        System.out.printf("%s fill-mask vs pipeline: max |score difference| %.2e%n", name, worst);
    }
}
