package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;

/** The API on an encoder: all-MiniLM-L6-v2 (a bare BERT body) against ONNX Runtime's embeddings, CPU. */
class ApiEncoderTest {
    @Test
    void embedEqualsOnnxRuntimeAndTheDecoderCallsAreRefused() throws IOException {
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        JsonNode ref = new ObjectMapper().readTree(model.resolve("reference.json").toFile());
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            assertTrue(m.info().encoder());
            assertTrue(m.hasTokenizer());
            assertFalse(m.hasMaskedLmHead());
            List<String> texts = List.of(ref.get("sentences").get(0).asText(), ref.get("sentences").get(3).asText());
            float[][] e = m.embed(texts, Pooling.MEAN, true);
            int[] sentence = {0, 3};
            for (int i = 0; i < 2; i++) {
                JsonNode want = ref.get("mean_pooled_normalised").get(sentence[i]);
                assertEquals(want.size(), e[i].length);
                for (int c = 0; c < want.size(); c++) {
                    double w = want.get(c).asDouble();
                    assertTrue(Math.abs(e[i][c] - w) <= 1e-4 + 1e-4 * Math.abs(w), i + "[" + c + "]: " + e[i][c]
                            + " vs " + w);
                }
            }
            // one text alone, unnormalised, is the normalised one up to its norm
            float[] single = m.embed(texts.get(0));
            double norm = 0;
            for (float v : single) {
                norm += (double) v * v;
            }
            norm = Math.sqrt(norm);
            for (int c = 0; c < single.length; c++) {
                assertEquals(e[0][c], single[c] / norm, 1e-5);
            }
            String msg = assertThrows(ZotuneException.class, () -> m.fillMask("a [MASK] day", 3)).getMessage();
            assertTrue(msg.contains("no masked-LM head"), msg);
            msg = assertThrows(ZotuneException.class, () -> m.score("some text here")).getMessage();
            assertTrue(msg.contains("encoder (masked language model)"), msg);
            msg = assertThrows(ZotuneException.class, () -> m.generate("Hello", Generation.greedy(3))).getMessage();
            assertTrue(msg.contains("encoder (masked language model)"), msg);
        }
    }
}
