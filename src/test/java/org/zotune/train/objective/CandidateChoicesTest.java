package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.DType;

/**
 * The description a candidate-scoring objective gives the captured CUDA step ({@link CandidateChoices}) and its
 * plain-Java loss (the reference of native/kernels/choice_loss.cu's choice_loss): fed the candidate rows' (sum, count)
 * pairs that the objective itself reads (one crossEntropy per row on the CPU backend, stories260K), it gives the
 * objective's own CPU loss bit for bit, for classification, −accuracy and −F1 on binary and mixed multiple-choice
 * batches (2, 3 and 4 candidates: macro F1), at θ and at a perturbed θ (other predictions).
 */
class CandidateChoicesTest {
    private static final List<Objective> OBJECTIVES = List.of(new ClassificationLoss(), new NegativeAccuracy(),
            new NegativeF1());

    @Test
    void referenceLossEqualsTheObjectivesOwnCpuLoss() {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        int vocab = m.model().config().vocabSize();
        List<PromptBatch> batches = List.of(batch(new Random(1), vocab, new int[] {2, 2, 2, 2, 2}),
                batch(new Random(2), vocab, new int[] {2, 3, 4, 3, 2, 4}),
                batch(new Random(3), vocab, new int[] {3, 3, 3}));
        int compared = 0;
        try (CpuOps ops = new CpuOps()) {
            for (float scale : new float[] {0f, 0.05f}) {
                try (Parameters p = ops.createParameters(perturbed(m, scale), DType.F32)) {
                    for (PromptBatch b : batches) {
                        float[] rowSums = rowSums(ops, m, p, b);
                        for (Objective o : OBJECTIVES) {
                            CandidateChoices c = o.candidateChoices(m.model(), b).orElseThrow();
                            float expected = o.loss(ops, m.model(), p, b);
                            float got = c.loss(rowSums);
                            System.out.printf("%-14s %d examples, classes %d: objective %.9g reference %.9g%n",
                                    o.name(), b.examples(), c.classes(), expected, got);
                            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got),
                                    o.name() + " on " + b.examples() + " examples: " + expected + " vs " + got);
                            compared++;
                        }
                    }
                }
            }
        }
        assertEquals(18, compared);
    }

    @Test
    void descriptionHoldsTheShiftedTargetsRowsAndGold() {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        PromptBatch b = batch(new Random(4), m.model().config().vocabSize(), new int[] {2, 4, 3});
        CandidateChoices c = new NegativeF1().candidateChoices(m.model(), b).orElseThrow();
        assertArrayEquals(NextTokenTargets.shift(b.labels(), b.batch().seq()), c.targets());
        assertEquals(b.batch().seq(), c.seq());
        assertArrayEquals(new int[] {0, 2, 6}, c.firstRow());
        assertArrayEquals(new int[] {2, 4, 3}, c.candidates());
        assertArrayEquals(b.gold(), c.gold());
        assertEquals(4, c.classes());
        assertEquals(CandidateChoices.Metric.NEGATIVE_F1, c.metric());
        assertEquals(CandidateChoices.Metric.CROSS_ENTROPY,
                new ClassificationLoss().candidateChoices(m.model(), b).orElseThrow().metric());
        assertEquals(CandidateChoices.Metric.NEGATIVE_ACCURACY,
                new NegativeAccuracy().candidateChoices(m.model(), b).orElseThrow().metric());
        assertTrue(new CausalLmLoss().candidateChoices(m.model(), b).isEmpty(), "lm describes token targets");
    }

    @Test
    void refusesWhatTheLossRefusesInOneLine() {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        int[][] rows = {{5, 6, 7, 8}, {5, 6, 9, 10}};
        PromptBatch noGold = PromptBatch.of(List.of(new EncodedExample("x", rows, new int[] {2, 2}, -1)), 0);
        String msg = assertThrows(ZotuneException.class,
                () -> new ClassificationLoss().candidateChoices(m.model(), noGold)).getMessage();
        assertEquals("example 0 of the batch has no gold answer", msg);
        PromptBatch noAnswer = PromptBatch.of(List.of(new EncodedExample("x", rows, new int[] {4, 2}, 1)), 0);
        msg = assertThrows(ZotuneException.class,
                () -> new NegativeAccuracy().candidateChoices(m.model(), noAnswer)).getMessage();
        assertEquals("row 0 of the batch has no answer token to score", msg);
    }

    /** Per candidate row, the (sum, count) of one crossEntropy over its logits: what OptionScores reads. */
    private static float[] rowSums(Ops ops, LoadedModel m, Parameters p, PromptBatch b) {
        int seq = b.batch().seq();
        int[] targets = NextTokenTargets.shift(b.labels(), seq);
        float[] out = new float[2 * b.rows()];
        try (Ops.Scope s = ops.scope()) {
            Tensor logits = m.model().forward(ops, p, b.batch());
            for (int r = 0; r < b.rows(); r++) {
                float[] ce = ops.toHost(ops.crossEntropy(ops.rows(logits, r * seq, (r + 1) * seq),
                        ops.ints(Arrays.copyOfRange(targets, r * seq, (r + 1) * seq))));
                out[2 * r] = ce[0];
                out[2 * r + 1] = ce[1];
            }
        }
        return out;
    }

    /** Examples of random tokens: a prompt of 3–8 tokens, candidates of 1–4 answer tokens, a random gold. */
    static PromptBatch batch(Random rnd, int vocab, int[] candidates) {
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < candidates.length; x++) {
            int prompt = 3 + rnd.nextInt(6);
            int[][] rows = new int[candidates[x]][];
            int[] start = new int[candidates[x]];
            for (int c = 0; c < candidates[x]; c++) {
                rows[c] = new int[prompt + 1 + rnd.nextInt(4)];
                for (int t = 0; t < rows[c].length; t++) {
                    rows[c][t] = 1 + rnd.nextInt(vocab - 1);
                }
                start[c] = prompt;
            }
            ex.add(new EncodedExample("r" + x, rows, start, rnd.nextInt(candidates[x])));
        }
        return PromptBatch.of(ex, 0);
    }

    private static List<org.zotune.tensor.HostTensor> perturbed(LoadedModel m, float scale) {
        if (scale == 0f) {
            return m.parameters();
        }
        Random rnd = new Random(9);
        List<org.zotune.tensor.HostTensor> out = new ArrayList<>();
        for (org.zotune.tensor.HostTensor h : m.parameters()) {
            float[] v = h.toFloats();
            for (int i = 0; i < v.length; i++) {
                v[i] += scale * (float) rnd.nextGaussian();
            }
            out.add(org.zotune.tensor.HostTensor.ofFloats(h.name(), v, h.shape()));
        }
        return out;
    }
}
