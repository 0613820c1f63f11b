package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;

/**
 * GPT-2's byte-level BPE from OpenAI's encoder.json + vocab.bpe (shared data). Expected ids are the published
 * GPT-2 ids (e.g. tiktoken's README: "hello world" → [31373, 995]) and entries of encoder.json itself; the
 * fixture test compares many more texts against transformers.
 */
class Gpt2TokenizerTest {
    static Path bpeDir;
    static Tokenizer gpt2;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        bpeDir = TestData.file("tokenizers/gpt2-bpe/encoder.json").getParent();
        gpt2 = Tokenizers.forModel(bpeDir, null);
    }

    @Test
    void knownIds() {
        assertArrayEquals(new int[] {31373, 995}, gpt2.encode("hello world"));
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        assertArrayEquals(new int[] {15496, 11, 995, 0}, gpt2.encode("Hello, world!"));
        assertArrayEquals(new int[] {18435}, gpt2.encode(" Hello"));
        // the special token is matched in raw text
        assertArrayEquals(new int[] {50256, 15496}, gpt2.encode("<|endoftext|>Hello"));
        // GPT-2 adds no BOS: with and without special tokens agree
        assertArrayEquals(gpt2.encode("Hello, world!"), gpt2.encodeNoSpecial("Hello, world!"));
    }

    @Test
    void specialIdsAndVocabulary() {
        assertEquals(50256, gpt2.bosId());
        assertEquals(50256, gpt2.eosId());
        assertEquals(50257, gpt2.vocabSize());
    }

    @Test
    void longTextIsNotTruncated() {
        int[] ids = gpt2.encode(" hello".repeat(3000));
        assertEquals(3000, ids.length);
        int[] expected = new int[3000];
        Arrays.fill(expected, 23748); // "Ġhello" in encoder.json
        assertArrayEquals(expected, ids);
    }

    @Test
    void decodeRoundTrips() {
        for (String text : List.of("Hello, world!", "  two  spaces\nand a newline\n\n", "naïve café — 東京 🎉",
                "It's 3.14159, isn't it?", "tabs\there")) {
            assertEquals(text, gpt2.decode(gpt2.encode(text)), text);
        }
        // special tokens are skipped when decoding
        assertEquals("Hello", gpt2.decode(new int[] {50256, 15496}));
    }

    @Test
    void huggingFaceFileNamesAndExplicitFiles() throws IOException {
        Files.copy(bpeDir.resolve("encoder.json"), tmp.resolve("vocab.json"));
        Files.copy(bpeDir.resolve("vocab.bpe"), tmp.resolve("merges.txt"));
        int[] expected = gpt2.encode("Hello, world!");
        assertArrayEquals(expected, Tokenizers.forModel(tmp, null).encode("Hello, world!"));
        assertArrayEquals(expected, Tokenizers.forModel(null, tmp.resolve("merges.txt")).encode("Hello, world!"));
        assertArrayEquals(expected, Tokenizers.forModel(tmp.resolve("x"), bpeDir.resolve("encoder.json"))
                .encode("Hello, world!"));
    }

    @Test
    void addBosTokenFromTokenizerConfig() throws IOException {
        // OPT's tokenizer_config.json asks for a BOS in front of every sequence
        Files.copy(bpeDir.resolve("encoder.json"), tmp.resolve("vocab.json"));
        Files.copy(bpeDir.resolve("vocab.bpe"), tmp.resolve("merges.txt"));
        Files.writeString(tmp.resolve("tokenizer_config.json"),
                "{\"add_bos_token\": true, \"bos_token\": {\"content\": \"<|endoftext|>\"}, \"eos_token\": \"<|endoftext|>\"}");
        Tokenizer t = Tokenizers.forModel(tmp, null);
        assertArrayEquals(new int[] {50256, 15496, 11, 995, 0}, t.encode("Hello, world!"));
        assertArrayEquals(new int[] {15496, 11, 995, 0}, t.encodeNoSpecial("Hello, world!"));
        assertEquals("Hello, world!", t.decode(t.encode("Hello, world!")));
    }

    private static void assertBad(Path expectedFile, String fragment, org.junit.jupiter.api.function.Executable ex) {
        ZotuneException e = assertThrows(ZotuneException.class, ex);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith(expectedFile.toString()), "names " + expectedFile + ": " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "should contain '" + fragment + "': " + e.getMessage());
    }

    @Test
    void badFiles() throws IOException {
        Path vocab = tmp.resolve("vocab.json");
        Path merges = tmp.resolve("merges.txt");
        Files.writeString(vocab, "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        Files.writeString(merges, "#version: 0.2\na b\nab\n");
        assertBad(merges, "line 3 is not two tokens separated by one space: 'ab'", () -> Tokenizers.forModel(tmp, null));
        Files.writeString(merges, "a b\nb c\n");
        assertBad(merges, "line 2 uses token 'c', which the vocabulary lacks", () -> Tokenizers.forModel(tmp, null));
        Files.writeString(vocab, "{\"a\": 0, \"b\": ");
        assertBad(vocab, "malformed JSON", () -> Tokenizers.forModel(tmp, null));
        Files.writeString(vocab, "{\"a\": \"zero\"}");
        assertBad(vocab, "token a has id \"zero\"", () -> Tokenizers.forModel(tmp, null));
        Files.delete(merges);
        assertBad(vocab, "needs merges.txt in the same folder", () -> Tokenizers.forModel(null, vocab));
        assertBad(tmp, "no tokenizer found", () -> Tokenizers.forModel(tmp, null));

        Path json = tmp.resolve("tokenizer.json");
        Files.writeString(json, "{\"model\": {\"type\": \"BPE\", ");
        assertBad(json, "malformed JSON", () -> Tokenizers.forModel(tmp, null));
        Files.writeString(json, "{\"version\": \"1.0\"}");
        assertBad(json, "not a Hugging Face tokenizer.json", () -> Tokenizers.forModel(tmp, null));
        Files.writeString(json, "{\"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        assertBad(json, "the tokenizers library rejected it", () -> Tokenizers.forModel(tmp, null));

        Path sp = tmp.resolve("tokenizer.model");
        Files.write(sp, new byte[] {1});
        assertBad(sp, "SentencePiece .model files are not read directly", () -> Tokenizers.forModel(null, sp));
    }
}
