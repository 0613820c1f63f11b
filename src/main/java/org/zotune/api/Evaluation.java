package org.zotune.api;

/**
 * An evaluation of the weights on a data split. Immutable.
 *
 * @param split    dev or test
 * @param step     the step whose weights were evaluated (0: before training)
 * @param loss     the loss (token-weighted for language-model data)
 * @param accuracy accuracy for candidate data, NaN for language-model data
 * @param f1       F1 for candidate data, NaN for language-model data
 * @param examples how many examples (or text chunks) were evaluated
 */
public record Evaluation(String split, long step, double loss, double accuracy, double f1, int examples) {
}
