package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.TextRowEncoder;

/**
 * RoBERTa's byte-level BPE with its special tokens, as a RoBERTa tokenizer.json spells them: the BPE is GPT-2's
 * (shared data's encoder.json + vocab.bpe: RoBERTa uses the same merges), {@code <s>}, {@code <pad>}, {@code </s>},
 * {@code <unk>} and {@code <mask>} (lstrip: it absorbs the space before it) as added tokens, and the RobertaProcessing
 * post-processor ({@code <s> A </s>}, pairs {@code <s> A </s></s> B </s>}). The special tokens' ids are the ones this
 * test gives them (past GPT-2's 50,257); the words' ids are GPT-2's published ones (tiktoken's README: "Hello world"
 * → 15496, 995) and encoder.json's own entries, read from the file. A real RoBERTa vocabulary numbers the same pieces
 * differently (its vocab.json), which scripts/make_roberta_tokenizer_fixture.py checks against transformers.
 */
class RobertaTokenizerTest {
    static final int BOS = 50257;
    static final int PAD = 50258;
    static final int EOS = 50259;
    static final int UNK = 50260;
    static final int MASK = 50261;

    static JsonNode vocab;
    static HfTokenizer roberta;

    @TempDir
    static Path dir;

    @BeforeAll
    static void build() throws IOException {
        Path bpe = TestData.file("tokenizers/gpt2-bpe/encoder.json").getParent();
        ObjectNode root = Gpt2BpeFiles.tokenizerJson(bpe.resolve("encoder.json"), bpe.resolve("vocab.bpe"), null,
                null);
        ObjectNode v = (ObjectNode) root.get("model").get("vocab");
        vocab = v.deepCopy();
        ArrayNode added = root.putArray("added_tokens");
        String[] names = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
        for (int i = 0; i < names.length; i++) {
            v.put(names[i], BOS + i);
            ObjectNode t = added.addObject();
            t.put("id", BOS + i);
            t.put("content", names[i]);
            t.put("single_word", false);
            t.put("lstrip", names[i].equals("<mask>"));
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "RobertaProcessing");
        post.putArray("sep").add("</s>").add(EOS);
        post.putArray("cls").add("<s>").add(BOS);
        post.put("trim_offsets", true);
        post.put("add_prefix_space", false);
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, HfTokenizer.MAPPER.writeValueAsString(root));
        roberta = HfTokenizer.load(json);
    }

    @AfterAll
    static void close() {
        if (roberta != null) {
            roberta.close();
        }
    }

    private static int id(String piece) {
        JsonNode n = vocab.get(piece);
        if (n == null) {
            throw new IllegalArgumentException("encoder.json has no " + piece);
        }
        return n.asInt();
    }

    @Test
    void oneTextIsBosTextEos() {
        assertArrayEquals(new int[] {BOS, 15496, 995, EOS}, roberta.encode("Hello world"));
        assertArrayEquals(new int[] {15496, 995}, roberta.encodeNoSpecial("Hello world"));
        assertArrayEquals(new int[] {BOS, 18435, 995, EOS}, roberta.encode(" Hello world"), "Ġ marks the space");
        assertEquals(BOS, roberta.bosId());
        assertEquals(EOS, roberta.eosId());
        assertEquals(MASK, roberta.addedTokenId("<mask>"));
    }

    /** {@code <mask>} has lstrip: "was <mask>" is Ġwas then the mask, no lone Ġ (id 220) for the space. */
    @Test
    void theMaskAbsorbsTheSpaceBeforeIt() {
        assertEquals(220, id("\u0120"), "Ġ alone");
        assertArrayEquals(new int[] {BOS, id("It"), id("\u0120was"), MASK, id("."), EOS},
                roberta.encode("It was <mask>."));
        assertArrayEquals(new int[] {BOS, id("It"), id("\u0120was"), MASK, id("\u0120great"), EOS},
                roberta.encode("It was <mask> great"), "rstrip is off: the space after stays with the next word");
    }

    /** RobertaProcessing's pair: {@code <s> A </s></s> B </s>}, not BERT's single separator. */
    @Test
    void aPairIsJoinedByTwoSeparators() {
        int[] want = {BOS, 15496, 995, EOS, EOS, id("It"), id("\u0120was"), EOS};
        assertArrayEquals(want, roberta.encodePair("Hello world", "It was"));
        TextRowEncoder rows = new TextRowEncoder(roberta, 64);
        EncodedExample e = rows.encode("row 1", List.of("Hello world", "It was"), 0);
        assertArrayEquals(want, e.rows()[0], "the encoder objectives' pairs are the tokenizer's");
    }

    @Test
    void specialTokensInTextAreMatched() {
        assertArrayEquals(new int[] {BOS, BOS, 15496, EOS, EOS}, roberta.encode("<s>Hello</s>"));
        assertArrayEquals(new int[] {BOS, PAD, UNK, EOS}, roberta.encode("<pad><unk>"));
    }
}
