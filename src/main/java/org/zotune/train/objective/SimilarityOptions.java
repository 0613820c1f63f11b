package org.zotune.train.objective;

import java.util.LinkedHashMap;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Positive;

/**
 * Key {@code similarity} of a run config: the options of objective similarity ({@link LabelSimilarity}).
 *
 * @param labels      label → description (the text each label's embedding is taken from); absent: the built-in
 *                    descriptions of the task that data.template names ({@link LabelDescriptions})
 * @param pooling     mean (over the real tokens, sentence-transformers' rule), cls (the first token) or pooler
 * @param temperature τ of s_c = cos(pool(x), pool(t_c)) / τ
 */
public record SimilarityOptions(
        Map<String, String> labels,
        @Default("mean") @Choice(LabelSimilarity.Pooling.class) String pooling,
        @Default("0.05") @Positive Double temperature) {

    public SimilarityOptions {
        if (labels != null) {
            for (Map.Entry<String, String> e : labels.entrySet()) {
                if (e.getValue() == null || e.getValue().isBlank()) {
                    throw new ZotuneException("key 'similarity.labels': the description of label '" + e.getKey()
                            + "' is empty");
                }
            }
            labels = new LinkedHashMap<>(labels);
        }
    }

    public LabelSimilarity.Pooling poolingKind() {
        return LabelSimilarity.Pooling.parse(pooling);
    }
}
