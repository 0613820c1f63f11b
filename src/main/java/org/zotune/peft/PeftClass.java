package org.zotune.peft;

import java.util.Collection;
import java.util.function.Function;
import org.zotune.ZotuneException;
import org.zotune.model.Architecture;

/**
 * The Hugging Face model class a PEFT LoRA adapter is made on. It fixes the module names PEFT writes (after
 * {@link Lora#PEFT_PREFIX}) and the adapter's task_type: an encoder's bare model names its layers
 * {@code encoder.layer.0...}, its task classes {@code bert.encoder.layer.0...} (RoBERTa: {@code roberta.}).
 */
public enum PeftClass {
    /** A decoder's ...ForCausalLM (every decoder objective): zotune's names, task_type CAUSAL_LM. */
    CAUSAL_LM("CAUSAL_LM"),
    /** BertForMaskedLM / RobertaForMaskedLM (objective mlm): no task_type (PEFT has no masked-LM one). */
    MASKED_LM(null),
    /** The bare BertModel / RobertaModel (objective similarity: sentence embeddings): task_type FEATURE_EXTRACTION. */
    FEATURE_EXTRACTION("FEATURE_EXTRACTION"),
    /** BertForSequenceClassification / RobertaForSequenceClassification (objective head): task_type SEQ_CLS. */
    SEQ_CLS("SEQ_CLS");

    private final String taskType;

    PeftClass(String taskType) {
        this.taskType = taskType;
    }

    /** adapter_config.json's task_type, or null. */
    public String taskType() {
        return taskType;
    }

    /**
     * A model parameter's module name (zotune's, e.g. {@code bert.encoder.layer.0.attention.self.query}) to its
     * name in this class of {@code architecture}'s model, or null when the class has no such module (the bare
     * model has no MLM head).
     */
    public Function<String, String> keys(Architecture architecture) {
        String body = architecture.bodyPrefix();
        if (this != FEATURE_EXTRACTION || body.isEmpty()) {
            return Function.identity();
        }
        return m -> m.startsWith(body) ? m.substring(body.length()) : null;
    }

    /**
     * The class an adapter for a model of {@code architecture} ({@code modelType} in messages) was made on, from its
     * task_type (null when absent) and its tensor names ({@link Lora#PEFT_PREFIX} stripped or not): an encoder's bare
     * names mean its bare model, names under its body prefix one of its task classes. One line when the names mix
     * both forms, name another model's body, or disagree with the task_type. Decoders: {@link #CAUSAL_LM}.
     */
    public static PeftClass detect(Architecture architecture, String modelType, String taskType,
            Collection<String> tensorNames) {
        String body = architecture.bodyPrefix();
        if (body.isEmpty()) {
            return CAUSAL_LM;
        }
        String prefixed = null;
        String bare = null;
        for (String n : tensorNames) {
            String m = n.startsWith(Lora.PEFT_PREFIX) ? n.substring(Lora.PEFT_PREFIX.length()) : n;
            if (m.startsWith(body)) {
                prefixed = prefixed == null ? n : prefixed;
            } else if (m.startsWith("encoder.") || m.startsWith("embeddings.") || m.startsWith("pooler.")) {
                bare = bare == null ? n : bare;
            } else {
                throw new ZotuneException("tensor " + n + " is not named as a " + modelType + " encoder's modules are ("
                        + Lora.PEFT_PREFIX + body + "encoder... or " + Lora.PEFT_PREFIX + "encoder...): an adapter "
                        + "made on another model");
            }
        }
        if (prefixed != null && bare != null) {
            throw new ZotuneException("the tensors mix two model classes' names: " + prefixed + " (a " + modelType
                    + " task class) and " + bare + " (the bare model)");
        }
        if (taskType == null) {
            return bare != null ? FEATURE_EXTRACTION : MASKED_LM;
        }
        switch (taskType) {
            case "FEATURE_EXTRACTION":
                if (prefixed != null) {
                    throw new ZotuneException("task_type FEATURE_EXTRACTION is the bare model's, but tensor "
                            + prefixed + " is named as in a task class (" + body + "...)");
                }
                return FEATURE_EXTRACTION;
            case "SEQ_CLS":
                if (bare != null) {
                    throw new ZotuneException("task_type SEQ_CLS is the sequence classifier's, but tensor " + bare
                            + " is named as in the bare model (without " + body + ")");
                }
                return SEQ_CLS;
            default:
                throw new ZotuneException("task_type " + taskType + " is not one zotune loads onto a " + modelType
                        + " encoder (none, FEATURE_EXTRACTION or SEQ_CLS)");
        }
    }
}
