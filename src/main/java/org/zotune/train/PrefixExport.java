package org.zotune.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.peft.Prefix;
import org.zotune.tensor.HostTensor;

/**
 * Writes a prefix as a Hugging Face PEFT prefix-tuning adapter folder: {@code adapter_config.json} (peft_type
 * PREFIX_TUNING, num_virtual_tokens, num_layers, token_dim, num_attention_heads, prefix_projection false,
 * base_model_name_or_path) and {@code adapter_model.safetensors} holding one float32 tensor {@code prompt_embeddings}
 * [p, 2·L·Hkv·D] in PEFT's layout ({@link Prefix#toPeft}), its safetensors metadata as the caller gives it (a run
 * records the base weights' fingerprint, {@link PeftExport#BASE_WEIGHTS}, which {@link PrefixImport} checks). A
 * prefix trained with a sequence classifier's head ({@link Prefix#withSaved}) is a SEQ_CLS adapter: the head's
 * tensors beside {@code prompt_embeddings} under the names PEFT saves a prompt-learning model's modules_to_save with
 * ({@value #SAVED_PREFIX}{@code classifier.weight}, ...), modules_to_save naming their modules. Both files are
 * written atomically.
 */
public final class PrefixExport {
    public static final String CONFIG = PeftExport.CONFIG;
    public static final String WEIGHTS = PeftExport.WEIGHTS;
    /** What PEFT puts before a prompt-learning model's module names (its base_model is the model itself). */
    public static final String SAVED_PREFIX = "base_model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PrefixExport() {
    }

    /**
     * @param base    the base model as the run named it (base_model_name_or_path)
     * @param trained the trained tensors in {@link Prefix#tensors()}'s order
     */
    public static void write(Path dir, Prefix prefix, String base, ModelConfig model, List<HostTensor> trained,
            Map<String, String> metadata) {
        write(dir, prefix, base, model, trained, metadata, java.util.function.UnaryOperator.identity());
    }

    /**
     * {@link #write(Path, Prefix, String, ModelConfig, List, Map)} with the tensors renamed or joined by
     * {@code named} before they are written (a head run's classifier as its Hugging Face class holds it,
     * {@link AdapterClassifier#withHfHead}).
     */
    public static void write(Path dir, Prefix prefix, String base, ModelConfig model, List<HostTensor> trained,
            Map<String, String> metadata, java.util.function.UnaryOperator<List<HostTensor>> named) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new ZotuneException(dir + ": cannot create the adapter folder: " + e.getMessage(), e);
        }
        List<HostTensor> out = new java.util.ArrayList<>();
        out.add(prefix.toPeft(trained));
        for (int i = prefix.prefixTensors(); i < trained.size(); i++) { // the saved parameters (float32, as trained)
            HostTensor t = trained.get(i);
            out.add(HostTensor.ofFloats(SAVED_PREFIX + prefix.tensors().get(i).name(), t.toFloats(), t.shape()));
        }
        SafetensorsWriter.write(dir.resolve(WEIGHTS), named.apply(out), metadata);
        AtomicFiles.writeString(dir.resolve(CONFIG), config(prefix, base, model).toPrettyString() + "\n");
    }

    static ObjectNode config(Prefix prefix, String base, ModelConfig model) {
        boolean encoder = model.family() == ModelFamily.BERT || model.family() == ModelFamily.ROBERTA;
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "PREFIX_TUNING");
        if (prefix.saved().length > 0) {
            o.put("task_type", "SEQ_CLS");
        } else if (encoder) {
            o.putNull("task_type");
        } else {
            o.put("task_type", "CAUSAL_LM");
        }
        o.put("base_model_name_or_path", base);
        o.put("num_virtual_tokens", prefix.tokens());
        o.put("num_layers", prefix.layers());
        o.put("token_dim", prefix.width());
        o.put("num_attention_heads", prefix.kvHeads());
        o.put("num_transformer_submodules", 1);
        o.put("encoder_hidden_size", model.hiddenSize());
        o.put("prefix_projection", false);
        o.put("inference_mode", true);
        PeftExport.putModulesToSave(o, prefix.tensors().subList(prefix.prefixTensors(), prefix.tensors().size()),
                java.util.function.Function.identity());
        return o;
    }
}
