package org.zotune.api;

import java.util.ArrayList;
import java.util.List;
import org.zotune.train.objective.Metrics;

/**
 * One class's metrics in an evaluation of classification data ({@link EvalResult#perLabel()}). A rate whose
 * denominator is zero (no example of the class, none predicted as it) is 0, as scikit-learn's zero_division=0 gives.
 * Immutable.
 *
 * @param label     the class
 * @param support   examples whose gold label it is
 * @param predicted examples predicted as it
 * @param precision correct among those predicted as it
 * @param recall    correct among its examples
 * @param f1        the harmonic mean of precision and recall, 2·tp / (2·tp + fp + fn)
 */
public record LabelMetrics(String label, int support, int predicted, double precision, double recall, double f1) {
    /** Every class of {@code labels} (gold and predictions index it), in its order. */
    static List<LabelMetrics> of(int[] predictions, int[] gold, List<String> labels) {
        List<LabelMetrics> out = new ArrayList<>(labels.size());
        for (int c = 0; c < labels.size(); c++) {
            Metrics.ClassCounts n = Metrics.counts(predictions, gold, c);
            out.add(new LabelMetrics(labels.get(c), n.support(), n.predicted(), n.precision(), n.recall(), n.f1()));
        }
        return out;
    }
}
