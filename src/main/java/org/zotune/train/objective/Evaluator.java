package org.zotune.train.objective;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.CausalLM;

/** Scores a whole encoded data set in batches and reports accuracy, F1 and the classification loss. */
public final class Evaluator {
    private Evaluator() {
    }

    /**
     * @param examples    how many examples were scored
     * @param accuracy    fraction predicted right
     * @param f1          binary F1 (2 candidates) or macro F1
     * @param loss        mean classification loss (ALGORITHMS.md §6)
     * @param predictions per example, the predicted candidate
     */
    public record Result(int examples, double accuracy, double f1, double loss, int[] predictions) {
    }

    public static Result evaluate(Ops ops, CausalLM model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId) {
        if (data.isEmpty()) {
            throw new ZotuneException("nothing to evaluate: no examples");
        }
        if (batchSize <= 0) {
            throw new ZotuneException("evaluation batch size must be positive, got " + batchSize);
        }
        int n = data.size();
        int[] pred = new int[n];
        int[] gold = new int[n];
        int classes = 0;
        double lossSum = 0;
        for (int from = 0; from < n; from += batchSize) {
            List<EncodedExample> chunk = new ArrayList<>(data.subList(from, Math.min(n, from + batchSize)));
            PromptBatch b = PromptBatch.of(chunk, padId);
            OptionScores.Scored s = OptionScores.score(ops, model, weights, b);
            lossSum += OptionScores.classificationLoss(s, b) * chunk.size();
            for (int i = 0; i < chunk.size(); i++) {
                pred[from + i] = s.predictions()[i];
                gold[from + i] = b.gold()[i];
                classes = Math.max(classes, b.candidates()[i]);
            }
        }
        return new Result(n, Metrics.accuracy(pred, gold), Metrics.f1(pred, gold, classes), lossSum / n, pred);
    }
}
