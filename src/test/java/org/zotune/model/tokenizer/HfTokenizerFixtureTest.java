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
 * the LlamaTokenizerFast tokenizer.json saved beside the fixture. A case may carry "add_special_tokens"
 * (default true, as transformers' tokenizer(text) does).
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
        int roundTrips = 0;
        for (JsonNode c : cases) {
            String name = c.path("tokenizer").asText();
            Tokenizer tok = tokenizers.computeIfAbsent(name, HfTokenizerFixtureTest::tokenizer);
            String text = c.get("text").asText();
            boolean special = c.path("add_special_tokens").asBoolean(true);
            int[] expected = new int[c.get("ids").size()];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = c.get("ids").get(i).asInt();
            }
            int[] actual = special ? tok.encode(text) : tok.encodeNoSpecial(text);
            assertArrayEquals(expected, actual, name + " ids for " + quote(text));
            checked++;
            // decoding skips special tokens, so only texts that spell none must come back unchanged
            if (!text.contains("<s>") && !text.contains("</s>") && !text.contains("<|endoftext|>")) {
                assertEquals(text, tok.decode(actual), name + " decode round trip for " + quote(text));
                roundTrips++;
            }
        }
        System.out.println("HfTokenizerFixtureTest: " + checked + " cases matched exactly (transformers "
                + fixture.path("transformers").asText() + "), " + roundTrips + " decode round trips");
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
