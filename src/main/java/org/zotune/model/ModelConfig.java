package org.zotune.model;

/**
 * Architecture-neutral description of a decoder-only transformer, mapped from a Hugging Face
 * {@code config.json} (or a llama2.c header). Fields that an architecture does not use keep the
 * neutral value noted.
 *
 * @param family            GPT-2, OPT or Llama
 * @param vocabSize         vocab_size
 * @param hiddenSize        hidden_size / n_embd
 * @param numLayers         num_hidden_layers / n_layer
 * @param numHeads          num_attention_heads / n_head
 * @param numKvHeads        num_key_value_heads (= numHeads without GQA)
 * @param headDim           hidden_size / num_heads unless config.json says head_dim
 * @param intermediateSize  FFN width (n_inner, ffn_dim, intermediate_size; GPT-2 default 4·hidden)
 * @param maxPositions      max_position_embeddings / n_positions
 * @param normEps           layer_norm_epsilon / rms_norm_eps (OPT: 1e-5)
 * @param activation        the FFN activation
 * @param tieWordEmbeddings the LM head is the token embedding
 * @param normBefore        pre-LayerNorm (OPT: do_layer_norm_before; GPT-2 and Llama: true)
 * @param finalNorm         a final norm before the head (OPT: absent when !do_layer_norm_before
 *                          or _remove_final_layer_norm)
 * @param wordEmbedProjDim  OPT word_embed_proj_dim (= hiddenSize when no projection)
 * @param ropeTheta         Llama rope_theta (0 for learned positions)
 * @param ropeScaling       Llama-3 rope_scaling, or null
 * @param attentionBias     q/k/v/o projections have biases
 * @param mlpBias           FFN projections have biases
 * @param bosTokenId        bos_token_id (-1 if none)
 * @param eosTokenId        eos_token_id (-1 if none)
 * @param padTokenId        pad_token_id (-1 if none)
 * @param encoder           what only encoders (BERT, RoBERTa) have, or null for a decoder
 */
public record ModelConfig(
        ModelFamily family,
        int vocabSize,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        int maxPositions,
        double normEps,
        Activation activation,
        boolean tieWordEmbeddings,
        boolean normBefore,
        boolean finalNorm,
        int wordEmbedProjDim,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean attentionBias,
        boolean mlpBias,
        int bosTokenId,
        int eosTokenId,
        int padTokenId,
        Encoder encoder) {

    /** A decoder's config (no encoder part). */
    public ModelConfig(ModelFamily family, int vocabSize, int hiddenSize, int numLayers, int numHeads, int numKvHeads,
                       int headDim, int intermediateSize, int maxPositions, double normEps, Activation activation,
                       boolean tieWordEmbeddings, boolean normBefore, boolean finalNorm, int wordEmbedProjDim,
                       double ropeTheta, RopeScaling ropeScaling, boolean attentionBias, boolean mlpBias,
                       int bosTokenId, int eosTokenId, int padTokenId) {
        this(family, vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize, maxPositions,
                normEps, activation, tieWordEmbeddings, normBefore, finalNorm, wordEmbedProjDim, ropeTheta,
                ropeScaling, attentionBias, mlpBias, bosTokenId, eosTokenId, padTokenId, null);
    }

    /**
     * What an encoder's config adds.
     *
     * @param typeVocabSize  type_vocab_size (token type / segment embeddings)
     * @param positionOffset the position of the first real token: 0 for BERT, padding_idx + 1 for RoBERTa (whose
     *                       positions count real tokens only)
     * @param mlmHead        the checkpoint has the masked-LM head (a ...ForMaskedLM class), not only the body
     */
    public record Encoder(int typeVocabSize, int positionOffset, boolean mlmHead, boolean pooler) {
        /** Without the pooler (known only once the checkpoint's tensors are read). */
        public Encoder(int typeVocabSize, int positionOffset, boolean mlmHead) {
            this(typeVocabSize, positionOffset, mlmHead, false);
        }
    }

    /**
     * FFN activations (HF names: gelu_new, relu, silu; GELU, HF's exact "gelu", only where an architecture maps it:
     * the decoders run the tanh form).
     */
    public enum Activation {
        GELU_TANH, RELU, SILU, GELU;

        public static Activation fromHf(String name) {
            switch (name) {
                case "gelu_new": case "gelu_pytorch_tanh": case "gelu_fast": return GELU_TANH;
                case "relu": return RELU;
                case "silu": case "swish": return SILU;
                default: throw new IllegalArgumentException("unsupported activation '" + name
                        + "' (supported: gelu_new, gelu_pytorch_tanh, relu, silu)");
            }
        }
    }

    /** Llama-3 style RoPE frequency scaling ("rope_type": "llama3"). */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public int qDim() {
        return numHeads * headDim;
    }
}
