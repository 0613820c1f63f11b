package org.zotune.train.objective;

import org.zotune.ZotuneException;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * What a candidate-scoring objective's loss reads (classification, multiple choice, −accuracy, −F1), for an engine
 * that computes it itself (the captured CUDA step, native/kernels/choice_loss.cu): the causal targets of every
 * candidate row ({@link NextTokenTargets#shift} of the batch's labels), the rows of each example, its gold candidate,
 * and how the candidates' scores s_r = −(Σ row token cross-entropy) / (row targets) make the loss. {@link #loss} is
 * the plain-Java reference of that last step, in the order and precision of {@link OptionScores} and
 * {@link Metrics}.
 *
 * @param targets    [rows·seq] answer-token targets, -1 elsewhere; every row has at least one
 * @param seq        positions per row
 * @param firstRow   per example, its first candidate row
 * @param candidates per example, its number of candidates
 * @param gold       per example, the gold candidate (in [0, candidates))
 * @param metric     what the loss is of the scores
 * @param classes    the most candidates of an example (F1's classes)
 */
public record CandidateChoices(int[] targets, int seq, int[] firstRow, int[] candidates, int[] gold, Metric metric,
                               int classes) {
    /** The loss of the scores: the candidates' cross-entropy against the gold, −accuracy, −F1. */
    public enum Metric {
        CROSS_ENTROPY, NEGATIVE_ACCURACY, NEGATIVE_F1
    }

    /** The description of {@code batch} for {@code metric}, refusing what the objective's loss refuses (one line). */
    static CandidateChoices of(LanguageModel model, PromptBatch batch, Metric metric) {
        NextTokenTargets.requireCausal(model, "candidate scoring (objectives classification, accuracy, f1)");
        int seq = batch.batch().seq();
        int[] targets = NextTokenTargets.shift(batch.labels(), seq);
        int rows = batch.rows();
        for (int r = 0; r < rows; r++) {
            boolean any = false;
            for (int t = 0; t < seq && !any; t++) {
                any = targets[r * seq + t] >= 0;
            }
            if (!any) {
                throw new ZotuneException("row " + r + " of the batch has no answer token to score");
            }
        }
        int n = batch.examples();
        if (n == 0) {
            throw new ZotuneException("the batch has no examples to score");
        }
        int classes = 0;
        for (int x = 0; x < n; x++) {
            int g = batch.gold()[x];
            if (g < 0 || g >= batch.candidates()[x]) {
                throw new ZotuneException("example " + x + " of the batch has " + (g < 0 ? "no gold answer"
                        : "gold answer " + g + ", not one of its " + batch.candidates()[x] + " candidates"));
            }
            classes = Math.max(classes, batch.candidates()[x]);
        }
        return new CandidateChoices(targets, seq, batch.firstRow().clone(), batch.candidates().clone(),
                batch.gold().clone(), metric, classes);
    }

    /**
     * The loss from the candidate rows' cross-entropy pairs ({@code rowSums[2r]} = Σ of row r's token losses,
     * {@code rowSums[2r + 1]} = its targets), as the objective's own loss computes it from them.
     */
    public float loss(float[] rowSums) {
        int n = firstRow.length;
        double[] s = new double[rowSums.length / 2];
        for (int r = 0; r < s.length; r++) {
            s[r] = -(double) rowSums[2 * r] / rowSums[2 * r + 1];
        }
        int[] pred = new int[n];
        for (int x = 0; x < n; x++) {
            int best = 0;
            for (int c = 1; c < candidates[x]; c++) {
                if (s[firstRow[x] + c] > s[firstRow[x] + best]) {
                    best = c;
                }
            }
            pred[x] = best;
        }
        return switch (metric) {
            case CROSS_ENTROPY -> {
                double total = 0;
                for (int x = 0; x < n; x++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int c = 0; c < candidates[x]; c++) {
                        max = Math.max(max, s[firstRow[x] + c]);
                    }
                    double z = 0;
                    for (int c = 0; c < candidates[x]; c++) {
                        z += Math.exp(s[firstRow[x] + c] - max);
                    }
                    total += Math.log(z) + max - s[firstRow[x] + gold[x]];
                }
                yield (float) (total / n);
            }
            // the metrics the host's objectives use, in the same arithmetic (the device kernels follow it)
            case NEGATIVE_ACCURACY -> (float) -Metrics.accuracy(pred, gold);
            case NEGATIVE_F1 -> (float) -Metrics.f1(pred, gold, classes);
        };
    }
}
