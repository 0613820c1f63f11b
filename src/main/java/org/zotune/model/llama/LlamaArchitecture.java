package org.zotune.model.llama;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import org.zotune.model.Architecture;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelConfig.RopeScaling;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.ConfigJson;

/**
 * Llama as Hugging Face stores it: LlamaConfig (rope_theta and Llama-3 rope scaling, top-level or in transformers 5's
 * rope_parameters), names under {@code model.}, nn.Linear layouts throughout.
 */
public final class LlamaArchitecture implements Architecture {

    /** LlamaConfig fields. */
    record Fields(
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("hidden_size") Integer hiddenSize,
            @JsonProperty("intermediate_size") Integer intermediateSize,
            @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
            @JsonProperty("num_attention_heads") Integer numAttentionHeads,
            @JsonProperty("num_key_value_heads") Integer numKeyValueHeads,
            @JsonProperty("head_dim") Integer headDim,
            @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
            @JsonProperty("rms_norm_eps") Double rmsNormEps,
            @JsonProperty("rope_theta") Double ropeTheta,
            @JsonProperty("rope_scaling") JsonNode ropeScaling,
            @JsonProperty("rope_parameters") JsonNode ropeParameters,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("attention_bias") Boolean attentionBias,
            @JsonProperty("mlp_bias") Boolean mlpBias,
            @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings) {
    }

    @Override
    public String hfArchitecture() {
        return "LlamaForCausalLM";
    }

    @Override
    public String hfModelType() {
        return "llama";
    }

    @Override
    public ModelConfig parseConfig(ConfigJson json) {
        Fields c = json.bind(Fields.class);
        int hidden = json.positive("hidden_size", c.hiddenSize());
        int heads = json.positive("num_attention_heads", c.numAttentionHeads());
        int kvHeads = c.numKeyValueHeads() == null ? heads
                : json.positive("num_key_value_heads", c.numKeyValueHeads());
        if (heads % kvHeads != 0) {
            throw json.error("num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim;
        if (c.headDim() != null) {
            headDim = json.positive("head_dim", c.headDim());
        } else {
            json.divisible(hidden, "hidden_size", heads, "num_attention_heads");
            headDim = hidden / heads;
        }
        // transformers 5 keeps rope_theta and the scaling inside "rope_parameters"; older files use
        // top-level "rope_theta" and "rope_scaling"
        JsonNode params = c.ropeParameters() != null && !c.ropeParameters().isNull() ? c.ropeParameters() : null;
        String scalingField = params != null ? "rope_parameters" : "rope_scaling";
        JsonNode scaling = params != null ? params : c.ropeScaling();
        double theta = c.ropeTheta() != null ? c.ropeTheta() : 10000.0;
        if (params != null && params.has("rope_theta")) {
            theta = json.number("rope_parameters.rope_theta", params.get("rope_theta"));
        }
        if (!(theta > 0)) {
            throw json.error("rope_theta must be positive, got " + theta);
        }
        return new ModelConfig(ModelFamily.LLAMA,
                json.positive("vocab_size", c.vocabSize()),
                hidden,
                json.positive("num_hidden_layers", c.numHiddenLayers()),
                heads, kvHeads, headDim,
                json.positive("intermediate_size", c.intermediateSize()),
                c.maxPositionEmbeddings() == null ? 2048
                        : json.positive("max_position_embeddings", c.maxPositionEmbeddings()),
                json.eps("rms_norm_eps", c.rmsNormEps(), 1e-6),
                json.activation("hidden_act", c.hiddenAct(), "silu"),
                ConfigJson.orDefault(c.tieWordEmbeddings(), false),
                true, true, hidden, theta,
                ropeScaling(json, scalingField, scaling),
                ConfigJson.orDefault(c.attentionBias(), false),
                ConfigJson.orDefault(c.mlpBias(), false),
                json.bosTokenId(1),
                json.eosTokenId(2),
                json.padTokenId(-1));
    }

    /** null or rope_type "default" → no scaling; "llama3" → its four parameters, all required. */
    private static RopeScaling ropeScaling(ConfigJson json, String field, JsonNode s) {
        if (s == null || s.isNull()) {
            return null;
        }
        if (!s.isObject()) {
            throw json.error(field + " must be an object, got " + s);
        }
        JsonNode typeNode = s.has("rope_type") ? s.get("rope_type") : s.get("type");
        String type = typeNode == null || typeNode.isNull() ? "default" : typeNode.asText();
        if (type.equals("default")) {
            return null;
        }
        if (!type.equals("llama3")) {
            throw json.error(field + ".rope_type '" + type + "' is not supported (supported: default, llama3)");
        }
        double factor = json.number(field + ".factor", s.get("factor"));
        double low = json.number(field + ".low_freq_factor", s.get("low_freq_factor"));
        double high = json.number(field + ".high_freq_factor", s.get("high_freq_factor"));
        double orig = json.number(field + ".original_max_position_embeddings",
                s.get("original_max_position_embeddings"));
        if (!(factor > 0) || !(low > 0) || !(high > low) || !(orig >= 1) || orig != Math.rint(orig)) {
            throw json.error(field + " has invalid llama3 parameters (need factor > 0, "
                    + "0 < low_freq_factor < high_freq_factor, integer original_max_position_embeddings): " + s);
        }
        return new RopeScaling(factor, low, high, (int) orig);
    }

    @Override
    public Llama create(ModelConfig config) {
        return new Llama(config);
    }

    @Override
    public String canonicalName(String stored) {
        return stored.startsWith("lm_head.") || stored.startsWith("model.") ? stored : "model." + stored;
    }

    @Override
    public Map<String, String> adapterModules() {
        return Map.of("q", "self_attn.q_proj", "k", "self_attn.k_proj", "v", "self_attn.v_proj",
                "o", "self_attn.o_proj", "gate", "mlp.gate_proj", "up", "mlp.up_proj", "down", "mlp.down_proj");
    }
}
