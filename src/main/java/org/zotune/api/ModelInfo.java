package org.zotune.api;

/**
 * A model's shape, from its config. Immutable.
 *
 * @param modelType    the Hugging Face {@code model_type} (gpt2, opt, llama, ...)
 * @param encoder      whether it is a masked (encoder) model rather than a causal decoder
 * @param layers       transformer blocks
 * @param hiddenSize   the residual width
 * @param vocabSize    token ids are {@code 0 .. vocabSize - 1}
 * @param maxPositions the longest sequence the model accepts
 * @param parameters   the number of weights
 */
public record ModelInfo(String modelType, boolean encoder, int layers, int hiddenSize, int vocabSize,
        int maxPositions, long parameters) {
}
