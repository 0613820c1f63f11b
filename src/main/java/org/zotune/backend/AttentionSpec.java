package org.zotune.backend;

import org.zotune.model.ModelConfig;

/**
 * Shape and options of one self-attention call.
 *
 * @param batch      sequences in the batch
 * @param seq        tokens per sequence (padded length)
 * @param numHeads   query heads
 * @param numKvHeads key/value heads (grouped-query attention when fewer)
 * @param headDim    features per head
 * @param scale      score scale (1/sqrt(headDim))
 * @param ropeTheta  rotary base (0: no RoPE, positions are learned)
 * @param ropeScaling Llama-3 frequency scaling or null
 * @param causal     true: query t sees keys 0..t (a decoder); false: every key of its sequence (an encoder).
 *                   The key padding mask applies either way.
 */
public record AttentionSpec(int batch, int seq, int numHeads, int numKvHeads, int headDim, float scale,
                            double ropeTheta, ModelConfig.RopeScaling ropeScaling, boolean causal) {

    /** Causal attention (the decoders'). */
    public AttentionSpec(int batch, int seq, int numHeads, int numKvHeads, int headDim, float scale, double ropeTheta,
                         ModelConfig.RopeScaling ropeScaling) {
        this(batch, seq, numHeads, numKvHeads, headDim, scale, ropeTheta, ropeScaling, true);
    }

    public boolean rope() {
        return ropeTheta > 0;
    }

    /** This spec with keys visible causally ({@code true}) or in both directions. */
    public AttentionSpec withCausal(boolean causal) {
        return new AttentionSpec(batch, seq, numHeads, numKvHeads, headDim, scale, ropeTheta, ropeScaling, causal);
    }
}
