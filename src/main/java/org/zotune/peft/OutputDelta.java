package org.zotune.peft;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;

/**
 * What an adapter adds to a projection's output instead of forming the projection's weight: for y = x·Wᵀ (+ bias)
 * with W frozen, y += f(x, the set's tensors) (LoRA's skinny product, {@link Ops#loraDelta}). Reached through
 * {@link org.zotune.backend.WeightSource#addOutputDelta}, so it applies where the model offers that hook (the
 * attention's q, k, v projections, GPT-2's fused c_attn).
 */
@FunctionalInterface
public interface OutputDelta {
    /**
     * @param x       the projection's input [n, in]
     * @param y       its output [n, out], added to in place
     * @param trained the set's tensors as this pass sees them
     */
    void add(Ops ops, Tensor x, Tensor y, TrainedTensors trained);
}
