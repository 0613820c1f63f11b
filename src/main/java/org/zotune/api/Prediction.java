package org.zotune.api;

/**
 * One example's prediction in an evaluation of classification or multiple-choice data. Immutable (the scores are the
 * caller's copy).
 *
 * @param index          the example's position in the data as evaluated (after k-shot sampling), from 0
 * @param gold           the gold class (an index into the data's labels, or the gold option)
 * @param predicted      the predicted class: the argmax of {@code scores}
 * @param goldLabel      the gold label's name, or null where the data has no label names (multiple choice)
 * @param predictedLabel the predicted label's name, or null likewise
 * @param scores         per class, the score the objective computes: a causal LM's mean log-likelihood per token of
 *                       each candidate; objective head's logits W·pool(x) + b; similarity's cos(pool(x), pool(t_c))/τ;
 *                       mlm's masked-LM logits of the label words at the mask
 */
public record Prediction(int index, int gold, int predicted, String goldLabel, String predictedLabel,
        double[] scores) {
}
