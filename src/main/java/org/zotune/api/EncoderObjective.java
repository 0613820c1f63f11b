package org.zotune.api;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How {@link Model#evaluate(DataSet, int, int, long, EncoderObjective, boolean)} scores an encoder: one of a run's
 * encoder objectives (ALGORITHMS.md §6), with the options its run config keys give (key {@code similarity}: labels,
 * pooling, temperature; key {@code head}: pooling), each null for the default. Immutable.
 *
 * @param objective   {@code auto} (null too): {@code head} when the folder carries a classifier (classifier.weight and
 *                    classifier.bias, as objective head exports it), else {@code mlm} when the model has a masked-LM
 *                    head, else {@code similarity}; or {@code head}, {@code similarity}, {@code mlm}
 * @param pooling     head: {@code mean}, {@code cls} or {@code pooler} (default: the classifier's own: config.json's
 *                    {@code zotune_pooling} or the adapter's, pooler for a Hugging Face ...ForSequenceClassification
 *                    folder, else mean); similarity: {@code mean}, {@code cls} or {@code pooler} (default mean); not
 *                    for mlm
 * @param temperature similarity's τ (default 0.05)
 * @param labels      similarity's label → description (default: the built-in descriptions of the task that the data's
 *                    template or task names, as training takes them)
 */
public record EncoderObjective(String objective, String pooling, Double temperature, Map<String, String> labels) {

    public EncoderObjective {
        labels = labels == null ? null : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(labels));
    }

    /** The objective the folder and model call for, with every option at its default. */
    public static EncoderObjective auto() {
        return new EncoderObjective(null, null, null, null);
    }
}
