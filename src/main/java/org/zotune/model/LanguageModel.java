package org.zotune.model;

import java.util.List;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * A transformer language model written once against {@link Ops}; every parameter is obtained from the
 * {@link WeightSource} right before it is used. Training code asks {@link #kind()} what the logits predict rather
 * than assuming a causal model.
 */
public interface LanguageModel {

    /** What the model's logits predict, and so how its attention may look. */
    enum Kind {
        /** Decoders (GPT-2, OPT, Llama): position t predicts token t+1 and attends to positions ≤ t. */
        CAUSAL,
        /** Encoders (BERT, RoBERTa): position t predicts its own (masked) token and attends to every position. */
        MASKED;

        /** Whether attention hides later positions. */
        public boolean causalAttention() {
            return this == CAUSAL;
        }
    }

    ModelConfig config();

    Kind kind();

    /** The trainable tensors, in the fixed order that parameter indices and noise offsets follow. */
    List<ParamSpec> params();

    /** Logits [batch·seq, vocab] in the backend's compute dtype. */
    Tensor forward(Ops ops, WeightSource weights, Batch batch);
}
