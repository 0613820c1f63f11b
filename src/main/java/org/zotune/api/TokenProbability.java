package org.zotune.api;

/**
 * One candidate token at a mask. Immutable.
 *
 * @param id          the token id
 * @param token       the token as text (decoded with special tokens kept, as transformers' fill-mask pipeline's
 *                    {@code token_str}, then trimmed), or null when the model has no tokenizer
 * @param probability its softmax probability at the mask
 */
public record TokenProbability(int id, String token, double probability) {
}
