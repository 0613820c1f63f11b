package org.zotune.backend;

/**
 * The single seam through which the forward pass obtains every parameter, right before use.
 * Plain inference returns θ itself; the ZO shadow strategy returns θ ± εu materialised into scratch
 * memory; adapters return base + low-rank views. Model code never knows which.
 */
public interface WeightSource {
    /** Parameter {@code index} in the model's {@link org.zotune.model.ParamSpec} order. */
    Tensor weight(int index);

    /**
     * The key/value prefix of the attention whose key projection is parameter {@code attention} (GPT-2: the fused
     * c_attn), or null: none. Prefix tuning's trainable set adds one per layer; every other source has none.
     */
    default KvPrefix kvPrefix(int attention) {
        return null;
    }

    /**
     * Adds this pass's low-rank delta, if any, to {@code y}, the output x·Wᵀ (+ b) of the projection whose matrix is
     * parameter {@code weight}: per-row-group adapters on a shared frozen base (DFO-LoRA's batched population, where
     * each member's rows get their own x·Aᵀ·Bᵀ; {@link org.zotune.peft.RowGroupDeltas}). The default adds nothing and
     * asks for no weight, so plain passes are unchanged.
     */
    default void addOutputDelta(Ops ops, int weight, Tensor x, Tensor y) {
    }

    /**
     * Sees the keys and values of the attention whose key projection is parameter {@code attention}, right after that
     * attention ran: the Hkv·D columns from {@code kCol} / {@code vCol} of k and v (GPT-2: the packed q|k|v activation
     * and its packed {@code bias}, added by the attention; otherwise null), in the shapes of
     * {@link Ops#storeKeysValues}. Generation's key/value cache ({@link org.zotune.model.KvCache}) stores them; the
     * default ignores them.
     */
    default void keysValues(Ops ops, int attention, Tensor k, int kCol, Tensor v, int vCol, Tensor bias,
                            IntTensor positions, AttentionSpec spec) {
    }

    /**
     * Sees the hidden state [tokens, hidden] entering layer {@code layer} (0 = the embeddings' output), read-only
     * (DFO-LoRA's hidden-state statistics). The default ignores it.
     */
    default void observeLayerInput(Ops ops, int layer, Tensor x) {
    }
}
