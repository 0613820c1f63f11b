package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;

/**
 * Exact ids from Hugging Face transformers (fixtures/tokenizers/expected.json, written by a script in
 * scripts/ on the GPU host): "gpt2" cases through the shared encoder.json + vocab.bpe, "llama2" cases through
 * the LlamaTokenizerFast tokenizer.json saved beside the fixture. "ids" are tokenizer(text)["input_ids"]
 * (special tokens added, unless a case says "add_special_tokens": false); optional "ids_no_special" and
 * "decoded" (decode with skip_special_tokens) are checked when present.
 */
class HfTokenizerFixtureTest {
    private static final String FIXTURE = "/fixtures/tokenizers/expected.json";
    private static final String LLAMA2 = "/fixtures/tokenizers/llama2/tokenizer.json";

    private static Path resource(String name) {
        URL url = HfTokenizerFixtureTest.class.getResource(name);
        Assumptions.assumeTrue(url != null, "fixture " + name + " not present");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void idsMatchTransformersExactly() throws IOException {
        JsonNode fixture;
        try (InputStream in = resource(FIXTURE).toUri().toURL().openStream()) {
            fixture = new ObjectMapper().readTree(in);
        }
        assertEquals("zotune-tokenizer-fixture-v1", fixture.path("format").asText(), "fixture format");
        JsonNode cases = fixture.get("cases");
        assertTrue(cases != null && cases.isArray() && cases.size() > 0, "fixture has cases");

        Map<String, Tokenizer> tokenizers = new HashMap<>();
        int checked = 0;
        int decodes = 0;
        for (JsonNode c : cases) {
            String name = c.path("tokenizer").asText();
            Tokenizer tok = tokenizers.computeIfAbsent(name, HfTokenizerFixtureTest::tokenizer);
            String text = c.get("text").asText();
            String what = name + " " + quote(text)
                    + (c.path("tokenizer_json_agrees").asBoolean(true) ? ""
                    : " (the fixture notes that transformers' saved tokenizer.json itself disagrees here)");
            boolean special = c.path("add_special_tokens").asBoolean(true);
            int[] expected = ints(c.get("ids"));
            int[] actual = special ? tok.encode(text) : tok.encodeNoSpecial(text);
            assertArrayEquals(expected, actual, "ids for " + what);
            if (c.has("ids_no_special")) {
                assertArrayEquals(ints(c.get("ids_no_special")), tok.encodeNoSpecial(text),
                        "ids without special tokens for " + what);
            }
            checked++;
            // transformers' decode(ids, skip_special_tokens=True) when recorded; otherwise decoding must give
            // back the text, unless it spells special tokens (decoding skips those)
            if (c.has("decoded")) {
                assertEquals(c.get("decoded").asText(), tok.decode(actual), "decode of " + what);
                decodes++;
            } else if (!text.contains("<s>") && !text.contains("</s>") && !text.contains("<|endoftext|>")) {
                assertEquals(text, tok.decode(actual), "decode round trip of " + what);
                decodes++;
            }
        }
        System.out.println("HfTokenizerFixtureTest: " + checked + " cases matched transformers "
                + fixture.path("transformers").asText() + " exactly, " + decodes + " decodes checked");
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void llama2SpecialTokens() {
        Tokenizer llama = tokenizer("llama2");
        assertEquals(1, llama.bosId());
        assertEquals(2, llama.eosId());
        assertEquals(32000, llama.vocabSize());
        int[] ids = llama.encode("Hello");
        assertEquals(1, ids[0], "LlamaTokenizerFast adds BOS");
        int[] plain = llama.encodeNoSpecial("Hello");
        assertFalse(plain.length > 0 && plain[0] == 1, "no BOS without special tokens");
        assertEquals(ids.length - 1, plain.length);
    }

    private static Tokenizer tokenizer(String name) {
        switch (name) {
            case "gpt2":
                return Tokenizers.forModel(TestData.file("tokenizers/gpt2-bpe/encoder.json").getParent(), null);
            case "llama2":
                return Tokenizers.forModel(null, resource(LLAMA2));
            default:
                fail("fixture names an unknown tokenizer '" + name + "'");
                return null;
        }
    }

    private static String quote(String s) {
        return "\"" + s.replace("\n", "\\n") + "\"";
    }
}
