/**
 * Which parameters train, and how the forward pass sees them (ALGORITHMS.md §9).
 *
 * <ul>
 *   <li>{@link org.zotune.peft.TrainableSet}: an ordered set of trainable tensors (names, shapes, roles, the noise
 *       layout the optimisers index), separate from the frozen weights; per model parameter a
 *       {@link org.zotune.peft.WeightRule} (none: frozen). Full fine-tuning is the set of every weight.</li>
 *   <li>{@link org.zotune.peft.TrainableStorage}: where the set's values live, entries of one flat parameter buffer:
 *       the model's own for a set of model parameters (no copy), a buffer of its own for adapters.</li>
 *   <li>{@link org.zotune.peft.ComposedWeights}: the {@link org.zotune.backend.WeightSource} a pass runs on, composed
 *       from the frozen base (the model's parameters) and the set's tensors as the pass sees them
 *       ({@link org.zotune.peft.TrainedTensors}: θ itself, or the ZO shadow θ ± εu, {@code zo.cuda.ShadowWeights} on
 *       the GPU). An adapter is a set of its own tensors plus one rule per adapted parameter; the model code is
 *       untouched.</li>
 * </ul>
 */
package org.zotune.peft;
