package org.zotune.model.blocks;

import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * Multi-head self-attention up to (not including) its output projection, which the layer fuses with the residual
 * addition and the norm that follows it. The weight source may add a key/value prefix ({@link WeightSource#kvPrefix},
 * keyed on the key projection's weight); without one the attention call is the plain one. After the attention the
 * source sees its keys and values ({@link WeightSource#keysValues}: generation's key/value cache).
 */
public sealed interface SelfAttention permits SelfAttention.Projected, SelfAttention.Packed {

    /** The heads' output [tokens, heads·head_dim] for the normed input x. */
    Tensor attend(Ops ops, WeightSource w, Tensor x, IntTensor mask, IntTensor positions, AttentionSpec spec);

    /** The output projection. */
    Linear out();

    /**
     * Separate q, k and v projections (OPT, Llama, BERT; biases optional). With {@code foldBias} (the encoders: no
     * key/value cache, no prefix) and all three biases, where the backend {@link Ops#foldsAttentionBias folds them},
     * the products run without their biases and the attention takes them ({@link Ops#attentionBiased}): three bias
     * passes fewer; the low-rank deltas are then added before the bias, as GPT-2's packed projection adds them.
     */
    record Projected(Linear q, Linear k, Linear v, Linear out, boolean foldBias) implements SelfAttention {
        /** Biases added in the products (OPT, Llama). */
        public Projected(Linear q, Linear k, Linear v, Linear out) {
            this(q, k, v, out, false);
        }

        @Override
        public Tensor attend(Ops ops, WeightSource w, Tensor x, IntTensor mask, IntTensor positions,
                             AttentionSpec spec) {
            // the three products read x, which none of them changes: the backend may prepare it once
            if (foldBias && q.bias() >= 0 && k.bias() >= 0 && v.bias() >= 0 && ops.foldsAttentionBias()
                    && w.kvPrefix(k.weight()) == null) {
                Tensor qx;
                Tensor kx;
                Tensor vx;
                try (Ops.Scope shared = ops.sharedInput(x)) {
                    qx = ops.linear(x, w.weight(q.weight()), null);
                    w.addOutputDelta(ops, q.weight(), x, qx);
                    kx = ops.linear(x, w.weight(k.weight()), null);
                    w.addOutputDelta(ops, k.weight(), x, kx);
                    vx = ops.linear(x, w.weight(v.weight()), null);
                    w.addOutputDelta(ops, v.weight(), x, vx);
                }
                return ops.attentionBiased(qx, kx, vx, q.bias(w), k.bias(w), v.bias(w), mask, positions, spec);
            }
            Tensor qx;
            Tensor kx;
            Tensor vx;
            try (Ops.Scope shared = ops.sharedInput(x)) {
                qx = q.apply(ops, w, x);
                w.addOutputDelta(ops, q.weight(), x, qx);
                kx = k.apply(ops, w, x);
                w.addOutputDelta(ops, k.weight(), x, kx);
                vx = v.apply(ops, w, x);
                w.addOutputDelta(ops, v.weight(), x, vx);
            }
            KvPrefix prefix = w.kvPrefix(k.weight());
            Tensor out = prefix == null ? ops.attention(qx, kx, vx, mask, positions, spec)
                    : ops.attention(qx, kx, vx, mask, positions, spec, prefix);
            w.keysValues(ops, k.weight(), kx, 0, vx, 0, null, positions, spec);
            return out;
        }
    }

    /**
     * One product for q, k and v ([3·hidden, hidden] weight, GPT-2's c_attn); the [3, hidden] bias is added by the
     * attention as it reads the packed activation.
     */
    record Packed(Linear qkv, Linear out) implements SelfAttention {
        public Packed {
            if (qkv.bias() < 0) {
                throw new IllegalArgumentException("packed q/k/v attention needs its bias");
            }
        }

        @Override
        public Tensor attend(Ops ops, WeightSource w, Tensor x, IntTensor mask, IntTensor positions,
                             AttentionSpec spec) {
            Tensor packed = ops.linear(x, w.weight(qkv.weight()), null);
            w.addOutputDelta(ops, qkv.weight(), x, packed); // over all 3·hidden columns, before the bias
            KvPrefix prefix = w.kvPrefix(qkv.weight());
            Tensor bias = w.weight(qkv.bias());
            Tensor out = prefix == null ? ops.attentionPacked(packed, bias, mask, positions, spec)
                    : ops.attentionPacked(packed, bias, mask, positions, spec, prefix);
            int hd = spec.numHeads() * spec.headDim();
            w.keysValues(ops, qkv.weight(), packed, hd, packed, hd + spec.numKvHeads() * spec.headDim(), bias,
                    positions, spec);
            return out;
        }
    }
}
