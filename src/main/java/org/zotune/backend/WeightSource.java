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
}
