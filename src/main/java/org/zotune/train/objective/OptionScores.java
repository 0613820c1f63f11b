package org.zotune.train.objective;

import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * The score of every candidate row: s = mean over the row's answer tokens of log p(token | everything before it),
 * the length-normalised log-likelihood that MeZO's prompt classification and multiple choice both use (a causal
 * LM's: each answer token is scored by the logits of the position before it, {@link NextTokenTargets#shift}).
 *
 * <p>One forward pass gives the logits of all rows; each row's score is one {@link Ops#crossEntropy} over that row's
 * logits ({@link Ops#rows}) with its answer targets, whose (sum, count) gives s = −sum / count. That is one small
 * reduction and one host read per row; a fused "per-row cross-entropy" Ops method would make it one launch.
 */
public final class OptionScores {
    private OptionScores() {
    }

    /**
     * @param rowScores   per row, the mean answer-token log-likelihood
     * @param predictions per example, the index of its best-scoring candidate (the first one on ties)
     */
    public record Scored(double[] rowScores, int[] predictions) {
    }

    public static Scored score(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        NextTokenTargets.requireCausal(model, "candidate scoring (objectives classification, accuracy, f1)");
        int rows = batch.rows();
        int seq = batch.batch().seq();
        double[] scores = new double[rows];
        int[] targets = NextTokenTargets.shift(batch.labels(), seq);
        try (Ops.Scope scope = ops.scope()) {
            Tensor logits = model.forward(ops, weights, batch.batch());
            for (int r = 0; r < rows; r++) {
                int[] t = Arrays.copyOfRange(targets, r * seq, (r + 1) * seq);
                float[] ce = ops.toHost(ops.crossEntropy(ops.rows(logits, r * seq, (r + 1) * seq), ops.ints(t)));
                if (ce[1] <= 0) {
                    throw new ZotuneException("row " + r + " of the batch has no answer token to score");
                }
                scores[r] = -(double) ce[0] / ce[1];
            }
        }
        int[] pred = new int[batch.examples()];
        for (int x = 0; x < pred.length; x++) {
            int best = 0;
            for (int c = 1; c < batch.candidates()[x]; c++) {
                if (scores[batch.firstRow()[x] + c] > scores[batch.firstRow()[x] + best]) {
                    best = c;
                }
            }
            pred[x] = best;
        }
        return new Scored(scores, pred);
    }

    /** Mean over examples of −log softmax(s)[gold]: the cross-entropy of the candidates' scores against the gold. */
    public static double classificationLoss(Scored s, PromptBatch batch) {
        double total = 0;
        for (int x = 0; x < batch.examples(); x++) {
            int g = batch.gold()[x];
            if (g < 0) {
                throw new ZotuneException("example " + x + " of the batch has no gold answer");
            }
            int first = batch.firstRow()[x];
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < batch.candidates()[x]; c++) {
                max = Math.max(max, s.rowScores()[first + c]);
            }
            double z = 0;
            for (int c = 0; c < batch.candidates()[x]; c++) {
                z += Math.exp(s.rowScores()[first + c] - max);
            }
            total += Math.log(z) + max - s.rowScores()[first + g];
        }
        return total / batch.examples();
    }
}
