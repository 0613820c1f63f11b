package org.zotune.api;

/**
 * How text is generated: greedy (argmax) decoding, or sampling from {@code softmax(logits / temperature)} with a
 * seed (the same seed gives the same text on the same device). Immutable.
 *
 * @param maxTokens   the most new tokens (at least 1)
 * @param sampled     sample rather than decode greedily
 * @param temperature the sampling temperature (positive and finite when sampled)
 * @param seed        the sampling seed
 */
public record Generation(int maxTokens, boolean sampled, float temperature, long seed) {
    /** Checks the values: one-line {@link org.zotune.ZotuneException} when one is out of range. */
    public Generation {
        if (maxTokens < 1) {
            throw new org.zotune.ZotuneException("generation: maxTokens must be at least 1, got " + maxTokens);
        }
        if (sampled && (!(temperature > 0f) || Float.isInfinite(temperature))) {
            throw new org.zotune.ZotuneException("generation: the temperature must be a positive number, got "
                    + temperature);
        }
    }

    /** Greedy decoding of up to {@code maxTokens} tokens. */
    public static Generation greedy(int maxTokens) {
        return new Generation(maxTokens, false, 0f, 0L);
    }

    /** Sampling at {@code temperature} with {@code seed}. */
    public static Generation sampled(int maxTokens, float temperature, long seed) {
        return new Generation(maxTokens, true, temperature, seed);
    }
}
