package org.zotune.api;

/**
 * A text's next-token score. Immutable.
 *
 * @param tokens     the sequence's length in tokens ({@code tokens - 1} predictions are averaged)
 * @param loss       the mean next-token cross-entropy (nats)
 * @param perplexity {@code exp(loss)}
 */
public record Score(int tokens, double loss, double perplexity) {
}
