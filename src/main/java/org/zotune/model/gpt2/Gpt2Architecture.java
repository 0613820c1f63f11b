package org.zotune.model.gpt2;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import org.zotune.model.Architecture;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.ConfigJson;
import org.zotune.tensor.HostTensor;

/**
 * GPT-2 as Hugging Face stores it: GPT2Config, names under {@code transformer.}, and Conv1D weights stored
 * [in, out] (zotune keeps [out, in]) with the fused c_attn bias stored flat [3·hidden] (zotune views it as
 * [3, hidden]).
 */
public final class Gpt2Architecture implements Architecture {

    /** GPT2Config fields. */
    record Fields(
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

    /** How a parameter's HF layout differs from zotune's. */
    private enum Layout { SAME, CONV1D, FLAT_QKV_BIAS }

    @Override
    public String hfArchitecture() {
        return "GPT2LMHeadModel";
    }

    @Override
    public String hfModelType() {
        return "gpt2";
    }

    @Override
    public ModelConfig parseConfig(ConfigJson json) {
        Fields c = json.bind(Fields.class);
        int hidden = json.positive("n_embd", c.nEmbd());
        int heads = json.positive("n_head", c.nHead());
        json.divisible(hidden, "n_embd", heads, "n_head");
        if (Boolean.TRUE.equals(c.scaleAttnByInverseLayerIdx())) {
            throw json.error("scale_attn_by_inverse_layer_idx=true is not supported");
        }
        if (Boolean.FALSE.equals(c.scaleAttnWeights())) {
            throw json.error("scale_attn_weights=false is not supported");
        }
        if (Boolean.TRUE.equals(c.addCrossAttention())) {
            throw json.error("add_cross_attention=true is not supported (decoder-only)");
        }
        int inner = c.nInner() == null ? 4 * hidden : json.positive("n_inner", c.nInner());
        return new ModelConfig(ModelFamily.GPT2,
                json.positive("vocab_size", c.vocabSize()),
                hidden,
                json.positive("n_layer", c.nLayer()),
                heads, heads, hidden / heads, inner,
                json.positive("n_positions", c.nPositions()),
                json.eps("layer_norm_epsilon", c.layerNormEpsilon(), 1e-5),
                json.activation("activation_function", c.activationFunction(), "gelu_new"),
                ConfigJson.orDefault(c.tieWordEmbeddings(), true),
                true, true, hidden, 0.0, null, true, true,
                json.bosTokenId(50256),
                json.eosTokenId(50256),
                json.padTokenId(-1));
    }

    @Override
    public Gpt2 create(ModelConfig config) {
        return new Gpt2(config);
    }

    @Override
    public String canonicalName(String stored) {
        return stored.startsWith("lm_head.") || stored.startsWith("transformer.") ? stored : "transformer." + stored;
    }

    private static Layout layout(String name) {
        if (name.endsWith(".weight") && (name.contains(".attn.c_attn.") || name.contains(".attn.c_proj.")
                || name.contains(".mlp.c_fc.") || name.contains(".mlp.c_proj."))) {
            return Layout.CONV1D;
        }
        return name.endsWith("attn.c_attn.bias") ? Layout.FLAT_QKV_BIAS : Layout.SAME;
    }

    @Override
    public long[] hfShape(String name, long[] shape) {
        switch (layout(name)) {
            case CONV1D: return new long[] {shape[1], shape[0]};
            case FLAT_QKV_BIAS: return new long[] {shape[0] * shape[1]};
            default: return shape.clone();
        }
    }

    @Override
    public HostTensor fromHf(String name, long[] shape, HostTensor t) {
        HostTensor laid = layout(name) == Layout.CONV1D ? transpose(t) : t;
        return new HostTensor(name, laid.dtype(), shape, laid.bytes());
    }

    @Override
    public HostTensor toHf(HostTensor t) {
        return toHf(t, null);
    }

    @Override
    public HostTensor toHf(HostTensor t, ByteBuffer scratch) {
        switch (layout(t.name())) {
            case CONV1D: return transpose(t, scratch);
            case FLAT_QKV_BIAS: return new HostTensor(t.name(), t.dtype(), new long[] {t.numel()}, t.bytes());
            default: return t;
        }
    }

    @Override
    public boolean hfCopies(String name) {
        return layout(name) == Layout.CONV1D;
    }

    static HostTensor transpose(HostTensor t) {
        return transpose(t, null);
    }

    /**
     * [rows, cols] → [cols, rows], element by element in the tensor's own dtype (Conv1D ↔ nn.Linear), into
     * {@code into} (from its index 0; null or too small: a new buffer). Output rows are split over the common
     * fork-join pool: an export transposes most of GPT-2's weights (1.3 GB of bf16 at 1.5B parameters).
     */
    static HostTensor transpose(HostTensor t, ByteBuffer into) {
        int rows = (int) t.dim(0);
        int cols = (int) t.dim(1);
        int n = rows * cols;
        int bytes = n * t.dtype().bytes();
        ByteBuffer dst = into != null && into.capacity() >= bytes ? into.duplicate().clear().limit(bytes).slice()
                : ByteBuffer.allocate(bytes);
        dst.order(ByteOrder.LITTLE_ENDIAN);
        // bulk copies in and out of plain arrays, the transposition between them split over output rows
        int blocks = Math.max(1, Math.min(cols, n / (1 << 16)));
        int per = (cols + blocks - 1) / blocks;
        if (t.dtype().bytes() == 4) {
            int[] src = new int[n];
            t.bytes().asIntBuffer().get(src);
            int[] out = new int[n];
            java.util.stream.IntStream.range(0, blocks).parallel().forEach(b -> {
                for (int c = b * per, end = Math.min(cols, c + per); c < end; c++) {
                    for (int r = 0, o = c * rows; r < rows; r++) {
                        out[o + r] = src[r * cols + c];
                    }
                }
            });
            dst.asIntBuffer().put(out);
        } else {
            short[] src = new short[n];
            t.bytes().asShortBuffer().get(src);
            short[] out = new short[n];
            java.util.stream.IntStream.range(0, blocks).parallel().forEach(b -> {
                for (int c = b * per, end = Math.min(cols, c + per); c < end; c++) {
                    for (int r = 0, o = c * rows; r < rows; r++) {
                        out[o + r] = src[r * cols + c];
                    }
                }
            });
            dst.asShortBuffer().put(out);
        }
        return new HostTensor(t.name(), t.dtype(), new long[] {cols, rows}, dst);
    }

    /** q, k and v are row blocks of the fused c_attn: adapting any of them adapts c_attn (as PEFT does). */
    @Override
    public Map<String, String> adapterModules() {
        return Map.of("q", "attn.c_attn", "k", "attn.c_attn", "v", "attn.c_attn", "o", "attn.c_proj",
                "fc1", "mlp.c_fc", "up", "mlp.c_fc", "fc2", "mlp.c_proj", "down", "mlp.c_proj");
    }
}
