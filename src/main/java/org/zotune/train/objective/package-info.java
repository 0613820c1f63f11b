/**
 * Training objectives (ALGORITHMS.md §6), each a float32 scalar from one forward pass on any
 * {@link org.zotune.backend.Ops} backend, over a {@link org.zotune.data.batch.PromptBatch}:
 * <ul>
 *   <li>{@link org.zotune.train.objective.CausalLmLoss}: mean token cross-entropy over answer / completion tokens
 *       (prompt masked).</li>
 *   <li>{@link org.zotune.train.objective.ClassificationLoss}: s_c = mean log p(c's tokens | prompt) per candidate,
 *       loss = cross-entropy of softmax(s) against the gold; prediction = argmax s. The same objective serves
 *       multiple choice (length-normalised option log-likelihood).</li>
 *   <li>{@link org.zotune.train.objective.NegativeAccuracy}, {@link org.zotune.train.objective.NegativeF1}:
 *       non-differentiable −accuracy and −F1 (binary for 2 candidates, macro otherwise).</li>
 * </ul>
 * {@link org.zotune.train.objective.Evaluator} reports accuracy, F1 and loss over a whole data set in batches.
 */
package org.zotune.train.objective;
