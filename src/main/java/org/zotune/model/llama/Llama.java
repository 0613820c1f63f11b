package org.zotune.model.llama;

import java.util.ArrayList;
import java.util.List;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CachingDecoder;
import org.zotune.model.LayerSplit;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamList;
import org.zotune.model.ParamSpec;
import org.zotune.model.ParamSpec.Role;
import org.zotune.model.blocks.FeedForward;
import org.zotune.model.blocks.Layer;
import org.zotune.model.blocks.Linear;
import org.zotune.model.blocks.Norm;
import org.zotune.model.blocks.SelfAttention;

/**
 * Llama ({@code LlamaForCausalLM}), as HF's modeling_llama: token embedding, pre-RMSNorm blocks, attention
 * with grouped-query heads and rotary position embeddings (rotate-half pairs, rope_theta, optional Llama-3
 * rope_scaling: applied inside {@link Ops#attention}), SwiGLU FFN (down(silu(gate(x))·up(x))), final RMSNorm,
 * tied or separate head, optional biases (attention_bias on q/k/v/o, mlp_bias on gate/up/down).
 * Positions are 0..seq-1 in every row (HF's default when position_ids are not passed).
 */
public final class Llama extends CachingDecoder implements LayerSplit {
    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int embed;
    private final List<Layer> layers;
    private final Norm norm;
    private final int head;

    public Llama(ModelConfig config) {
        if (config.family() != ModelFamily.LLAMA) {
            throw new IllegalArgumentException("not a Llama config: " + config.family());
        }
        Architectures.requireHeads(config);
        if (config.activation() != ModelConfig.Activation.SILU) {
            throw new IllegalArgumentException("Llama's gated FFN supports silu only, not " + config.activation());
        }
        if (config.headDim() % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head_dim, got " + config.headDim());
        }
        if (config.ropeTheta() <= 0) {
            throw new IllegalArgumentException("Llama needs rope_theta > 0, got " + config.ropeTheta());
        }
        this.config = config;
        long h = config.hiddenSize();
        long qd = config.qDim();
        long kvd = config.kvDim();
        long ffn = config.intermediateSize();
        boolean ab = config.attentionBias();
        boolean mb = config.mlpBias();
        ParamList p = new ParamList();
        embed = p.add("model.embed_tokens.weight", Role.EMBEDDING, config.vocabSize(), h);
        List<Layer> ls = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) {
            String pre = "model.layers." + l + ".";
            Norm attnNorm = Norm.rmsNorm(p, pre + "input_layernorm", h);
            Linear q = Linear.add(p, pre + "self_attn.q_proj", ab, qd, h);
            Linear k = Linear.add(p, pre + "self_attn.k_proj", ab, kvd, h);
            Linear v = Linear.add(p, pre + "self_attn.v_proj", ab, kvd, h);
            Linear o = Linear.add(p, pre + "self_attn.o_proj", ab, h, qd);
            Norm ffnNorm = Norm.rmsNorm(p, pre + "post_attention_layernorm", h);
            Linear gate = Linear.add(p, pre + "mlp.gate_proj", mb, ffn, h);
            Linear up = Linear.add(p, pre + "mlp.up_proj", mb, ffn, h);
            Linear down = Linear.add(p, pre + "mlp.down_proj", mb, h, ffn);
            ls.add(new Layer(attnNorm, new SelfAttention.Projected(q, k, v, o), ffnNorm,
                    new FeedForward.Gated(gate, up, down)));
        }
        layers = List.copyOf(ls);
        norm = Norm.rmsNorm(p, "model.norm", h);
        head = config.tieWordEmbeddings() ? embed : p.add("lm_head.weight", Role.MATRIX, config.vocabSize(), h);
        params = p.specs();
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public List<ParamSpec> params() {
        return params;
    }

    @Override
    public Tensor forward(Ops ops, WeightSource w, Batch batch, int[] starts) {
        Architectures.checkBatch(config, batch, false, starts);
        float eps = (float) config.normEps();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numKvHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), config.ropeTheta(),
                config.ropeScaling(), kind().causalAttention());
        IntTensor mask = ops.ints(batch.mask());
        int[] pos = batch.arangePositions();
        for (int i = 0; i < pos.length; i++) {
            pos[i] += starts[i / batch.seq()]; // after its sequence's cached tokens
        }
        IntTensor positions = ops.ints(pos);
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(embed));
        Tensor out = Layer.preNorm(ops, w, x, layers, norm, eps, mask, positions, spec);
        return ops.linear(out, w.weight(head), null);
    }

    @Override
    public Tensor layerInput(Ops ops, WeightSource w, Batch batch, int layer) {
        Architectures.checkBatch(config, batch, false);
        LayerSplit.checkLayer(config, layer);
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positions = ops.ints(batch.arangePositions());
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(embed));
        return Layer.preNorm(ops, w, x, layers, 0, layer, norm, (float) config.normEps(), mask, positions,
                spec(batch));
    }

    @Override
    public Tensor hiddenFrom(Ops ops, WeightSource w, Batch batch, int layer, Tensor x) {
        Architectures.checkBatch(config, batch, false);
        LayerSplit.checkLayer(config, layer);
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positions = ops.ints(batch.arangePositions());
        return Layer.preNorm(ops, w, x, layers, layer, layers.size(), norm, (float) config.normEps(), mask,
                positions, spec(batch));
    }

    @Override
    public Tensor head(Ops ops, WeightSource w, Tensor hidden) {
        return ops.linear(hidden, w.weight(head), null);
    }

    private AttentionSpec spec(Batch batch) {
        return new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numKvHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), config.ropeTheta(),
                config.ropeScaling(), kind().causalAttention());
    }
}
