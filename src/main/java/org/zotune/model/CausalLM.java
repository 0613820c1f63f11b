package org.zotune.model;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/** A decoder-only language model: its logits at position t predict token t+1. */
public interface CausalLM extends LanguageModel {
    /**
     * The logits of {@code batch}'s tokens when they follow {@code start} earlier tokens whose keys and values the
     * weight source supplies (a {@link KvCache}): positions count from {@code start} (OPT: its real-token positions,
     * every earlier token real). Start 0 is {@link #forward(Ops, WeightSource, Batch)}. Models without it refuse a
     * start above 0.
     */
    default Tensor forward(Ops ops, WeightSource w, Batch batch, int start) {
        if (start == 0) {
            return forward(ops, w, batch);
        }
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no key/value cache forward");
    }

    /**
     * {@link #forward(Ops, WeightSource, Batch, int)} with a start per sequence ({@code starts[b]} earlier tokens of
     * sequence b cached: a batched {@link KvCache}); each sequence's first token must be real (right padding). Models
     * without it take equal starts only.
     */
    default Tensor forward(Ops ops, WeightSource w, Batch batch, int[] starts) {
        Architectures.checkStarts(batch, starts);
        for (int s : starts) {
            if (s != starts[0]) {
                throw new UnsupportedOperationException(getClass().getSimpleName()
                        + " has no per-sequence key/value cache forward");
            }
        }
        return forward(ops, w, batch, starts[0]);
    }

    /** Whether {@link #forward(Ops, WeightSource, Batch, int)} takes a start above 0 (a key/value cache). */
    default boolean cachesKeysValues() {
        return false;
    }

    @Override
    default Kind kind() {
        return Kind.CAUSAL;
    }
}
