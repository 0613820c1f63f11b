package org.zotune.model;

import java.util.List;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * A decoder-only language model written once against {@link Ops}; every parameter is obtained from
 * the {@link WeightSource} right before it is used.
 */
public interface CausalLM {
    ModelConfig config();

    /** The trainable tensors, in the fixed order that parameter indices and noise offsets follow. */
    List<ParamSpec> params();

    /** Logits [batch·seq, vocab] in the backend's compute dtype. */
    Tensor forward(Ops ops, WeightSource weights, Batch batch);
}
