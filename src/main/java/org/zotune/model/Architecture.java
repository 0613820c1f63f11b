package org.zotune.model;

import java.util.Map;
import org.zotune.model.io.ConfigJson;
import org.zotune.tensor.HostTensor;

/**
 * Everything zotune knows about one model architecture, as data: how to read its Hugging Face {@code config.json},
 * how to build the model, and how its parameters are named and laid out in Hugging Face checkpoints, in both
 * directions. One implementation per model package, registered by one constant in {@link ModelFamily}.
 */
public interface Architecture {

    /** The Hugging Face class named in config.json's "architectures" (e.g. GPT2LMHeadModel). */
    String hfArchitecture();

    /** The Hugging Face "model_type" (e.g. gpt2). */
    String hfModelType();

    /**
     * Maps config.json to a {@link ModelConfig} of this family; errors name the file and the field
     * ({@link ConfigJson} has the field helpers).
     */
    ModelConfig parseConfig(ConfigJson json);

    /**
     * The model for a config of this family.
     *
     * @throws IllegalArgumentException when the config describes a variant this architecture cannot run
     */
    LanguageModel create(ModelConfig config);

    /**
     * The name the LM-head class's checkpoint uses for a tensor stored as {@code stored} (checkpoints saved from the
     * bare model lack its prefix); other names are returned unchanged.
     */
    String canonicalName(String stored);

    /**
     * The config completed by what only the weights tell (their canonical names), e.g. whether a BERT checkpoint
     * carries the pooler; most architectures learn nothing from them.
     */
    default ModelConfig withWeights(ModelConfig config, java.util.Set<String> names) {
        return config;
    }

    /** The shape a Hugging Face checkpoint stores a parameter under, given zotune's shape. */
    default long[] hfShape(String name, long[] shape) {
        return shape.clone();
    }

    /** A tensor of {@link #hfShape} from Hugging Face's layout to zotune's (same dtype; a copy or a view). */
    default HostTensor fromHf(String name, long[] shape, HostTensor t) {
        return new HostTensor(name, t.dtype(), shape, t.bytes());
    }

    /**
     * Tensors of a task head that a checkpoint of this architecture may carry besides the model's own (a fine-tuned
     * sequence classifier's {@code classifier.weight}); loading the model leaves them to the objective that uses
     * them instead of refusing the checkpoint.
     */
    default java.util.Set<String> taskHeadTensors() {
        return java.util.Set.of();
    }

    /**
     * The name a Hugging Face checkpoint stores parameter {@code name} under (the inverse of {@link #canonicalName}
     * where that renames more than a prefix), given the names of every parameter written beside it.
     */
    default String hfName(String name, java.util.Set<String> names) {
        return name;
    }

    /** One parameter (named, in zotune's layout) to Hugging Face's layout. */
    default HostTensor toHf(HostTensor t) {
        return t;
    }

    /**
     * {@link #toHf(HostTensor)} into {@code scratch} where the layout needs a copy (from index 0; null or too small:
     * a new buffer): the result may be a view of {@code scratch}, valid until the next call that writes it.
     */
    default HostTensor toHf(HostTensor t, java.nio.ByteBuffer scratch) {
        return toHf(t);
    }

    /** Whether {@link #toHf(HostTensor, java.nio.ByteBuffer)} copies parameter {@code name} (needs the scratch). */
    default boolean hfCopies(String name) {
        return false;
    }

    /**
     * The modules LoRA may adapt (peft.targets): short name (q, k, v, o, up, down, gate, fc1, fc2) to the module's
     * Hugging Face name inside a layer (e.g. {@code self_attn.q_proj}); short names may share a module (GPT-2's fused
     * c_attn holds q, k and v). Empty: the architecture takes no adapters.
     */
    default Map<String, String> adapterModules() {
        return Map.of();
    }

    /**
     * The prefix of the bare model's names inside its task classes ({@code bert.}, {@code roberta.}: BertModel's
     * {@code encoder.layer.0...} is BertForMaskedLM's {@code bert.encoder.layer.0...}); empty when the names have one
     * form (the decoders).
     */
    default String bodyPrefix() {
        return "";
    }
}
