package org.zotune.api;

import java.util.Map;

/**
 * One text's class from {@link Model#classify}. Immutable.
 *
 * @param text   the text as given
 * @param label  the class with the highest score
 * @param scores per class in the objective's class order, the score {@link Prediction#scores()} describes (head's
 *               logits, similarity's cos/τ, mlm's logits of the label words)
 */
public record Classification(String text, String label, Map<String, Double> scores) {
    public Classification {
        scores = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(scores));
    }
}
