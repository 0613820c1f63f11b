package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.PromptEncoder;
import org.zotune.data.io.SuperGlueReader;
import org.zotune.data.io.TableReader;
import org.zotune.data.prompt.Templates;
import org.zotune.model.Batch;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;

/**
 * The objectives on the real stories260K model (CPU backend), checked against the same quantities computed here
 * independently: each candidate row run alone (no padding, no batching), its logits copied to the host and
 * log-softmaxed in double precision.
 */
class ObjectivesStories260KTest {
    private static LoadedModel model;
    private static Llama2cTokenizer tok;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        tok = Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
    }

    /** Σ log p(row[t] | row[..t)) over answer positions t >= max(start, 1), and their count, from one unpadded run. */
    private static double[] rowLogLikelihood(CpuOps ops, Parameters p, int[] row, int start) {
        float[] logits;
        try (var scope = ops.scope()) {
            logits = ops.toHost(model.model().forward(ops, p, Batch.of(row)));
        }
        int v = model.config().vocabSize();
        double sum = 0;
        int n = 0;
        for (int t = Math.max(start, 1); t < row.length; t++) {
            int o = (t - 1) * v;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < v; c++) {
                max = Math.max(max, logits[o + c]);
            }
            double z = 0;
            for (int c = 0; c < v; c++) {
                z += Math.exp(logits[o + c] - max);
            }
            sum += logits[o + row[t]] - max - Math.log(z);
            n++;
        }
        return new double[] {sum, n};
    }

    private static double[][] independentScores(CpuOps ops, Parameters p, List<EncodedExample> ex) {
        double[][] s = new double[ex.size()][];
        for (int i = 0; i < ex.size(); i++) {
            EncodedExample e = ex.get(i);
            s[i] = new double[e.candidates()];
            for (int c = 0; c < e.candidates(); c++) {
                double[] ll = rowLogLikelihood(ops, p, e.rows()[c], e.answerStart()[c]);
                s[i][c] = ll[0] / ll[1];
            }
        }
        return s;
    }

    private static int argmax(double[] s) {
        int b = 0;
        for (int i = 1; i < s.length; i++) {
            if (s[i] > s[b]) {
                b = i;
            }
        }
        return b;
    }

    private static List<EncodedExample> sst2(int n) {
        Dataset dev = TableReader.sst2(TestData.file("datasets/sst2-glue/dev.tsv"), ReadOptions.STRICT);
        return new PromptEncoder(tok, 512).encode(dev.withExamples("dev", dev.examples().subList(0, n)),
                Templates.builtin("sst2"));
    }

    @Test
    void classificationLossAccuracyAndF1MatchAnIndependentComputation() {
        List<EncodedExample> ex = sst2(6);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double[][] s = independentScores(ops, p, ex);
            double ce = 0;
            int right = 0;
            int tp = 0;
            int fp = 0;
            int fn = 0;
            for (int i = 0; i < ex.size(); i++) {
                double z = 0;
                for (double v : s[i]) {
                    z += Math.exp(v);
                }
                ce += Math.log(z) - s[i][ex.get(i).gold()];
                int pred = argmax(s[i]);
                int gold = ex.get(i).gold();
                right += pred == gold ? 1 : 0;
                tp += pred == 1 && gold == 1 ? 1 : 0;
                fp += pred == 1 && gold == 0 ? 1 : 0;
                fn += pred == 0 && gold == 1 ? 1 : 0;
            }
            ce /= ex.size();
            PromptBatch batch = PromptBatch.of(ex, 0);
            OptionScores.Scored scored = OptionScores.score(ops, model.model(), p, batch);
            for (int i = 0; i < ex.size(); i++) {
                for (int c = 0; c < 2; c++) {
                    assertEquals(s[i][c], scored.rowScores()[2 * i + c], 1e-4, "example " + i + " candidate " + c);
                }
            }
            float loss = new ClassificationLoss().loss(ops, model.model(), p, batch);
            assertEquals(ce, loss, 1e-4);
            assertTrue(loss > 0.05 && loss < 5, "a plausible loss: " + loss);
            System.out.printf("stories260K SST-2 dev[0..6): classification loss %.6f (independent %.6f), accuracy %d/6%n",
                    loss, ce, right);
            assertEquals(-(double) right / ex.size(), new NegativeAccuracy().loss(ops, model.model(), p, batch), 1e-6);
            double f1 = 2 * tp + fp + fn == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn);
            assertEquals(-f1, new NegativeF1().loss(ops, model.model(), p, batch), 1e-6);
        }
    }

    @Test
    void macroF1OnThreeClasses() {
        Dataset cb = SuperGlueReader.read(TestData.file("datasets/superglue/CB/fewglue-val.jsonl"),
                SuperGlueReader.Task.CB, ReadOptions.STRICT);
        List<EncodedExample> ex = new PromptEncoder(tok, 512).encode(cb.withExamples("cb",
                cb.examples().subList(0, 12)), Templates.builtin("cb"));
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double[][] s = independentScores(ops, p, ex);
            double f1Sum = 0;
            int present = 0;
            for (int c = 0; c < 3; c++) {
                int tp = 0;
                int fp = 0;
                int fn = 0;
                for (int i = 0; i < ex.size(); i++) {
                    boolean pc = argmax(s[i]) == c;
                    boolean gc = ex.get(i).gold() == c;
                    tp += pc && gc ? 1 : 0;
                    fp += pc && !gc ? 1 : 0;
                    fn += !pc && gc ? 1 : 0;
                }
                if (tp + fp + fn > 0) {
                    f1Sum += 2.0 * tp / (2 * tp + fp + fn);
                    present++;
                }
            }
            double macro = f1Sum / present;
            float negF1 = new NegativeF1().loss(ops, model.model(), p, PromptBatch.of(ex, 0));
            System.out.printf("stories260K CB val[0..12): macro F1 %.4f (independent %.4f)%n", -negF1, macro);
            assertEquals(-macro, negF1, 1e-6);
        }
    }

    @Test
    void multipleChoiceIsLengthNormalised() {
        Dataset copa = SuperGlueReader.read(TestData.file("datasets/superglue/COPA/fewglue-val.jsonl"),
                SuperGlueReader.Task.COPA, ReadOptions.STRICT);
        List<EncodedExample> ex = new PromptEncoder(tok, 512).encode(copa.withExamples("copa",
                copa.examples().subList(0, 3)), Templates.builtin("copa"));
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double[][] s = independentScores(ops, p, ex);
            double ce = 0;
            for (int i = 0; i < ex.size(); i++) {
                ce += Math.log(Math.exp(s[i][0]) + Math.exp(s[i][1])) - s[i][ex.get(i).gold()];
            }
            float loss = new ClassificationLoss().loss(ops, model.model(), p, PromptBatch.of(ex, 0));
            assertEquals(ce / ex.size(), loss, 1e-4);
        }
    }

    @Test
    void causalLmLossMasksThePrompt() {
        PromptEncoder enc = new PromptEncoder(tok, 512);
        List<EncodedExample> ex = new ArrayList<>();
        ex.add(enc.encodeLanguageModel(new Example("a:1", Map.of("prompt", "Once upon a time,", "completion",
                " there was a little girl named Lily."), -1, List.of())));
        ex.add(enc.encodeLanguageModel(new Example("a:2", Map.of("text", "She loved to play outside in the park."),
                -1, List.of())));
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double sum = 0;
            double n = 0;
            for (EncodedExample e : ex) {
                double[] ll = rowLogLikelihood(ops, p, e.rows()[0], e.answerStart()[0]);
                sum -= ll[0];
                n += ll[1];
            }
            assertEquals(tok.encode(" there was a little girl named Lily.").length - 1 + 0.0,
                    ex.get(0).rows()[0].length - ex.get(0).answerStart()[0] + 0.0, 1.0,
                    "roughly the completion's tokens are scored");
            float loss = new CausalLmLoss().loss(ops, model.model(), p, PromptBatch.of(ex, 0));
            assertEquals(sum / n, loss, 1e-4);
            assertTrue(loss < 3, "stories260K knows this text: " + loss);
            System.out.printf("stories260K LM loss on 2 texts: %.6f (independent %.6f, %d tokens)%n", loss, sum / n,
                    (int) n);
            // on a candidate batch the LM loss covers the gold candidates' answers only
            List<EncodedExample> cls = sst2(3);
            double s2 = 0;
            double n2 = 0;
            for (EncodedExample e : cls) {
                double[] ll = rowLogLikelihood(ops, p, e.rows()[e.gold()], e.answerStart()[e.gold()]);
                s2 -= ll[0];
                n2 += ll[1];
            }
            assertEquals(s2 / n2, new CausalLmLoss().loss(ops, model.model(), p, PromptBatch.of(cls, 0)), 1e-4);
        }
    }

    @Test
    void heldOutLanguageModelLossOverCorpusChunks() {
        org.zotune.data.io.TextCorpus corpus = org.zotune.data.io.TextCorpus.read(
                List.of(TestData.file("datasets/janeausten/emma.txt")), tok, 48, 3);
        List<EncodedExample> ex = new ArrayList<>();
        for (int[] c : corpus.chunks()) {
            ex.add(new EncodedExample("chunk", new int[][] {c}, new int[] {0}, 0));
        }
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double sum = 0;
            double n = 0;
            for (int[] c : corpus.chunks()) {
                double[] ll = rowLogLikelihood(ops, p, c, 0);
                sum -= ll[0];
                n += ll[1];
            }
            Evaluator.LmResult r = Evaluator.languageModel(ops, model.model(), p, ex, 2, 0);
            assertEquals(3 * 47, r.tokens());
            assertEquals(sum / n, r.loss(), 1e-4);
            System.out.printf("stories260K on Emma, 3 chunks of 48: loss %.4f, perplexity %.2f%n", r.loss(),
                    r.perplexity());
            // the chunk batch's causal targets are the batch's own next-token targets
            PromptBatch chunks = PromptBatch.ofChunks(corpus.chunks(), 0);
            org.junit.jupiter.api.Assertions.assertArrayEquals(NextTokenTargets.of(chunks.batch()),
                    NextTokenTargets.shift(chunks.labels(), chunks.batch().seq()));
            org.junit.jupiter.api.Assertions.assertArrayEquals(NextTokenTargets.of(chunks.batch()),
                    new CausalLmLoss().tokenTargets(model.model(), chunks).orElseThrow());
        }
    }

    @Test
    void evaluatorOverBatches() {
        List<EncodedExample> ex = sst2(10);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            double[][] s = independentScores(ops, p, ex);
            int right = 0;
            for (int i = 0; i < ex.size(); i++) {
                right += argmax(s[i]) == ex.get(i).gold() ? 1 : 0;
            }
            Evaluator.Result r = Evaluator.evaluate(ops, model.model(), p, ex, 4, 0);
            assertEquals(10, r.examples());
            assertEquals(right / 10.0, r.accuracy(), 1e-12);
            for (int i = 0; i < ex.size(); i++) {
                assertEquals(argmax(s[i]), r.predictions()[i]);
            }
            Dataset dev = TableReader.sst2(TestData.file("datasets/sst2-glue/dev.tsv"), ReadOptions.STRICT);
            Evaluator.Result one = Evaluator.evaluate(ops, model.model(), p, new PromptEncoder(tok, 512),
                    dev.withExamples("dev", dev.examples().subList(0, 10)), Templates.builtin("sst2"), 10);
            System.out.printf("stories260K SST-2 dev[0..10): accuracy %.2f, F1 %.4f, loss %.6f%n", r.accuracy(), r.f1(),
                    r.loss());
            assertEquals(r.loss(), one.loss(), 1e-5, "batch size does not change the loss");
            assertThrows(ZotuneException.class, () -> Evaluator.evaluate(ops, model.model(), p, ex, 0, 0));
        }
    }
}
