package org.zotune.model.io;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelConfig.Activation;
import org.zotune.model.ModelConfig.RopeScaling;
import org.zotune.model.ModelFamily;

/**
 * Maps a Hugging Face {@code config.json} to {@link ModelConfig}. Defaults are those of transformers' config
 * classes (GPT2Config, OPTConfig, LlamaConfig) for fields that a saved config may omit; the fields that fix
 * tensor shapes are required, since a config without them describes no particular checkpoint.
 */
public final class HfConfig {
    private HfConfig() {
    }

    /** GPT2Config fields. */
    record Gpt2(
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("n_embd") Integer nEmbd,
            @JsonProperty("n_layer") Integer nLayer,
            @JsonProperty("n_head") Integer nHead,
            @JsonProperty("n_inner") Integer nInner,
            @JsonProperty("n_positions") Integer nPositions,
            @JsonProperty("layer_norm_epsilon") Double layerNormEpsilon,
            @JsonProperty("activation_function") String activationFunction,
            @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
            @JsonProperty("scale_attn_weights") Boolean scaleAttnWeights,
            @JsonProperty("scale_attn_by_inverse_layer_idx") Boolean scaleAttnByInverseLayerIdx,
            @JsonProperty("add_cross_attention") Boolean addCrossAttention) {
    }

    /** OPTConfig fields. */
    record Opt(
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

    /** LlamaConfig fields. */
    record Llama(
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

    /** Token ids shared by all configs; eos_token_id may be a list (Llama 3), of which the first is used. */
    record SpecialIds(
            @JsonProperty("bos_token_id") JsonNode bos,
            @JsonProperty("eos_token_id") JsonNode eos,
            @JsonProperty("pad_token_id") JsonNode pad) {
    }

    /** Reads {@code config.json}; the file is named in every error. */
    public static ModelConfig read(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (NoSuchFileException e) {
            throw new ZotuneException(configJson + ": file not found (a Hugging Face model folder needs "
                    + "config.json)", e);
        } catch (IOException e) {
            throw new ZotuneException(configJson + ": cannot read: " + e.getMessage(), e);
        }
        return parse(configJson, text);
    }

    /** Parses config.json text; {@code source} names the file in errors. */
    public static ModelConfig parse(Path source, String json) {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": malformed JSON: " + Json.oneLine(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new ZotuneException(source + ": not a JSON object");
        }
        ModelFamily family = detect(source, root);
        SpecialIds ids = bind(source, root, SpecialIds.class);
        switch (family) {
            case GPT2: return gpt2(source, bind(source, root, Gpt2.class), ids);
            case OPT: return opt(source, bind(source, root, Opt.class), ids);
            case LLAMA: return llama(source, bind(source, root, Llama.class), ids);
            default: throw new AssertionError(family);
        }
    }

    /** Architecture from "architectures" (first supported class), else from "model_type". */
    static ModelFamily detect(Path source, JsonNode root) {
        JsonNode archs = root.get("architectures");
        List<String> named = new ArrayList<>();
        if (archs != null && archs.isArray()) {
            for (JsonNode a : archs) {
                named.add(a.asText());
                for (ModelFamily f : ModelFamily.values()) {
                    if (f.hfArchitecture().equals(a.asText())) {
                        return f;
                    }
                }
            }
        } else if (archs != null && archs.isTextual()) {
            named.add(archs.asText());
        }
        JsonNode type = root.get("model_type");
        if (type != null && type.isTextual()) {
            for (ModelFamily f : ModelFamily.values()) {
                if (f.hfModelType().equals(type.asText())) {
                    return f;
                }
            }
        }
        String supported = java.util.Arrays.stream(ModelFamily.values())
                .map(f -> f.hfArchitecture() + " (model_type " + f.hfModelType() + ")")
                .collect(Collectors.joining(", "));
        String what = named.isEmpty() && type == null
                ? "neither \"architectures\" nor \"model_type\" is set"
                : "unsupported architecture " + (named.isEmpty() ? "" : String.join(", ", named) + " ")
                  + "(model_type " + (type == null ? "absent" : type.asText()) + ")";
        throw new ZotuneException(source + ": " + what + "; supported: " + supported);
    }

    private static <T> T bind(Path source, JsonNode root, Class<T> type) {
        try {
            return Json.MAPPER.treeToValue(root, type);
        } catch (JsonMappingException e) {
            throw wrongType(source, root, e.getPath(), e instanceof MismatchedInputException m ? m.getTargetType() : null, e);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": " + Json.oneLine(e), e);
        }
    }

    /** "field n_layer must be an integer, got "12"" rather than Jackson's coercion vocabulary. */
    private static ZotuneException wrongType(Path source, JsonNode root, List<JsonMappingException.Reference> path,
                                             Class<?> target, Exception cause) {
        StringBuilder field = new StringBuilder();
        JsonNode value = root;
        for (JsonMappingException.Reference r : path) {
            if (r.getFieldName() != null) {
                field.append(field.length() == 0 ? "" : ".").append(r.getFieldName());
                value = value.path(r.getFieldName());
            } else {
                field.append('[').append(r.getIndex()).append(']');
                value = value.path(r.getIndex());
            }
        }
        String expected = target == Integer.class || target == int.class ? "an integer"
                : target == Double.class || target == double.class ? "a number"
                : target == Boolean.class || target == boolean.class ? "true or false"
                : target == String.class ? "a string"
                : "of another type";
        if (value.isIntegralNumber() && !value.canConvertToInt()) {
            expected = "an integer that fits in 32 bits";
        }
        return new ZotuneException(source + ": field " + field + " must be " + expected + ", got " + value, cause);
    }

    // ---------------------------------------------------------------- families

    private static ModelConfig gpt2(Path src, Gpt2 c, SpecialIds ids) {
        int hidden = positive(src, "n_embd", c.nEmbd());
        int heads = positive(src, "n_head", c.nHead());
        divisible(src, hidden, "n_embd", heads, "n_head");
        if (Boolean.TRUE.equals(c.scaleAttnByInverseLayerIdx())) {
            throw new ZotuneException(src + ": scale_attn_by_inverse_layer_idx=true is not supported");
        }
        if (Boolean.FALSE.equals(c.scaleAttnWeights())) {
            throw new ZotuneException(src + ": scale_attn_weights=false is not supported");
        }
        if (Boolean.TRUE.equals(c.addCrossAttention())) {
            throw new ZotuneException(src + ": add_cross_attention=true is not supported (decoder-only)");
        }
        int inner = c.nInner() == null ? 4 * hidden : positive(src, "n_inner", c.nInner());
        return new ModelConfig(ModelFamily.GPT2,
                positive(src, "vocab_size", c.vocabSize()),
                hidden,
                positive(src, "n_layer", c.nLayer()),
                heads, heads, hidden / heads, inner,
                positive(src, "n_positions", c.nPositions()),
                eps(src, "layer_norm_epsilon", c.layerNormEpsilon(), 1e-5),
                activation(src, "activation_function", c.activationFunction(), "gelu_new"),
                orDefault(c.tieWordEmbeddings(), true),
                true, true, hidden, 0.0, null, true, true,
                tokenId(src, "bos_token_id", ids.bos(), 50256),
                tokenId(src, "eos_token_id", ids.eos(), 50256),
                tokenId(src, "pad_token_id", ids.pad(), -1));
    }

    private static ModelConfig opt(Path src, Opt c, SpecialIds ids) {
        // very old OPT configs call the width d_model; transformers maps it to hidden_size
        Integer hiddenField = c.hiddenSize() != null ? c.hiddenSize() : c.dModel();
        int hidden = positive(src, "hidden_size", hiddenField);
        int heads = positive(src, "num_attention_heads", c.numAttentionHeads());
        divisible(src, hidden, "hidden_size", heads, "num_attention_heads");
        if (Boolean.FALSE.equals(c.layerNormElementwiseAffine())) {
            throw new ZotuneException(src + ": layer_norm_elementwise_affine=false is not supported");
        }
        boolean normBefore = orDefault(c.doLayerNormBefore(), true);
        boolean removeFinal = orDefault(c.removeFinalLayerNorm(), false);
        boolean bias = orDefault(c.enableBias(), true);
        int proj = c.wordEmbedProjDim() == null ? hidden : positive(src, "word_embed_proj_dim", c.wordEmbedProjDim());
        return new ModelConfig(ModelFamily.OPT,
                positive(src, "vocab_size", c.vocabSize()),
                hidden,
                positive(src, "num_hidden_layers", c.numHiddenLayers()),
                heads, heads, hidden / heads,
                positive(src, "ffn_dim", c.ffnDim()),
                positive(src, "max_position_embeddings", c.maxPositionEmbeddings()),
                1e-5, // OPT's LayerNorms use PyTorch's default eps; config.json has no field for it
                activation(src, "activation_function", c.activationFunction(), "relu"),
                orDefault(c.tieWordEmbeddings(), true),
                normBefore,
                normBefore && !removeFinal,
                proj, 0.0, null, bias, bias,
                tokenId(src, "bos_token_id", ids.bos(), 2),
                tokenId(src, "eos_token_id", ids.eos(), 2),
                tokenId(src, "pad_token_id", ids.pad(), 1));
    }

    private static ModelConfig llama(Path src, Llama c, SpecialIds ids) {
        int hidden = positive(src, "hidden_size", c.hiddenSize());
        int heads = positive(src, "num_attention_heads", c.numAttentionHeads());
        int kvHeads = c.numKeyValueHeads() == null ? heads : positive(src, "num_key_value_heads", c.numKeyValueHeads());
        if (heads % kvHeads != 0) {
            throw new ZotuneException(src + ": num_attention_heads " + heads + " is not a multiple of "
                    + "num_key_value_heads " + kvHeads);
        }
        int headDim;
        if (c.headDim() != null) {
            headDim = positive(src, "head_dim", c.headDim());
        } else {
            divisible(src, hidden, "hidden_size", heads, "num_attention_heads");
            headDim = hidden / heads;
        }
        // transformers 5 keeps rope_theta and the scaling inside "rope_parameters"; older files use
        // top-level "rope_theta" and "rope_scaling"
        JsonNode params = c.ropeParameters() != null && !c.ropeParameters().isNull() ? c.ropeParameters() : null;
        String scalingField = params != null ? "rope_parameters" : "rope_scaling";
        JsonNode scaling = params != null ? params : c.ropeScaling();
        double theta = c.ropeTheta() != null ? c.ropeTheta() : 10000.0;
        if (params != null && params.has("rope_theta")) {
            theta = number(src, "rope_parameters.rope_theta", params.get("rope_theta"));
        }
        if (!(theta > 0)) {
            throw new ZotuneException(src + ": rope_theta must be positive, got " + theta);
        }
        return new ModelConfig(ModelFamily.LLAMA,
                positive(src, "vocab_size", c.vocabSize()),
                hidden,
                positive(src, "num_hidden_layers", c.numHiddenLayers()),
                heads, kvHeads, headDim,
                positive(src, "intermediate_size", c.intermediateSize()),
                c.maxPositionEmbeddings() == null ? 2048 : positive(src, "max_position_embeddings", c.maxPositionEmbeddings()),
                eps(src, "rms_norm_eps", c.rmsNormEps(), 1e-6),
                activation(src, "hidden_act", c.hiddenAct(), "silu"),
                orDefault(c.tieWordEmbeddings(), false),
                true, true, hidden, theta,
                ropeScaling(src, scalingField, scaling),
                orDefault(c.attentionBias(), false),
                orDefault(c.mlpBias(), false),
                tokenId(src, "bos_token_id", ids.bos(), 1),
                tokenId(src, "eos_token_id", ids.eos(), 2),
                tokenId(src, "pad_token_id", ids.pad(), -1));
    }

    /** null or rope_type "default" → no scaling; "llama3" → its four parameters, all required. */
    private static RopeScaling ropeScaling(Path src, String field, JsonNode s) {
        if (s == null || s.isNull()) {
            return null;
        }
        if (!s.isObject()) {
            throw new ZotuneException(src + ": " + field + " must be an object, got " + s);
        }
        JsonNode typeNode = s.has("rope_type") ? s.get("rope_type") : s.get("type");
        String type = typeNode == null || typeNode.isNull() ? "default" : typeNode.asText();
        if (type.equals("default")) {
            return null;
        }
        if (!type.equals("llama3")) {
            throw new ZotuneException(src + ": " + field + ".rope_type '" + type + "' is not supported "
                    + "(supported: default, llama3)");
        }
        double factor = number(src, field + ".factor", s.get("factor"));
        double low = number(src, field + ".low_freq_factor", s.get("low_freq_factor"));
        double high = number(src, field + ".high_freq_factor", s.get("high_freq_factor"));
        double orig = number(src, field + ".original_max_position_embeddings",
                s.get("original_max_position_embeddings"));
        if (!(factor > 0) || !(low > 0) || !(high > low) || !(orig >= 1) || orig != Math.rint(orig)) {
            throw new ZotuneException(src + ": " + field + " has invalid llama3 parameters (need factor > 0, "
                    + "0 < low_freq_factor < high_freq_factor, integer original_max_position_embeddings): " + s);
        }
        return new RopeScaling(factor, low, high, (int) orig);
    }

    // ---------------------------------------------------------------- field helpers

    private static int positive(Path src, String field, Integer v) {
        if (v == null) {
            throw new ZotuneException(src + ": missing required field " + field);
        }
        if (v <= 0) {
            throw new ZotuneException(src + ": field " + field + " must be positive, got " + v);
        }
        return v;
    }

    private static void divisible(Path src, int a, String aName, int b, String bName) {
        if (a % b != 0) {
            throw new ZotuneException(src + ": " + aName + " " + a + " is not a multiple of " + bName + " " + b);
        }
    }

    private static double eps(Path src, String field, Double v, double dflt) {
        double e = v == null ? dflt : v;
        if (!(e > 0) || !(e < 1)) {
            throw new ZotuneException(src + ": field " + field + " must be in (0, 1), got " + e);
        }
        return e;
    }

    private static double number(Path src, String field, JsonNode n) {
        if (n == null || n.isNull()) {
            throw new ZotuneException(src + ": missing required field " + field);
        }
        if (!n.isNumber()) {
            throw new ZotuneException(src + ": field " + field + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    private static Activation activation(Path src, String field, String v, String dflt) {
        try {
            return Activation.fromHf(v == null ? dflt : v);
        } catch (IllegalArgumentException e) {
            throw new ZotuneException(src + ": field " + field + ": " + e.getMessage(), e);
        }
    }

    private static boolean orDefault(Boolean b, boolean dflt) {
        return b == null ? dflt : b;
    }

    /** An id, null (→ -1), or a list of ids (→ the first). */
    private static int tokenId(Path src, String field, JsonNode n, int dflt) {
        if (n == null || n.isMissingNode()) {
            return dflt;
        }
        if (n.isNull()) {
            return -1;
        }
        JsonNode v = n.isArray() ? (n.size() == 0 ? null : n.get(0)) : n;
        if (v == null) {
            return -1;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new ZotuneException(src + ": field " + field + " must be an integer token id, got " + n);
        }
        return v.asInt();
    }
}
