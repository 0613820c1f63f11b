package org.zotune.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.zotune.ZotuneException;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.peft.Lora;
import org.zotune.peft.PeftClass;
import org.zotune.tensor.HostTensor;

/**
 * Writes a LoRA adapter as a Hugging Face PEFT adapter folder: {@code adapter_config.json} (peft_type LORA, r,
 * lora_alpha, target_modules, base_model_name_or_path, ...) and {@code adapter_model.safetensors} under PEFT's tensor
 * names ({@link Lora#toPeft}). Both files are written atomically.
 */
public final class PeftExport {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    /**
     * The safetensors metadata key holding the base weights' {@link org.zotune.train.run.Fingerprints#weights} digest
     * (PEFT ignores metadata; {@link PeftImport} refuses a base whose digest differs).
     */
    public static final String BASE_WEIGHTS = "zotune_base_weights";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeftExport() {
    }

    /**
     * @param base     the base model as the run named it (base_model_name_or_path)
     * @param family   the base model's architecture (GPT-2's Conv1D modules are fan_in_fan_out in PEFT's terms)
     * @param adapters the trained tensors in {@link Lora#tensors()}'s order
     */
    public static void write(Path dir, Lora lora, String base, ModelFamily family, List<HostTensor> adapters,
            Map<String, String> metadata) {
        write(dir, lora, base, family, PeftClass.CAUSAL_LM, adapters, metadata);
    }

    /**
     * As PEFT writes an adapter made on the model class {@code cls}: its task_type, its module names (an encoder's
     * bare model without bert./roberta.), and target_modules that select exactly the adapted modules there.
     */
    public static void write(Path dir, Lora lora, String base, ModelFamily family, PeftClass cls,
            List<HostTensor> adapters, Map<String, String> metadata) {
        write(dir, lora, base, family, cls, adapters, metadata, java.util.function.UnaryOperator.identity());
    }

    /**
     * {@link #write(Path, Lora, String, ModelFamily, PeftClass, List, Map)} with the tensors renamed or joined by
     * {@code named} before they are written (a head run's classifier as its Hugging Face class holds it,
     * {@link AdapterClassifier#withHfHead}).
     */
    public static void write(Path dir, Lora lora, String base, ModelFamily family, PeftClass cls,
            List<HostTensor> adapters, Map<String, String> metadata,
            java.util.function.UnaryOperator<List<HostTensor>> named) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new ZotuneException(dir + ": cannot create the adapter folder: " + e.getMessage(), e);
        }
        Function<String, String> keys = cls.keys(family.architecture());
        SafetensorsWriter.write(dir.resolve(WEIGHTS), named.apply(lora.toPeft(adapters, keys)), metadata);
        AtomicFiles.writeString(dir.resolve(CONFIG), config(lora, base, family, cls, keys).toPrettyString() + "\n");
    }

    /**
     * The class a run's adapter is exported for: a decoder's causal LM; for an encoder the class its objective
     * trains (mlm: ...ForMaskedLM, similarity: the bare model, head: ...ForSequenceClassification).
     */
    public static PeftClass modelClass(TrainConfig c, org.zotune.model.ModelConfig model) {
        if (model.encoder() == null) {
            return PeftClass.CAUSAL_LM;
        }
        return switch (c.objectiveKind()) {
            case SIMILARITY -> PeftClass.FEATURE_EXTRACTION;
            case HEAD -> PeftClass.SEQ_CLS;
            default -> PeftClass.MASKED_LM;
        };
    }

    static ObjectNode config(Lora lora, String base, ModelFamily family, PeftClass cls,
            Function<String, String> keys) {
        ObjectNode o = config(lora.r(), lora.alpha(), lora.targetModules(), base, family, true);
        if (cls.taskType() == null) {
            o.putNull("task_type");
        } else {
            o.put("task_type", cls.taskType());
        }
        Lora.JsonValue t = lora.peftTargetModules(keys);
        if (t.regex() != null) {
            o.put("target_modules", t.regex());
        }
        int first = 2 * lora.targets().size();
        putModulesToSave(o, lora.tensors().subList(first, first + lora.saved().length), keys);
        return o;
    }

    /**
     * adapter_config.json's {@code modules_to_save}: the modules of the parameters an adapter trains in full beside
     * its own tensors (SEQ_CLS: the classifier), each named once as PEFT lists them; nothing when there are none.
     *
     * @param saved the saved parameters' specs (their model names, e.g. {@code classifier.weight})
     * @param keys  a module name to its name in the adapter's model class
     */
    static void putModulesToSave(ObjectNode o, List<ParamSpec> saved, Function<String, String> keys) {
        if (saved.isEmpty()) {
            return;
        }
        java.util.Set<String> names = new java.util.LinkedHashSet<>();
        for (ParamSpec s : saved) {
            names.add(keys.apply(s.name().substring(0, s.name().lastIndexOf('.'))));
        }
        ArrayNode a = o.putArray("modules_to_save");
        names.forEach(a::add);
    }

    /**
     * adapter_config.json of a LoRA adapter of rank r and scale α/r on {@code targetModules}; task_type CAUSAL_LM
     * for a decoder, none for an encoder (PEFT has no masked-LM task type).
     */
    static ObjectNode config(int r, double alpha, List<String> targetModules, String base, ModelFamily family,
            boolean causal) {
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "LORA");
        if (causal) {
            o.put("task_type", "CAUSAL_LM");
        } else {
            o.putNull("task_type");
        }
        o.put("base_model_name_or_path", base);
        o.put("r", r);
        o.put("lora_alpha", alpha);
        ArrayNode t = o.putArray("target_modules");
        targetModules.forEach(t::add);
        o.put("lora_dropout", 0.0);
        o.put("bias", "none");
        o.put("fan_in_fan_out", family == ModelFamily.GPT2);
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putNull("modules_to_save");
        return o;
    }
}
