package org.zotune.model;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * A model whose plain forward (start 0, no token types) splits at a layer boundary: the residual stream entering
 * layer l ({@link #layerInput}), then layers l.. and what follows them ({@link #hiddenFrom}), then, for decoders, the
 * LM head over any rows of that ({@link #head}). For every l in [0, layers): {@code head(hiddenFrom(b, l,
 * layerInput(b, l)))} is the decoder's {@link LanguageModel#forward} and {@code hiddenFrom(b, l, layerInput(b, l))}
 * the encoder's {@link EncoderModel#hiddenStates} with null token types (the same ops in the same order; fused
 * norm boundaries give what the separate ops give). DFO-LoRA's batched population computes the layers below the
 * searched one once for all members and only the head rows its loss reads (dfo.BatchedPopulation).
 */
public interface LayerSplit {
    /**
     * The residual stream [batch·seq, hidden] entering layer {@code layer} (0: the embeddings as the first layer
     * sees them), in the compute dtype; checks the batch as the forward does.
     */
    Tensor layerInput(Ops ops, WeightSource weights, Batch batch, int layer);

    /**
     * Layers {@code layer}.. over x (the residual stream entering it, [batch·seq, hidden], overwritten), then the
     * final norm (and any output projection): what the decoder's head reads, or the encoder's last hidden states.
     */
    Tensor hiddenFrom(Ops ops, WeightSource weights, Batch batch, int layer, Tensor x);

    /** Decoders: the LM head's logits [rows, vocab] over rows of {@link #hiddenFrom}'s output. */
    Tensor head(Ops ops, WeightSource weights, Tensor hidden);

    /** Refuses a split layer outside [0, layers). */
    static void checkLayer(ModelConfig config, int layer) {
        if (layer < 0 || layer >= config.numLayers()) {
            throw new IllegalArgumentException("split at layer " + layer + " of " + config.numLayers());
        }
    }
}
