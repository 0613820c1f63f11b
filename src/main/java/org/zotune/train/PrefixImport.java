package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.zotune.ZotuneException;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.peft.Prefix;
import org.zotune.tensor.HostTensor;

/**
 * Reads a Hugging Face PEFT prefix-tuning adapter folder ({@code adapter_config.json} + {@code
 * adapter_model.safetensors}, as {@link PrefixExport} and peft's {@code save_pretrained} write it) for a model,
 * checking it in one line per problem: peft_type PREFIX_TUNING; num_virtual_tokens; num_layers, token_dim and
 * num_attention_heads against the model's layers and key/value width (PEFT's convention for grouped keys: token_dim
 * = kv_heads·head_dim, num_attention_heads = kv_heads); one transformer submodule and no prefix projection; the one
 * tensor {@code prompt_embeddings} [p, 2·L·token_dim]; and the base weights the adapter records, as
 * {@link PeftImport} checks them for LoRA.
 */
public final class PrefixImport {
    private static final String TENSOR = "prompt_embeddings";

    /** A read adapter: its prefix over the model and its tensors in {@link Prefix#tensors()}'s order. */
    public record Adapter(Prefix prefix, List<HostTensor> tensors, String baseModel, AdapterClassifier classifier) {
    }

    private PrefixImport() {
    }

    /**
     * @param baseWeights the model's {@link org.zotune.train.run.Fingerprints#weights} digest, computed only when
     *                    the adapter records one
     */
    public static Adapter read(Path dir, LanguageModel model, Supplier<String> baseWeights) {
        JsonNode c = PeftImport.config(dir);
        Path cfgFile = dir.resolve(PrefixExport.CONFIG);
        Path weights = dir.resolve(PrefixExport.WEIGHTS);
        String type = c.path("peft_type").asText("");
        if (!type.equals("PREFIX_TUNING")) {
            throw new ZotuneException(cfgFile + ": peft_type '" + type + "' is not PREFIX_TUNING");
        }
        ModelConfig m = model.config();
        JsonNode p = c.get("num_virtual_tokens");
        if (p == null || !p.isIntegralNumber() || !p.canConvertToInt() || p.asInt() < 1) {
            throw new ZotuneException(cfgFile + ": num_virtual_tokens must be an integer >= 1, got " + p
                    + (c.has("r") || c.has("target_modules") ? "; the config holds LoRA's keys (r, target_modules) "
                    + "but its peft_type '" + type + "' is not LORA" : ""));
        }
        if (p.asInt() >= m.maxPositions()) {
            throw new ZotuneException(cfgFile + ": num_virtual_tokens " + p.asInt() + " leaves no room for a token "
                    + "in the model's " + m.maxPositions() + " positions");
        }
        int width = m.numKvHeads() * m.headDim();
        requireInt(cfgFile, c, "num_layers", m.numLayers(), "the model's layers");
        JsonNode dim = c.get("token_dim");
        JsonNode heads = c.get("num_attention_heads");
        if (dim == null || !dim.isIntegralNumber() || dim.asLong() != width || heads == null
                || !heads.isIntegralNumber() || heads.asLong() != m.numKvHeads()) {
            throw new ZotuneException(cfgFile + ": token_dim " + dim + " and num_attention_heads " + heads + " are "
                    + "not this model's keys and values: " + m.numKvHeads() + " key/value heads of " + m.headDim()
                    + " (token_dim " + width + ", num_attention_heads " + m.numKvHeads() + ")");
        }
        JsonNode sub = c.get("num_transformer_submodules");
        if (sub != null && !sub.isNull() && !(sub.isIntegralNumber() && sub.asInt() == 1)) {
            throw new ZotuneException(cfgFile + ": num_transformer_submodules " + sub + " is not supported (1: a "
                    + "decoder-only or encoder-only model)");
        }
        if (c.path("prefix_projection").asBoolean(false)) {
            throw new ZotuneException(cfgFile + ": prefix_projection is true: zotune reads prompt_embeddings as the "
                    + "keys and values themselves (prefix_projection false)");
        }
        JsonNode saved = c.get("modules_to_save");
        Prefix prefix = Prefix.of(m, p.asInt(), 1);
        SafetensorsFile file = SafetensorsFile.open(weights);
        PeftImport.checkBase(dir, c, file, baseWeights);
        PeftImport.checkFinite(weights, file);
        Map<String, HostTensor> tensors = new java.util.LinkedHashMap<>(file.tensors());
        // a sequence classifier's head (SEQ_CLS modules_to_save) is taken out; the rest is the prefix
        AdapterClassifier head = saved != null && saved.isArray() && !saved.isEmpty() ? AdapterClassifier.take(
                cfgFile.toString(), weights.toString(), saved, tensors, file.metadata() == null ? Map.of()
                : file.metadata(), PrefixExport.SAVED_PREFIX, model) : null;
        for (String name : tensors.keySet()) {
            if (!name.equals(TENSOR)) {
                throw new ZotuneException(weights + ": tensor " + name + " is not a prefix adapter's (it holds one "
                        + "tensor, " + TENSOR + ")");
            }
        }
        HostTensor table = tensors.get(TENSOR);
        if (table == null) {
            throw new ZotuneException(weights + ": tensor " + TENSOR + " is missing");
        }
        return new Adapter(prefix, prefix.fromPeft(table, weights.toString()),
                c.path("base_model_name_or_path").asText(null), head);
    }

    private static void requireInt(Path cfg, JsonNode c, String key, int want, String what) {
        JsonNode v = c.get(key);
        if (v == null || !v.isIntegralNumber() || v.asLong() != want) {
            throw new ZotuneException(cfg + ": " + key + " " + v + " is not " + what + " (" + want + ")");
        }
    }
}
