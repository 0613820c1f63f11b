package org.zotune.api;

import java.util.ArrayList;
import java.util.List;

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
            int tp = 0;
            int support = 0;
            int predicted = 0;
            for (int i = 0; i < gold.length; i++) {
                support += gold[i] == c ? 1 : 0;
                predicted += predictions[i] == c ? 1 : 0;
                tp += gold[i] == c && predictions[i] == c ? 1 : 0;
            }
            int f1Denominator = support + predicted; // 2·tp + fp + fn
            out.add(new LabelMetrics(labels.get(c), support, predicted, predicted == 0 ? 0 : (double) tp / predicted,
                    support == 0 ? 0 : (double) tp / support, f1Denominator == 0 ? 0 : 2.0 * tp / f1Denominator));
        }
        return out;
    }
}
