package org.zotune.model;

import java.util.function.IntConsumer;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;

/** Autoregressive decoding: greedy, or temperature sampling with a seed. */
public final class Generator {
    private Generator() {
    }

    /** How the next token is chosen. */
    public record Sampling(boolean greedy, float temperature, long seed) {
        public static Sampling argmax() {
            return new Sampling(true, 0f, 0L);
        }
    }

    /**
     * Extends {@code prompt} by up to {@code maxNewTokens} tokens, stopping early at {@code eosId} (if ≥ 0,
     * not included) or at the model's maximum positions. Calls {@code onToken} for each new token as it
     * is chosen. Returns the new tokens only.
     */
    public static int[] generate(Ops ops, CausalLM model, WeightSource weights, int[] prompt, int maxNewTokens,
                                 Sampling sampling, int eosId, IntConsumer onToken) {
        throw new UnsupportedOperationException("TODO: generation");
    }
}
