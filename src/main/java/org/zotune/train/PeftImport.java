package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.zotune.ZotuneException;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.peft.Lora;
import org.zotune.peft.PeftClass;
import org.zotune.tensor.HostTensor;

/**
 * Reads a Hugging Face PEFT LoRA adapter folder ({@code adapter_config.json} + {@code adapter_model.safetensors},
 * as {@code save_pretrained} and {@link PeftExport} write it) for a model, checking it in one line per problem: the
 * config's peft_type, r, lora_alpha and target_modules (options zotune does not apply, such as DoRA, rsLoRA, rank
 * patterns or trained biases, are refused rather than ignored), every tensor's presence and shape against the model,
 * and, when the adapter records the weights it was trained on ({@link PeftExport#BASE_WEIGHTS}, zotune's exports
 * do), that the base is that model: an adapter applied to other weights gives other results, so it is refused.
 * base_model_name_or_path is not compared (a name or a path on another machine says nothing about the weights).
 */
public final class PeftImport {
    // a key given twice leaves it open which r or lora_alpha was meant
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** A read adapter: its LoRA set over the model and its tensors in {@link Lora#tensors()}'s order and layout. */
    public record Adapter(Lora lora, List<HostTensor> tensors, String baseModel, AdapterClassifier classifier) {
    }

    private PeftImport() {
    }

    /**
     * @param baseWeights the model's {@link org.zotune.train.run.Fingerprints#weights} digest, computed only when
     *                    the adapter records one
     */
    public static Adapter read(Path dir, LanguageModel model, Supplier<String> baseWeights) {
        JsonNode c = config(dir);
        Path cfgFile = dir.resolve(PeftExport.CONFIG);
        Path weights = dir.resolve(PeftExport.WEIGHTS);
        String type = c.path("peft_type").asText("");
        if (!type.equals("LORA")) {
            throw new ZotuneException(cfgFile + ": peft_type '" + type + "' is not LORA (zotune loads LoRA and "
                    + "PREFIX_TUNING adapters)");
        }
        JsonNode r = c.get("r");
        if (r == null || !r.canConvertToInt() || !r.isIntegralNumber() || r.asInt() < 1) {
            throw new ZotuneException(cfgFile + ": r must be an integer >= 1, got " + r);
        }
        JsonNode alpha = c.get("lora_alpha");
        if (alpha == null || !alpha.isNumber() || !(alpha.asDouble() > 0) || !Double.isFinite(alpha.asDouble())) {
            throw new ZotuneException(cfgFile + ": lora_alpha must be a number > 0, got " + alpha);
        }
        refuse(cfgFile, c, "use_dora", "DoRA adapters are not supported");
        refuse(cfgFile, c, "use_rslora", "rsLoRA's alpha/sqrt(r) scale is not supported");
        refuseNonEmpty(cfgFile, c, "rank_pattern");
        refuseNonEmpty(cfgFile, c, "alpha_pattern");
        JsonNode saved = c.get("modules_to_save");
        boolean classifier = saved != null && saved.isArray() && !saved.isEmpty();
        if (!classifier) {
            refuseNonEmpty(cfgFile, c, "modules_to_save");
        }
        refuseNonEmpty(cfgFile, c, "layers_to_transform");
        refuseNonEmpty(cfgFile, c, "exclude_modules");
        refuseNonEmpty(cfgFile, c, "layer_replication");
        refuseNonEmpty(cfgFile, c, "target_parameters");
        String bias = c.path("bias").asText("none");
        if (!bias.equals("none")) {
            throw new ZotuneException(cfgFile + ": bias '" + bias + "' (trained biases) is not supported; only "
                    + "'none'");
        }
        JsonNode tm = c.get("target_modules");
        List<String> targets = new ArrayList<>();
        boolean regex = tm != null && tm.isTextual();
        if (regex) {
            targets.add(tm.asText());
        } else if (tm != null && tm.isArray() && tm.size() > 0) {
            for (JsonNode t : tm) {
                if (!t.isTextual() || t.asText().isEmpty()) {
                    throw new ZotuneException(cfgFile + ": target_modules holds " + t + ", not a module name");
                }
                targets.add(t.asText());
            }
        } else {
            throw new ZotuneException(cfgFile + ": target_modules must be a non-empty list of module names (or a "
                    + "regular expression), got " + tm);
        }
        ModelFamily f = model.config().family();
        SafetensorsFile file = SafetensorsFile.open(weights);
        // a sequence classifier's head (SEQ_CLS modules_to_save) is taken out; the rest is the LoRA adapter
        Map<String, HostTensor> own = new java.util.LinkedHashMap<>(file.tensors());
        AdapterClassifier head = classifier ? AdapterClassifier.take(cfgFile.toString(), weights.toString(), saved,
                own, file.metadata() == null ? Map.of() : file.metadata(), Lora.PEFT_PREFIX, model) : null;
        JsonNode task = c.get("task_type");
        PeftClass cls;
        try {
            cls = PeftClass.detect(f.architecture(), f.hfModelType(), task == null || task.isNull() ? null
                    : task.asText(), own.keySet());
        } catch (ZotuneException e) {
            throw new ZotuneException(dir + ": " + e.getMessage(), e);
        }
        Function<String, String> keys = cls.keys(f.architecture());
        Lora lora;
        try {
            lora = Lora.ofPeft(f.architecture(), f.hfModelType(), model.params(), r.asInt(), alpha.asDouble(),
                    targets, regex, keys);
        } catch (ZotuneException e) {
            throw new ZotuneException(cfgFile + ": " + e.getMessage(), e);
        }
        checkBase(dir, c, file, baseWeights);
        checkFinite(weights, file);
        List<HostTensor> tensors;
        try {
            tensors = lora.fromPeft(own, keys);
        } catch (ZotuneException e) {
            throw new ZotuneException(weights + ": " + e.getMessage(), e);
        }
        lora.requireFiniteUpdate(weights.toString(), tensors);
        return new Adapter(lora, tensors, c.path("base_model_name_or_path").asText(null), head);
    }

    /**
     * Whether the adapter folder {@code dir} holds a prefix-tuning adapter (peft_type PREFIX_TUNING, read with
     * {@link PrefixImport}); the folder and its config are checked as {@link #read} checks them, in one line.
     */
    public static boolean isPrefix(Path dir) {
        return config(dir).path("peft_type").asText("").equals("PREFIX_TUNING");
    }

    /** The folder's adapter_config.json, with its weights file present: one line naming what is missing. */
    static JsonNode config(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ZotuneException("adapter " + dir + (Files.exists(dir) ? " is not a folder" : " does not exist")
                    + " (a PEFT adapter folder: adapter_config.json + adapter_model.safetensors)");
        }
        Path cfgFile = dir.resolve(PeftExport.CONFIG);
        Path weights = dir.resolve(PeftExport.WEIGHTS);
        if (!Files.isRegularFile(cfgFile)) {
            throw new ZotuneException("adapter " + dir + ": no " + PeftExport.CONFIG);
        }
        if (!Files.isRegularFile(weights)) {
            throw new ZotuneException("adapter " + dir + ": no " + PeftExport.WEIGHTS + (Files.exists(dir.resolve(
                    "adapter_model.bin")) ? " (only safetensors are read: save with safe_serialization=True)" : ""));
        }
        JsonNode c;
        try {
            c = JSON.readTree(cfgFile.toFile());
        } catch (IOException e) {
            throw new ZotuneException(cfgFile + ": not valid JSON: " + firstLine(e.getMessage()), e);
        }
        if (c == null || !c.isObject()) {
            throw new ZotuneException(cfgFile + ": not a JSON object");
        }
        return c;
    }

    /**
     * Refuses an adapter whose recorded base weights ({@link PeftExport#BASE_WEIGHTS}) are not the model's; one
     * that records none (peft's own) passes.
     */
    static void checkBase(Path dir, JsonNode config, SafetensorsFile file, Supplier<String> baseWeights) {
        String recorded = file.metadata() == null ? null : file.metadata().get(PeftExport.BASE_WEIGHTS);
        if (recorded != null) {
            String now = baseWeights.get();
            if (!recorded.equals(now)) {
                throw new ZotuneException("adapter " + dir + " was trained on other base weights (it records "
                        + abbreviate(recorded) + ", the model gives " + abbreviate(now) + "); load it onto the model "
                        + "it was trained on (" + config.path("base_model_name_or_path").asText("?") + ")");
            }
        }
    }

    /** One NaN or infinity makes every logit it reaches NaN: an adapter's weights must be finite. */
    static void checkFinite(Path weights, SafetensorsFile file) {
        for (var e : file.tensors().entrySet()) {
            float[] v = e.getValue().toFloats();
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    throw new ZotuneException(weights + ": tensor " + e.getKey() + " holds " + v[i] + " at element "
                            + i + " (an adapter's weights must be finite)");
                }
            }
        }
    }

    private static void refuse(Path cfg, JsonNode c, String key, String why) {
        if (c.path(key).asBoolean(false)) {
            throw new ZotuneException(cfg + ": " + key + " is true: " + why);
        }
    }

    private static void refuseNonEmpty(Path cfg, JsonNode c, String key) {
        JsonNode v = c.get(key);
        if (v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
            throw new ZotuneException(cfg + ": " + key + " " + v + " is not supported (zotune applies one r and "
                    + "lora_alpha to every target module, and nothing else)");
        }
    }

    private static String abbreviate(String digest) {
        return digest.length() > 19 ? digest.substring(0, 19) + "…" : digest;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
