package org.zotune.api;

/**
 * Logits at chosen positions of a sequence, with the sequence's score, from one forward pass. The arrays are the
 * caller's (copies): immutable in practice, not deeply immutable.
 *
 * @param ids       the sequence
 * @param positions the positions asked for
 * @param rows      {@code rows[i]}: the float32 logits (one per vocabulary id) at {@code positions[i]}
 * @param score     the sequence's next-token score
 */
public record Logits(int[] ids, int[] positions, float[][] rows, Score score) {
}
