package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;

/**
 * The masked-LM prompt objective on a tiny random BertForMaskedLM with a WordPiece tokenizer: the encoding (one mask,
 * one token per label word, truncation that keeps the mask), the loss and predictions against a computation written
 * here from the model's full logits, and its one-line refusals.
 */
class MaskedLmPromptTest {
    @TempDir
    Path dir;

    private LoadedEncoder model;
    private HfTokenizer tokenizer;

    @BeforeEach
    void setUp() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 11, true);
        model = ModelLoader.loadEncoder(folder);
        tokenizer = HfTokenizer.load(folder.resolve("tokenizer.json"));
    }

    private static Dataset data(String... textLabel) {
        List<Example> ex = new ArrayList<>();
        for (int i = 0; i < textLabel.length; i += 2) {
            ex.add(new Example("d.jsonl:" + (i / 2 + 1), Map.of("text", textLabel[i]),
                    textLabel[i + 1].equals("neg") ? 0 : 1, List.of()));
        }
        return new Dataset("d", Dataset.Kind.CLASSIFICATION, List.of("neg", "pos"), List.of("text"), ex, List.of());
    }

    private static MaskedTemplate template(String pattern) {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("neg", "terrible");
        v.put("pos", "great");
        return new MaskedTemplate("t", pattern, v);
    }

    private static int id(String t) {
        return TinyBertFolder.id(t);
    }

    @Test
    void encodesOneMaskAndOneTokenPerLabelWord() {
        MaskedPromptEncoder enc = MaskedPromptEncoder.of(tokenizer, 0, 32);
        assertEquals(id("[MASK]"), enc.maskId());
        MaskedTemplate t = template("{text} It was <mask>.");
        List<EncodedExample> e = enc.encode(data("the movie is fun", "pos"), t);
        assertArrayEquals(new int[] {id("[CLS]"), id("the"), id("movie"), id("is"), id("fun"), id("it"), id("was"),
            id("[MASK]"), id("."), id("[SEP]")}, e.get(0).rows()[0]);
        assertEquals(7, e.get(0).answerStart()[0]);
        assertEquals(1, e.get(0).gold());
        assertArrayEquals(new int[] {id("terrible"), id("great")}, enc.labelTokens(t.words(), false));
    }

    @Test
    void truncationKeepsTheSpecialTokensAndTheMaskAndCutsTheLongerSide() {
        MaskedPromptEncoder enc = MaskedPromptEncoder.of(tokenizer, 0, 7);
        // before the mask: the movie is fun it was (6), after: . (1) -> drop 3 from the start of the longer side
        int[] row = enc.encode(data("the movie is fun", "pos"), template("{text} It was [MASK].")).get(0).rows()[0];
        assertArrayEquals(new int[] {id("[CLS]"), id("fun"), id("it"), id("was"), id("[MASK]"), id("."),
            id("[SEP]")}, row);
        // mask first: the text after it is cut at its end
        int[] row2 = enc.encode(data("the movie is fun", "pos"), template("<mask>: {text}")).get(0).rows()[0];
        assertArrayEquals(new int[] {id("[CLS]"), id("[MASK]"), id(":"), id("the"), id("movie"), id("is"),
            id("[SEP]")}, row2);
    }

    @Test
    void lossAndPredictionsEqualTheRestrictedSoftmaxOfTheFullLogitsAtTheMask() {
        MaskedPromptEncoder enc = MaskedPromptEncoder.of(tokenizer, 0, 32);
        MaskedTemplate t = template("{text} It was [MASK].");
        List<EncodedExample> ex = enc.encode(data("the movie is fun", "pos", "dull plot", "neg",
                "the acting was boring , the film was bad", "neg"), t);
        int[] words = enc.labelTokens(t.words(), false);
        MaskedLmPrompt objective = new MaskedLmPrompt(enc.maskId(), words);
        PromptBatch b = PromptBatch.of(ex, 0);
        int v = TinyBertFolder.VOCAB.size();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            float loss = objective.loss(ops, model.model(), p, b);
            double[][] scores = objective.choiceScores(ops, model.model(), p, b);
            float[] all = ops.toHost(model.model().forward(ops, p, b.batch())); // MLM logits at every position
            int seq = b.batch().seq();
            double want = 0;
            for (int x = 0; x < 3; x++) {
                int at = -1;
                for (int s = 0; s < seq; s++) {
                    if (b.batch().ids()[x * seq + s] == id("[MASK]")) {
                        at = x * seq + s;
                    }
                }
                double s0 = all[at * v + id("terrible")];
                double s1 = all[at * v + id("great")];
                assertEquals(s0, scores[x][0], 1e-5 + 1e-5 * Math.abs(s0));
                assertEquals(s1, scores[x][1], 1e-5 + 1e-5 * Math.abs(s1));
                double logZ = Math.log(Math.exp(s0) + Math.exp(s1));
                want += logZ - (b.gold()[x] == 0 ? s0 : s1);
            }
            want /= 3;
            assertEquals(want, loss, 1e-5 * Math.max(1, Math.abs(want)));
            Evaluator.Result r = Evaluator.evaluate(ops, model.model(), p, ex, 2, 0, objective);
            assertEquals(want, r.loss(), 1e-5 * Math.max(1, Math.abs(want)));
            int[] pred = new int[3];
            int right = 0;
            for (int x = 0; x < 3; x++) {
                pred[x] = scores[x][1] > scores[x][0] ? 1 : 0;
                right += pred[x] == b.gold()[x] ? 1 : 0;
            }
            assertArrayEquals(pred, r.predictions());
            assertEquals(right / 3.0, r.accuracy(), 1e-12);
        }
    }

    @Test
    void refusalsAreOneLine() throws IOException {
        MaskedPromptEncoder enc = MaskedPromptEncoder.of(tokenizer, 0, 32);
        String noMask = assertThrows(ZotuneException.class, () -> template("{text} It was great.")).getMessage();
        assertTrue(noMask.contains("exactly one mask placeholder (<mask> or [MASK]), found 0"), noMask);
        String two = assertThrows(ZotuneException.class, () -> template("<mask> {text} <mask>")).getMessage();
        assertTrue(two.contains("found 2"), two);
        // a label word of two pieces: named, refused unless the first token is allowed
        String multi = assertThrows(ZotuneException.class, () -> enc.labelTokens(List.of("bad", "wonderful"), false))
                .getMessage();
        assertTrue(multi.startsWith("verbalizer word 'wonderful' is 2 tokens"), multi);
        assertTrue(multi.contains("data.verbalizer_first_token"), multi);
        assertArrayEquals(new int[] {id("bad"), id("wonder")}, enc.labelTokens(List.of("bad", "wonderful"), true));
        String same = assertThrows(ZotuneException.class, () -> enc.labelTokens(List.of("wonder", "wonderful"), true))
                .getMessage();
        assertTrue(same.contains("'wonder' and 'wonderful' are scored by the same token"), same);
        // the example's own text holding a mask
        String inText = assertThrows(ZotuneException.class, () -> enc.encode(data("a [MASK] movie", "pos"),
                template("{text} It was <mask>."))).getMessage();
        assertTrue(inText.startsWith("d.jsonl:1: the prompt holds 2 mask tokens [MASK]"), inText);
        // a decoder prompt batch (several candidate rows), a bare encoder, a causal model
        MaskedLmPrompt objective = new MaskedLmPrompt(enc.maskId(), new int[] {id("bad"), id("great")});
        PromptBatch twoRows = PromptBatch.of(List.of(new EncodedExample("x", new int[][] {{2, 4, 3}, {2, 4, 3}},
                new int[] {1, 1}, 0)), 0);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            String rows = assertThrows(ZotuneException.class, () -> objective.loss(ops, model.model(), p, twoRows))
                    .getMessage();
            assertTrue(rows.contains("example 0 has 2 candidate rows"), rows);
            PromptBatch noMaskRow = PromptBatch.of(List.of(new EncodedExample("x", new int[][] {{2, 9, 3}},
                    new int[] {1}, 0)), 0);
            String none = assertThrows(ZotuneException.class, () -> objective.loss(ops, model.model(), p, noMaskRow))
                    .getMessage();
            assertTrue(none.contains("example 0 holds no mask token (id 4)"), none);
        }
        LoadedEncoder bare = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bare"), 3, false));
        String noHead = assertThrows(ZotuneException.class, () -> objective.maskedChoices(bare.model(),
                PromptBatch.of(List.of(new EncodedExample("x", new int[][] {{2, 4, 3}}, new int[] {1}, 0)), 0)))
                .getMessage();
        assertTrue(noHead.contains("objective mlm scores the masked-LM head, and this BERT checkpoint has none"),
                noHead);
    }
}
