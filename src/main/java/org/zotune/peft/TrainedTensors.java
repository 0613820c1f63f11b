package org.zotune.peft;

import org.zotune.backend.Tensor;

/**
 * The tensors of a {@link TrainableSet} as one forward pass sees them: θ_k itself ({@link TrainableStorage}), or
 * θ_k ± εu_k materialised into scratch (the ZO shadow strategy). Asked once per use, right before it.
 */
@FunctionalInterface
public interface TrainedTensors {
    /** Tensor {@code k} of the set, in the set's order. */
    Tensor tensor(int k);
}
