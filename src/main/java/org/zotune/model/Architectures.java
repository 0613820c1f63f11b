package org.zotune.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.zotune.ZotuneException;
import org.zotune.model.io.TensorChecks;
import org.zotune.tensor.HostTensor;

/**
 * Looks architectures up in the registry ({@link ModelFamily}), builds models and arranges checkpoints through
 * them; nothing here knows a particular architecture.
 */
public final class Architectures {
    private Architectures() {
    }

    /** The registered architecture of a config's family. */
    public static Architecture of(ModelConfig config) {
        return config.family().architecture();
    }

    /** The language model for a config, whatever its kind. */
    public static LanguageModel createModel(ModelConfig config) {
        return of(config).create(config);
    }

    /** The causal LM for a config (what the trainer and the generator run today). */
    public static CausalLM create(ModelConfig config) {
        LanguageModel m = createModel(config);
        if (!(m instanceof CausalLM c)) {
            throw new IllegalArgumentException(config.family() + " is a " + m.kind()
                    + " language model; this needs a causal one");
        }
        return c;
    }

    /**
     * The checkpoint's tensors in {@code model.params()} order and zotune's layout (the architecture converts from
     * Hugging Face's: e.g. GPT-2's Conv1D weights transposed to [out, in], its c_attn bias viewed as [3, hidden]);
     * names are the params' names. A tensor is looked up under its name, or under a stored name that the
     * architecture maps to it (checkpoints saved from the bare model lack its prefix). A missing tensor or a wrong
     * shape is reported by {@link TensorChecks#require}. Tensors keep their dtype.
     */
    public static List<HostTensor> arrange(LanguageModel model, Checkpoint checkpoint) {
        Architecture arch = of(model.config());
        Map<String, String> stored = null;
        List<HostTensor> out = new ArrayList<>();
        Set<String> used = new HashSet<>();
        for (ParamSpec spec : model.params()) {
            String name = spec.name();
            if (!checkpoint.tensors().containsKey(name)) {
                if (stored == null) {
                    stored = storedNames(arch, checkpoint.tensors().keySet());
                }
                name = stored.getOrDefault(name, name); // missing: TensorChecks names it
            }
            long[] shape = spec.shape();
            HostTensor t = TensorChecks.require(checkpoint, name, arch.hfShape(spec.name(), shape));
            used.add(name);
            out.add(arch.fromHf(spec.name(), shape, t));
        }
        used.addAll(arch.taskHeadTensors()); // not the model's: a task's objective reads them (SequenceClassifier)
        requireAccountedFor(checkpoint, used);
        return out;
    }

    /**
     * Refuses a checkpoint with tensors the config does not account for (e.g. n_layer smaller than the checkpoint's
     * layers), which would otherwise load and silently drop them. Tolerated: buffers Hugging Face saves that are not
     * weights (attention masks, rotary frequencies) and an LM head that the model ties to its embedding.
     */
    static void requireAccountedFor(Checkpoint checkpoint, Set<String> used) {
        List<String> extra = new ArrayList<>();
        for (String n : checkpoint.tensors().keySet()) {
            if (!used.contains(n) && !IGNORABLE.matcher(n).matches()) {
                extra.add(n);
            }
        }
        if (!extra.isEmpty()) {
            extra.sort(null);
            throw new ZotuneException(checkpoint.source() + ": " + extra.size() + " tensor(s) that the config does not "
                    + "account for, first " + extra.get(0) + " (does config.json match the weights, e.g. n_layer?)");
        }
    }

    /** Stored tensors that are not weights of the model, or a copy of one (the tied LM head). */
    private static final Pattern IGNORABLE = Pattern.compile(
            "(.*\\.)?(attn\\.bias|attn\\.masked_bias|rotary_emb\\.inv_freq|embed_positions\\._float_tensor)"
            + "|(.*\\.)?lm_head\\.weight");

    /** Canonical name → the stored name that maps to it, for stored names that differ from their canonical one. */
    private static Map<String, String> storedNames(Architecture arch, Set<String> names) {
        Map<String, String> out = new HashMap<>();
        for (String n : names) {
            String canonical = arch.canonicalName(n);
            if (!canonical.equals(n)) {
                out.putIfAbsent(canonical, n);
            }
        }
        return out;
    }

    // ---- helpers shared by the architectures ----

    public static void requireHeads(ModelConfig c) {
        if (c.numHeads() <= 0 || c.numKvHeads() <= 0 || c.numHeads() % c.numKvHeads() != 0 || c.headDim() <= 0) {
            throw new IllegalArgumentException("bad attention heads: num_heads " + c.numHeads() + ", num_kv_heads "
                    + c.numKvHeads() + ", head_dim " + c.headDim());
        }
    }

    /** GPT-2 and OPT apply their activation in place; Ops has GELU (tanh) and ReLU in place. */
    public static void requireInPlaceActivation(ModelConfig c) {
        if (c.activation() != ModelConfig.Activation.GELU_TANH && c.activation() != ModelConfig.Activation.RELU) {
            throw new IllegalArgumentException(c.family() + " supports gelu_new or relu FFNs, not " + c.activation());
        }
    }

    /**
     * Token ids must index the vocabulary; with learned positions, every position must have an embedding.
     */
    public static void checkBatch(ModelConfig c, Batch batch, boolean arangePositions) {
        checkBatch(c, batch, arangePositions, 0);
    }

    /** {@link #checkBatch(ModelConfig, Batch, boolean)} for tokens that follow {@code start} cached ones. */
    public static void checkBatch(ModelConfig c, Batch batch, boolean arangePositions, int start) {
        int[] starts = new int[batch.batch()];
        Arrays.fill(starts, start);
        checkBatch(c, batch, arangePositions, starts);
    }

    /** Per-sequence starts: one per sequence, none negative. */
    public static void checkStarts(Batch batch, int[] starts) {
        if (starts.length != batch.batch()) {
            throw new IllegalArgumentException(starts.length + " starts for a batch of " + batch.batch());
        }
        for (int s : starts) {
            if (s < 0) {
                throw new IllegalArgumentException("a start is " + s + ", below 0");
            }
        }
    }

    /** {@link #checkBatch(ModelConfig, Batch, boolean)} for sequence b following {@code starts[b]} cached tokens. */
    public static void checkBatch(ModelConfig c, Batch batch, boolean arangePositions, int[] starts) {
        checkStarts(batch, starts);
        int[] ids = batch.ids();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= c.vocabSize()) {
                throw new ZotuneException("token id " + ids[i] + " (sequence " + i / batch.seq() + ", position "
                        + i % batch.seq() + ") is out of range for vocabulary size " + c.vocabSize());
            }
        }
        if (c.ropeTheta() > 0) {
            return; // rotary positions have no table to run past
        }
        int needed = 0;
        int[] cumsum = arangePositions ? null : batch.maskedCumsumPositions();
        for (int b = 0; b < batch.batch(); b++) {
            if (arangePositions) {
                needed = Math.max(needed, starts[b] + batch.seq());
            } else {
                needed = Math.max(needed, starts[b]);
                for (int t = 0; t < batch.seq(); t++) {
                    needed = Math.max(needed, starts[b] + cumsum[b * batch.seq() + t] + 1);
                }
            }
        }
        if (needed > c.maxPositions()) {
            throw new ZotuneException("sequence of " + needed + " positions exceeds the model's "
                    + c.maxPositions() + " position embeddings");
        }
    }
}
