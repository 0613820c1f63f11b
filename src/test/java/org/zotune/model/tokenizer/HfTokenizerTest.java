package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;

/** A hand-written word-level tokenizer.json whose ids can be read off its vocabulary. */
class HfTokenizerTest {
    @TempDir
    Path dir;

    static final String TOKENIZER_JSON = "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,"
            + " \"added_tokens\": ["
            + special(0, "<unk>") + "," + special(1, "<s>") + "," + special(2, "</s>") + "],"
            + " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"},"
            + " \"post_processor\": {\"type\": \"TemplateProcessing\","
            + "   \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
            + "   \"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
            + "              {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}],"
            + "   \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1], \"tokens\": [\"<s>\"]}}},"
            + " \"decoder\": null,"
            + " \"model\": {\"type\": \"WordLevel\", \"unk_token\": \"<unk>\","
            + "   \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"hello\": 3, \"world\": 4}}}";

    private static String special(int id, String content) {
        return "{\"id\": " + id + ", \"content\": \"" + content + "\", \"single_word\": false, \"lstrip\": false,"
                + " \"rstrip\": false, \"normalized\": false, \"special\": true}";
    }

    @Test
    void encodeWithAndWithoutSpecialTokens() throws IOException {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, TOKENIZER_JSON);
        Tokenizer t = Tokenizers.forModel(dir, null);
        assertArrayEquals(new int[] {1, 3, 4}, t.encode("hello world"));
        assertArrayEquals(new int[] {3, 4}, t.encodeNoSpecial("hello world"));
        assertArrayEquals(new int[] {3, 0}, t.encodeNoSpecial("hello there"));
        assertEquals("hello world", t.decode(new int[] {1, 3, 4}));
        assertEquals(1, t.bosId());
        assertEquals(2, t.eosId());
        assertEquals(5, t.vocabSize());
    }

    @Test
    void neverTruncates() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), TOKENIZER_JSON);
        int[] ids = Tokenizers.forModel(dir, null).encodeNoSpecial("hello ".repeat(5000));
        int[] expected = new int[5000];
        Arrays.fill(expected, 3);
        assertArrayEquals(expected, ids);
    }

    @Test
    void tokenizerConfigNamesBosAndEos() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), TOKENIZER_JSON);
        Path cfg = dir.resolve("tokenizer_config.json");
        Files.writeString(cfg, "{\"bos_token\": \"world\", \"eos_token\": {\"content\": \"hello\"}}");
        Tokenizer t = Tokenizers.forModel(null, dir.resolve("tokenizer.json"));
        assertEquals(4, t.bosId());
        assertEquals(3, t.eosId());

        Files.writeString(cfg, "{\"bos_token\": null, \"eos_token\": \"<eot>\"}");
        ZotuneException e = assertThrows(ZotuneException.class, () -> Tokenizers.forModel(dir, null));
        assertEquals(cfg.toAbsolutePath() + ": field eos_token names token <eot>, which the tokenizer does not have",
                e.getMessage());
    }

    @Test
    void missingExplicitFile() {
        Path absent = dir.resolve("tokenizer.json");
        ZotuneException e = assertThrows(ZotuneException.class, () -> Tokenizers.forModel(null, absent));
        assertTrue(e.getMessage().startsWith(absent + ": tokenizer file not found"), e.getMessage());
    }
}
