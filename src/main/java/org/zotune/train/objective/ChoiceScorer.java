package org.zotune.train.objective;

import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * An objective that scores each example's labels from one row per example (the masked-LM prompt; the sentence-encoder
 * objectives later), rather than one row per candidate as {@link OptionScores} does: loss = mean over examples of the
 * cross-entropy of softmax(s) against the gold label, prediction = argmax s (the first on ties). The
 * {@link Evaluator} asks it for the scores.
 */
public interface ChoiceScorer {
    /** Per example of {@code batch}, one score per label. */
    double[][] choiceScores(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch);

    /**
     * [Σ over examples of −log softmax(s)[gold], examples]: the sums an {@link AdditiveObjective} of this scorer adds
     * over data-parallel shards.
     */
    default double[] crossEntropySums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        double mean = crossEntropy(choiceScores(ops, model, weights, batch), batch.gold());
        return new double[] {mean * batch.examples(), batch.examples()};
    }

    /** Mean over examples of −log softmax(s)[gold], in double. */
    static double crossEntropy(double[][] scores, int[] gold) {
        if (scores.length != gold.length) {
            throw new IllegalArgumentException(scores.length + " score rows for " + gold.length + " gold labels");
        }
        double total = 0;
        for (int x = 0; x < scores.length; x++) {
            double[] s = scores[x];
            if (gold[x] < 0 || gold[x] >= s.length) {
                throw new ZotuneException("example " + x + " of the batch has no gold label among its " + s.length
                        + " labels");
            }
            double max = Double.NEGATIVE_INFINITY;
            for (double v : s) {
                max = Math.max(max, v);
            }
            double z = 0;
            for (double v : s) {
                z += Math.exp(v - max);
            }
            total += Math.log(z) + max - s[gold[x]];
        }
        return total / scores.length;
    }

    /** Per example, the index of its best score (the first on ties). */
    static int[] predictions(double[][] scores) {
        int[] out = new int[scores.length];
        for (int x = 0; x < scores.length; x++) {
            int best = 0;
            for (int c = 1; c < scores[x].length; c++) {
                if (scores[x][c] > scores[x][best]) {
                    best = c;
                }
            }
            out[x] = best;
        }
        return out;
    }
}
