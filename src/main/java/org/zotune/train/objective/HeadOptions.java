package org.zotune.train.objective;

import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;

/**
 * Key {@code head} of a run config: the options of objective head ({@link HeadClassification}, a linear layer on
 * the encoder's pooled output).
 *
 * @param pooling     mean (over the real tokens), cls (the first token's hidden state) or pooler (the encoder's
 *                    pooler, tanh(dense(·)) of the first token: what Hugging Face's ...ForSequenceClassification
 *                    classifies); a model folder that carries a classifier must name the pooling it was trained on
 * @param linearProbe true: only the head's weight and bias train, the encoder is frozen (a linear probe); false
 *                    (default): the head and every encoder weight train together
 */
public record HeadOptions(
        @Default("mean") @Choice(HeadClassification.Pooling.class) String pooling,
        @Default("false") Boolean linearProbe) {

    public HeadClassification.Pooling poolingKind() {
        return HeadClassification.Pooling.valueOf(pooling.toUpperCase(java.util.Locale.ROOT));
    }
}
