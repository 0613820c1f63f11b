package org.zotune.model.blocks;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.ModelConfig.Activation;

/**
 * A position-wise MLP up to (not including) its down projection, which the layer fuses with the residual addition
 * and the norm that follows it.
 */
public sealed interface FeedForward permits FeedForward.Activated, FeedForward.Gated {

    /** The hidden activation [tokens, ffn] for the normed input x. */
    Tensor hidden(Ops ops, WeightSource w, Tensor x);

    /** The down projection. */
    Linear down();

    /**
     * act(up(x)) with an in-place activation (GPT-2: GELU tanh, OPT: ReLU, BERT: GELU erf). {@code fused} is the
     * activation this architecture runs as one fused op (bias + activation after the product in one pass, or in
     * cuBLASLt's epilogue where that is on: GELU tanh, GELU erf (no epilogue) or ReLU), or null for none; any other
     * activation runs unfused, as each architecture always did: with cuBLASLt's epilogue (opt-in) the fused and
     * unfused forms round differently.
     */
    record Activated(Linear up, Linear down, Activation activation, Activation fused) implements FeedForward {
        public Activated {
            if (activation == Activation.SILU) {
                throw new IllegalArgumentException("no in-place " + activation);
            }
            if (fused != null && fused != Activation.GELU_TANH && fused != Activation.GELU && fused != Activation.RELU) {
                throw new IllegalArgumentException("no fused " + fused);
            }
        }

        @Override
        public Tensor hidden(Ops ops, WeightSource w, Tensor x) {
            if (activation == fused) {
                return switch (activation) {
                    case GELU_TANH -> ops.linearGeluTanh(x, w.weight(up.weight()), up.bias(w));
                    case GELU -> ops.linearGeluErf(x, w.weight(up.weight()), up.bias(w));
                    default -> ops.linearRelu(x, w.weight(up.weight()), up.bias(w));
                };
            }
            Tensor y = up.apply(ops, w, x);
            switch (activation) {
                case GELU_TANH -> ops.geluTanhInPlace(y);
                case GELU -> ops.geluErfInPlace(y);
                default -> ops.reluInPlace(y);
            }
            return y;
        }
    }

    /** SwiGLU (Llama): silu(gate(x))·up(x). */
    record Gated(Linear gate, Linear up, Linear down) implements FeedForward {
        @Override
        public Tensor hidden(Ops ops, WeightSource w, Tensor x) {
            Tensor g = gate.apply(ops, w, x);
            Tensor u = up.apply(ops, w, x);
            return ops.siluMul(g, u);
        }
    }
}
