package org.zotune.peft;

import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * How one model parameter is formed from the frozen base and the trainable tensors of a pass. A parameter without
 * a rule is frozen: the base's tensor. Full fine-tuning replaces every parameter by a trainable tensor
 * ({@link #replacedBy}); an adapter combines the base with its own tensors (LoRA: base W + (α/r)·B·A into scratch),
 * without the model code knowing.
 */
@FunctionalInterface
public interface WeightRule {
    /**
     * @param index   the model parameter (its {@link org.zotune.model.ParamSpec} order)
     * @param base    the frozen weights
     * @param trained the set's tensors as this pass sees them
     */
    Tensor weight(int index, WeightSource base, TrainedTensors trained);

    /** The parameter IS trainable tensor k. */
    static WeightRule replacedBy(int k) {
        return (index, base, trained) -> trained.tensor(k);
    }
}
