package org.zotune.backend;

/**
 * Extra keys and values prepended to one attention layer's own (prefix tuning, ALGORITHMS.md §9): p rows each,
 * shared by every sequence of the batch, seen by every query (causal or not), never masked. They are taken as they
 * are: keys after rotary, as a key cache holds them, so RoPE is not applied to them again.
 *
 * @param keys   [p, Hkv·D], heads side by side as the key projection lays them out
 * @param values [p, Hkv·D]
 */
public record KvPrefix(Tensor keys, Tensor values) {
    public KvPrefix {
        if (keys.rows() != values.rows() || keys.cols() != values.cols()) {
            throw new IllegalArgumentException("prefix keys [" + keys.rows() + ", " + keys.cols() + "] and values ["
                    + values.rows() + ", " + values.cols() + "] differ in shape");
        }
    }

    /** p, the prefix length. */
    public int length() {
        return keys.rows();
    }
}
