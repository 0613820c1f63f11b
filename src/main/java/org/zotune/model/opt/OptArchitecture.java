package org.zotune.model.opt;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;
import org.zotune.model.Architecture;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.ConfigJson;

/** OPT as Hugging Face stores it: OPTConfig, names under {@code model.decoder.}, nn.Linear layouts throughout. */
public final class OptArchitecture implements Architecture {

    /** OPTConfig fields. */
    record Fields(
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("hidden_size") Integer hiddenSize,
            @JsonProperty("d_model") Integer dModel,
            @JsonProperty("ffn_dim") Integer ffnDim,
            @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
            @JsonProperty("num_attention_heads") Integer numAttentionHeads,
            @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
            @JsonProperty("do_layer_norm_before") Boolean doLayerNormBefore,
            @JsonProperty("_remove_final_layer_norm") Boolean removeFinalLayerNorm,
            @JsonProperty("word_embed_proj_dim") Integer wordEmbedProjDim,
            @JsonProperty("activation_function") String activationFunction,
            @JsonProperty("enable_bias") Boolean enableBias,
            @JsonProperty("layer_norm_elementwise_affine") Boolean layerNormElementwiseAffine,
            @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings) {
    }

    @Override
    public String hfArchitecture() {
        return "OPTForCausalLM";
    }

    @Override
    public String hfModelType() {
        return "opt";
    }

    @Override
    public ModelConfig parseConfig(ConfigJson json) {
        Fields c = json.bind(Fields.class);
        // very old OPT configs call the width d_model; transformers maps it to hidden_size
        Integer hiddenField = c.hiddenSize() != null ? c.hiddenSize() : c.dModel();
        int hidden = json.positive("hidden_size", hiddenField);
        int heads = json.positive("num_attention_heads", c.numAttentionHeads());
        json.divisible(hidden, "hidden_size", heads, "num_attention_heads");
        if (Boolean.FALSE.equals(c.layerNormElementwiseAffine())) {
            throw json.error("layer_norm_elementwise_affine=false is not supported");
        }
        boolean normBefore = ConfigJson.orDefault(c.doLayerNormBefore(), true);
        boolean removeFinal = ConfigJson.orDefault(c.removeFinalLayerNorm(), false);
        boolean bias = ConfigJson.orDefault(c.enableBias(), true);
        int proj = c.wordEmbedProjDim() == null ? hidden : json.positive("word_embed_proj_dim", c.wordEmbedProjDim());
        return new ModelConfig(ModelFamily.OPT,
                json.positive("vocab_size", c.vocabSize()),
                hidden,
                json.positive("num_hidden_layers", c.numHiddenLayers()),
                heads, heads, hidden / heads,
                json.positive("ffn_dim", c.ffnDim()),
                json.positive("max_position_embeddings", c.maxPositionEmbeddings()),
                1e-5, // OPT's LayerNorms use PyTorch's default eps; config.json has no field for it
                json.activation("activation_function", c.activationFunction(), "relu"),
                ConfigJson.orDefault(c.tieWordEmbeddings(), true),
                normBefore,
                normBefore && !removeFinal,
                proj, 0.0, null, bias, bias,
                json.bosTokenId(2),
                json.eosTokenId(2),
                json.padTokenId(1));
    }

    @Override
    public Opt create(ModelConfig config) {
        return new Opt(config);
    }

    @Override
    public String canonicalName(String stored) {
        if (stored.startsWith("lm_head.") || stored.startsWith("model.decoder.")) {
            return stored;
        }
        return stored.startsWith("decoder.") ? "model." + stored : stored;
    }

    @Override
    public Map<String, String> adapterModules() {
        return Map.of("q", "self_attn.q_proj", "k", "self_attn.k_proj", "v", "self_attn.v_proj",
                "o", "self_attn.out_proj", "fc1", "fc1", "up", "fc1", "fc2", "fc2", "down", "fc2");
    }
}
