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
 *
 * <p>The objectives own their targets: a batch carries the answer tokens as unshifted labels, the causal objectives
 * turn them into targets of the logits with {@link org.zotune.train.objective.NextTokenTargets} (position t scores
 * token t+1) and refuse a masked model, and an objective whose loss is a token cross-entropy declares its targets
 * ({@link org.zotune.train.objective.Objective#tokenTargets}) so that an engine can compute that loss itself (the
 * captured CUDA step). A masked-LM objective defines its targets at the masked positions the same way, without
 * changes to the batch or the engines.
 */
package org.zotune.train.objective;
