package org.zotune.train.config;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Positive;

/**
 * Which weights train (key peft, ALGORITHMS.md §9).
 *
 * @param method  full (every weight, the default), lora (W' = W + (alpha/r)·B·A on the targets) or prefix
 *                (trainable keys and values prepended to every attention layer's, CPU engine)
 * @param r       lora: the rank
 * @param alpha   lora: the scale numerator (the update is scaled by alpha / r)
 * @param targets lora: the adapted modules, short names (q, k, v, o, up, down, gate, fc1, fc2) or Hugging Face
 *                module names (default q and v, as MeZO); checked against the model's architecture
 * @param tokens  prefix: trainable key/value vectors per attention layer (p; p + max_length must fit the model's
 *                positions)
 * @param merge   lora: also write the merged full weights W + (alpha/r)·B·A to model/ (and best/)
 */
public record Peft(
        @Default("full") @Choice(Method.class) String method,
        @Default("8") @AtLeast(1) Integer r,
        @Default("16") @Positive Double alpha,
        List<String> targets,
        @Default("5") @AtLeast(1) Integer tokens,
        @Default("false") Boolean merge) {

    /** The parameter-efficient methods (key peft.method). */
    public enum Method { FULL, LORA, PREFIX }

    public Peft {
        if (targets != null && targets.stream().anyMatch(java.util.Objects::isNull)) {
            throw new ZotuneException("key 'peft.targets' holds an empty entry: name a module (e.g. [q, v])");
        }
        targets = targets == null ? List.of("q", "v") : List.copyOf(targets);
        if (targets.isEmpty()) {
            throw new ZotuneException("key 'peft.targets' is empty: name at least one module (e.g. [q, v])");
        }
        if ("lora".equals(method) && alpha != null && r != null && r > 0) {
            org.zotune.peft.Lora.requireScale("key 'peft.alpha'", alpha, r);
        }
        if (merge != null && merge && !method.equals("lora")) {
            throw new ZotuneException("key 'peft.merge' merges LoRA adapters into the weights: it needs "
                    + "peft.method lora (full fine-tuning writes full weights anyway; a prefix has no weights "
                    + "to merge into)");
        }
    }

    public Method methodKind() {
        return RecordBinder.choice(Method.class, method);
    }
}
