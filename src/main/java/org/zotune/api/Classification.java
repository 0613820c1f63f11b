package org.zotune.api;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One example's class from {@link Model#classify} or {@link Model#classifyRows}. Immutable.
 *
 * @param input  the example: the template's field → its text (classify: one field holding the text as given)
 * @param label  the class with the highest score
 * @param scores per class in the objective's class order, the score {@link Prediction#scores()} describes (head's
 *               logits, similarity's cos/τ, mlm's logits of the label words, a decoder's mean log-likelihood per
 *               token of each candidate)
 */
public record Classification(Map<String, String> input, String label, Map<String, Double> scores) {
    public Classification {
        input = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(input));
        scores = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(scores));
    }

    /** The example's text: its one field's, or its fields' texts joined by a tab (a pair). */
    public String text() {
        return String.join("\t", input.values());
    }

    /**
     * The softmax of {@link #scores()}, per class in the same order: the distribution whose cross-entropy each
     * objective's classification loss is (eval's loss of a labelled example).
     */
    public Map<String, Double> probabilities() {
        double max = Double.NEGATIVE_INFINITY;
        for (double s : scores.values()) {
            max = Math.max(max, s);
        }
        double sum = 0;
        for (double s : scores.values()) {
            sum += Math.exp(s - max);
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : scores.entrySet()) {
            out.put(e.getKey(), Math.exp(e.getValue() - max) / sum);
        }
        return java.util.Collections.unmodifiableMap(out);
    }
}
