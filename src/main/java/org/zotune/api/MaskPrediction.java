package org.zotune.api;

import java.util.List;

/**
 * A masked LM's prediction at one mask. Immutable apart from {@code logits}, which the caller owns.
 *
 * @param position the mask's position in the token ids
 * @param logits   the vocabulary's logits (float32) at that position
 * @param top      the most likely tokens, best first
 */
public record MaskPrediction(int position, float[] logits, List<TokenProbability> top) {
}
