package org.zotune.data.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.data.Example;
import org.zotune.data.prompt.Prompted;
import org.zotune.model.Batch;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.train.objective.NextTokenTargets;

/** Tokenisation of prompt + candidates, truncation and target masks, with real tokenizers. */
class PromptEncoderTest {
    private static Tokenizer llama() {
        return Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
    }

    private static final String S = "it 's a charming and often affecting journey .";
    private static final Prompted SST2 = new Prompted("t:1", S + " It was",
            List.of(S + " It was terrible", S + " It was great"), 1);

    @Test
    void answerTokensAreWhatTheFullTextAddsToThePrompt() {
        Tokenizer tok = llama();
        EncodedExample e = new PromptEncoder(tok, 512).encode(SST2);
        int[] prompt = tok.encode(SST2.prompt());
        for (int c = 0; c < 2; c++) {
            int[] full = tok.encode(SST2.candidates().get(c));
            assertArrayEquals(full, e.rows()[c]);
            assertEquals(prompt.length, e.answerStart()[c]);
            assertArrayEquals(prompt, Arrays.copyOf(full, prompt.length));
        }
        int[] great = Arrays.copyOfRange(e.rows()[1], e.answerStart()[1], e.rows()[1].length);
        assertEquals("great", tok.decode(great));
        assertEquals(1, e.gold());
    }

    @Test
    void promptIsCutFromTheLeftKeepingBos() {
        Tokenizer tok = llama();
        int[] fullTerrible = tok.encode(SST2.candidates().get(0));
        int[] fullGreat = tok.encode(SST2.candidates().get(1));
        int longest = Math.max(fullTerrible.length, fullGreat.length);
        int max = longest - 5;
        EncodedExample e = new PromptEncoder(tok, max).encode(SST2);
        int[][] full = {fullTerrible, fullGreat};
        for (int c = 0; c < 2; c++) {
            int[] row = e.rows()[c];
            assertEquals(tok.bosId(), row[0]);
            assertEquals(full[c].length - 5, row.length, "the same 5 prompt tokens cut from every row");
            assertTrue(row.length <= max);
            assertArrayEquals(Arrays.copyOfRange(full[c], 6, full[c].length), Arrays.copyOfRange(row, 1, row.length));
        }
        // an answer that cannot fit
        Prompted longAnswer = new Prompted("t:2", "Hi", List.of("Hi there is a long answer"), 0);
        ZotuneException x = assertThrows(ZotuneException.class, () -> new PromptEncoder(tok, 3).encode(longAnswer));
        assertTrue(x.getMessage().startsWith("t:2: candidate 0 is "), x.getMessage());
        assertTrue(x.getMessage().endsWith("cannot fit the maximum length of 3 tokens"), x.getMessage());
        Prompted nothing = new Prompted("t:3", "Hi", List.of("Hi"), 0);
        x = assertThrows(ZotuneException.class, () -> new PromptEncoder(tok, 30).encode(nothing));
        assertEquals("t:3: candidate 0 (\"Hi\") adds no token after the prompt", x.getMessage());
    }

    @Test
    void languageModelTextIsCutAtItsEnd() {
        Tokenizer tok = llama();
        Example ex = new Example("t:4", Map.of("prompt", "Once upon a time", "completion",
                " there was a little girl named Lily."), -1, List.of());
        int[] full = tok.encode("Once upon a time there was a little girl named Lily.");
        int promptLen = tok.encode("Once upon a time").length;
        EncodedExample whole = new PromptEncoder(tok, 512).encodeLanguageModel(ex);
        assertArrayEquals(full, whole.rows()[0]);
        assertEquals(promptLen, whole.answerStart()[0]);
        EncodedExample cut = new PromptEncoder(tok, 4).encodeLanguageModel(ex);
        // prompt gone but BOS, then the completion's first tokens
        assertArrayEquals(new int[] {full[0], full[promptLen], full[promptLen + 1], full[promptLen + 2]}, cut.rows()[0]);
        assertEquals(1, cut.answerStart()[0]);
    }

    @Test
    void batchTargetsMarkOnlyAnswerTokens() {
        Tokenizer tok = llama();
        PromptEncoder enc = new PromptEncoder(tok, 512);
        EncodedExample a = enc.encode(SST2);
        EncodedExample b = enc.encode(new Prompted("t:5", "Bad. It was", List.of("Bad. It was terrible",
                "Bad. It was great"), 0));
        PromptBatch pb = PromptBatch.of(List.of(a, b), enc.padId());
        Batch batch = pb.batch();
        assertEquals(4, batch.batch());
        assertArrayEquals(new int[] {0, 2}, pb.firstRow());
        assertArrayEquals(new int[] {1, 0}, pb.gold());
        int seq = batch.seq();
        int[][] rows = {a.rows()[0], a.rows()[1], b.rows()[0], b.rows()[1]};
        int[] starts = {a.answerStart()[0], a.answerStart()[1], b.answerStart()[0], b.answerStart()[1]};
        // labels mark the answer tokens where they stand; a causal objective scores each from the position before
        int[] targets = NextTokenTargets.shift(pb.labels(), seq);
        for (int r = 0; r < 4; r++) {
            for (int t = 0; t < seq; t++) {
                int label = t >= starts[r] && t < rows[r].length ? rows[r][t] : -1;
                assertEquals(label, pb.labels()[r * seq + t], "label of row " + r + " position " + t);
                int want = t + 1 >= starts[r] && t + 1 < rows[r].length ? rows[r][t + 1] : -1;
                assertEquals(want, targets[r * seq + t], "row " + r + " position " + t);
                assertEquals(t < rows[r].length ? 1 : 0, batch.mask()[r * seq + t]);
            }
        }
        int[] goldLabels = pb.goldLabels();
        int[] gold = NextTokenTargets.shift(goldLabels, seq);
        for (int t = 0; t < seq; t++) {
            assertEquals(-1, gold[t], "row 0 is not example 0's gold");
            assertEquals(targets[seq + t], gold[seq + t]);
            assertEquals(targets[2 * seq + t], gold[2 * seq + t]);
            assertEquals(-1, gold[3 * seq + t]);
            assertEquals(-1, goldLabels[t]);
            assertEquals(pb.labels()[seq + t], goldLabels[seq + t]);
            assertEquals(pb.labels()[2 * seq + t], goldLabels[2 * seq + t]);
            assertEquals(-1, goldLabels[3 * seq + t]);
        }
    }

    @Test
    void withoutBosTheFirstTokenIsNotScored() {
        Tokenizer gpt2 = Tokenizers.load(TestData.file("tokenizers/gpt2-bpe/encoder.json"));
        assertTrue(gpt2.encode("Hello world")[0] != gpt2.bosId(), "GPT-2 adds no BOS");
        PromptEncoder enc = new PromptEncoder(gpt2, 64);
        EncodedExample e = enc.encodeLanguageModel(new Example("t:6", Map.of("text", "Hello world"), -1, List.of()));
        assertArrayEquals(gpt2.encode("Hello world"), e.rows()[0]);
        assertEquals(0, e.answerStart()[0]);
        PromptBatch pb = PromptBatch.of(List.of(e), enc.padId());
        assertArrayEquals(new int[] {e.rows()[0][1], -1}, NextTokenTargets.shift(pb.labels(), 2));
        assertArrayEquals(e.rows()[0], pb.labels()); // a label, but no position before it to score it
        assertEquals(50256, enc.padId());
    }
}
