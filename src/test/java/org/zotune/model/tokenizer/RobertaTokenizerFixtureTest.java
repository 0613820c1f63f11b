package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.data.batch.TextRowEncoder;

/**
 * The RoBERTa tokenizer transformers builds (RobertaTokenizerFast over GPT-2's BPE files, RoBERTa's special tokens)
 * against transformers' own ids, from scripts/make_roberta_tokenizer_fixture.py (run on the GPU host): single texts
 * with {@code <mask>} (lstrip) and pairs ({@code <s> a </s></s> b </s>}), through {@link HfTokenizer} and the encoder
 * objectives' {@link TextRowEncoder}. Skips while the fixture is absent.
 */
class RobertaTokenizerFixtureTest {
    @Test
    void transformersIdsForTextsAndPairs() throws IOException, URISyntaxException {
        URL expected = RobertaTokenizerFixtureTest.class.getResource("/roberta-tokenizer/expected.json");
        Assumptions.assumeTrue(expected != null && expected.getProtocol().equals("file"),
                "no RoBERTa tokenizer fixture: run scripts/make_roberta_tokenizer_fixture.py");
        Path dir = Path.of(expected.toURI()).getParent();
        JsonNode want = new ObjectMapper().readTree(expected);
        try (HfTokenizer tok = HfTokenizer.load(dir.resolve("tokenizer.json"))) {
            assertEquals(want.get("special").get("<s>").asInt(), tok.bosId());
            assertEquals(want.get("special").get("</s>").asInt(), tok.eosId());
            assertEquals(want.get("special").get("<mask>").asInt(), tok.addedTokenId("<mask>"));
            for (JsonNode c : want.get("single")) {
                assertArrayEquals(ids(c), tok.encode(c.get("text").asText()), "text '" + c.get("text").asText()
                        + "'");
            }
            TextRowEncoder rows = new TextRowEncoder(tok, 512);
            for (JsonNode c : want.get("pair")) {
                String a = c.get("first").asText();
                String b = c.get("second").asText();
                assertArrayEquals(ids(c), tok.encodePair(a, b), "pair '" + a + "' / '" + b + "'");
                assertArrayEquals(ids(c), rows.encode("pair", List.of(a, b), 0).rows()[0], "row of '" + a + "' / '"
                        + b + "'");
            }
        }
    }

    private static int[] ids(JsonNode c) {
        int[] out = new int[c.get("ids").size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = c.get("ids").get(i).asInt();
        }
        return out;
    }
}
