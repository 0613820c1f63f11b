package org.zotune.backend;

import org.zotune.model.ModelConfig;

/**
 * Shape and options of one causal self-attention call.
 *
 * @param batch      sequences in the batch
 * @param seq        tokens per sequence (padded length)
 * @param numHeads   query heads
 * @param numKvHeads key/value heads (grouped-query attention when fewer)
 * @param headDim    features per head
 * @param scale      score scale (1/sqrt(headDim))
 * @param ropeTheta  rotary base (0: no RoPE, positions are learned)
 * @param ropeScaling Llama-3 frequency scaling or null
 */
public record AttentionSpec(int batch, int seq, int numHeads, int numKvHeads, int headDim, float scale,
                            double ropeTheta, ModelConfig.RopeScaling ropeScaling) {
    public boolean rope() {
        return ropeTheta > 0;
    }
}
