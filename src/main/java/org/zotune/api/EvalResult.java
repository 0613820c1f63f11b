package org.zotune.api;

/**
 * A model's metrics on a data set. Immutable.
 *
 * @param description   the data as read (format, examples, classes)
 * @param languageModel whether the data is plain text (loss and perplexity) rather than candidates (accuracy, F1)
 * @param examples      examples (or text chunks) evaluated
 * @param tokens        predicted tokens (language-model data; 0 otherwise)
 * @param loss          the loss: token-weighted for text, the candidates' cross-entropy otherwise
 * @param perplexity    {@code exp(loss)} for text, NaN otherwise
 * @param accuracy      accuracy for candidate data, NaN for text
 * @param f1            F1 for candidate data, NaN for text
 */
public record EvalResult(String description, boolean languageModel, int examples, long tokens, double loss,
        double perplexity, double accuracy, double f1) {
}
