package org.zotune.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.gpt2.Gpt2;
import org.zotune.model.io.TensorChecks;
import org.zotune.model.llama.Llama;
import org.zotune.model.opt.Opt;
import org.zotune.tensor.HostTensor;

/** Builds the architecture for a config and arranges a checkpoint's tensors in its parameter order. */
public final class Architectures {
    /** Base-model prefixes that checkpoints saved from the bare model (e.g. HF's gpt2, facebook/opt-*) lack. */
    private static final String[] BASE_PREFIXES = {"transformer.", "model."};

    private Architectures() {
    }

    public static CausalLM create(ModelConfig config) {
        switch (config.family()) {
            case GPT2: return new Gpt2(config);
            case OPT: return new Opt(config);
            case LLAMA: return new Llama(config);
            default: throw new AssertionError(config.family());
        }
    }

    /**
     * The checkpoint's tensors in {@code model.params()} order and zotune's layout (GPT-2's Conv1D weights
     * transposed to [out, in], its c_attn bias viewed as [3, hidden]); names are the params' names. A missing
     * tensor or a wrong shape is reported by {@link TensorChecks#require}. Tensors keep their dtype.
     */
    public static List<HostTensor> arrange(CausalLM model, Checkpoint checkpoint) {
        boolean gpt2 = model.config().family() == ModelFamily.GPT2;
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec spec : model.params()) {
            String name = resolve(checkpoint.tensors(), spec.name());
            long[] shape = spec.shape();
            HostTensor t;
            if (gpt2 && isConv1dWeight(spec.name())) {
                t = transpose(TensorChecks.require(checkpoint, name, shape[1], shape[0]));
            } else if (gpt2 && spec.name().endsWith("attn.c_attn.bias")) {
                t = TensorChecks.require(checkpoint, name, shape[0] * shape[1]);
            } else {
                t = TensorChecks.require(checkpoint, name, shape);
            }
            out.add(new HostTensor(spec.name(), t.dtype(), shape, t.bytes()));
        }
        return out;
    }

    private static String resolve(Map<String, HostTensor> tensors, String name) {
        if (tensors.containsKey(name)) {
            return name;
        }
        for (String prefix : BASE_PREFIXES) {
            if (name.startsWith(prefix) && tensors.containsKey(name.substring(prefix.length()))) {
                return name.substring(prefix.length());
            }
        }
        return name; // missing: TensorChecks names it
    }

    private static boolean isConv1dWeight(String name) {
        return name.endsWith(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.")
                || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."));
    }

    /** [rows, cols] → [cols, rows], element by element in the tensor's own dtype. */
    static HostTensor transpose(HostTensor t) {
        int rows = (int) t.dim(0);
        int cols = (int) t.dim(1);
        int n = rows * cols;
        ByteBuffer dst = ByteBuffer.allocate(n * t.dtype().bytes()).order(ByteOrder.LITTLE_ENDIAN);
        if (t.dtype().bytes() == 4) {
            int[] src = new int[n];
            t.bytes().asIntBuffer().get(src);
            int[] out = new int[n];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
            dst.asIntBuffer().put(out);
        } else {
            short[] src = new short[n];
            t.bytes().asShortBuffer().get(src);
            short[] out = new short[n];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
            dst.asShortBuffer().put(out);
        }
        return new HostTensor(t.name(), t.dtype(), new long[] {cols, rows}, dst);
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

    /** The weight at {@code index}, or null for an absent optional parameter (index -1, see ParamList.addIf). */
    public static Tensor optionalWeight(WeightSource w, int index) {
        return index < 0 ? null : w.weight(index);
    }

    public static void activateInPlace(Ops ops, Tensor x, ModelConfig.Activation activation) {
        switch (activation) {
            case GELU_TANH: ops.geluTanhInPlace(x); break;
            case RELU: ops.reluInPlace(x); break;
            default: throw new IllegalArgumentException("no in-place " + activation);
        }
    }

    /**
     * Token ids must index the vocabulary; with learned positions, every position must have an embedding.
     */
    public static void checkBatch(ModelConfig c, Batch batch, boolean arangePositions) {
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
        if (arangePositions) {
            needed = batch.seq();
        } else {
            for (int p : batch.maskedCumsumPositions()) {
                needed = Math.max(needed, p + 1);
            }
        }
        if (needed > c.maxPositions()) {
            throw new ZotuneException("sequence of " + needed + " positions exceeds the model's "
                    + c.maxPositions() + " position embeddings");
        }
    }
}
