package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;

/** embed on all-MiniLM-L6-v2 against ONNX Runtime's embeddings; the encoder refusals of fill-mask and perplexity. */
class EncoderCliTest {
    @TempDir
    Path tmp;

    @Test
    void embedWritesTheReferenceEmbeddingsAsJsonLines() throws IOException {
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        JsonNode ref = new ObjectMapper().readTree(model.resolve("reference.json").toFile());
        Path text = tmp.resolve("in.txt");
        Files.writeString(text, ref.get("sentences").get(0).asText() + "\n" + ref.get("sentences").get(3).asText()
                + "\n");
        Path out = tmp.resolve("out.jsonl");
        CliRun r = CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--normalize",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(2, lines.size());
        int[] sentence = {0, 3};
        for (int i = 0; i < 2; i++) {
            JsonNode o = new ObjectMapper().readTree(lines.get(i));
            assertEquals(ref.get("sentences").get(sentence[i]).asText(), o.get("text").asText());
            JsonNode want = ref.get("mean_pooled_normalised").get(sentence[i]);
            assertEquals(want.size(), o.get("embedding").size());
            for (int c = 0; c < want.size(); c++) {
                double w = want.get(c).asDouble();
                double g = o.get("embedding").get(c).asDouble();
                assertTrue(Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w), "line " + i + " [" + c + "]: " + g + " vs " + w);
            }
        }
    }

    @Test
    void aBareEncoderRefusesFillMaskAndAnEncoderRefusesPerplexity() throws IOException {
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        CliRun.of("fill-mask", "--model", model.toString(), "--text", "a [MASK] day")
                .assertUsageError("no masked-LM head", "use zotune embed");
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "some text");
        CliRun.of("perplexity", "--model", model.toString(), "--text-file", text.toString())
                .assertUsageError("encoder (masked language model)", "use zotune fill-mask or zotune embed");
        CliRun.of("generate", "--model", model.toString(), "--prompt", "Hello")
                .assertUsageError("encoder (masked language model)", "use zotune fill-mask or zotune embed");
    }
}
