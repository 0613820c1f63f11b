package org.zotune.api;

import java.util.List;

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
 * @param objective     what scored: {@code lm} (text), {@code candidates} (a decoder's candidate log-likelihoods), or
 *                      an encoder's objective {@code head}, {@code similarity}, {@code mlm}
 * @param scoring       one line on how it scored (for an encoder: the objective, why, and its options)
 * @param predictions   per example in data order, when asked for; empty otherwise
 * @param perLabel      classification data: each class's support, precision, recall and F1, in the class order
 *                      of the predictions' indices; empty otherwise (text, multiple choice)
 */
public record EvalResult(String description, boolean languageModel, int examples, long tokens, double loss,
        double perplexity, double accuracy, double f1, String objective, String scoring,
        List<Prediction> predictions, List<LabelMetrics> perLabel) {

    public EvalResult {
        predictions = List.copyOf(predictions);
        perLabel = List.copyOf(perLabel);
    }

    /** Metrics alone: a decoder's objective ({@code lm} or {@code candidates}), no predictions. */
    public EvalResult(String description, boolean languageModel, int examples, long tokens, double loss,
            double perplexity, double accuracy, double f1) {
        this(description, languageModel, examples, tokens, loss, perplexity, accuracy, f1,
                languageModel ? "lm" : "candidates", languageModel ? "lm" : "candidates", List.of(), List.of());
    }
}
