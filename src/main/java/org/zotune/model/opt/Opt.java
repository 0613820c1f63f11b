package org.zotune.model.opt;

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
 * OPT ({@code OPTForCausalLM}), as HF's modeling_opt: token embedding (width word_embed_proj_dim, projected
 * in to hidden when it differs), learned positions counted over real tokens only (cumsum(mask)·mask − 1,
 * looked up at +2: HF's OPTLearnedPositionalEmbedding offset), decoder layers with LayerNorm before
 * (do_layer_norm_before) or after each residual block, ReLU FFN, an optional final LayerNorm, projection
 * out, head tied to the token embedding. HF multiplies q by head_dim^-0.5 after q_proj and then attends
 * with scale 1; here the same factor is the attention's score scale.
 */
public final class Opt extends CachingDecoder implements LayerSplit {
    /** HF OPTLearnedPositionalEmbedding looks positions up at position + 2. */
    public static final int POSITION_OFFSET = 2;

    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int embed;
    private final int positions;
    private final int projectIn;
    private final List<Layer> layers;
    private final Norm finalNorm;
    private final int projectOut;
    private final int head;

    public Opt(ModelConfig config) {
        if (config.family() != ModelFamily.OPT) {
            throw new IllegalArgumentException("not an OPT config: " + config.family());
        }
        Architectures.requireHeads(config);
        if (config.numKvHeads() != config.numHeads() || config.headDim() * config.numHeads() != config.hiddenSize()) {
            throw new IllegalArgumentException("OPT needs num_kv_heads = num_heads and head_dim = hidden / heads");
        }
        Architectures.requireInPlaceActivation(config);
        this.config = config;
        long h = config.hiddenSize();
        long proj = config.wordEmbedProjDim();
        long ffn = config.intermediateSize();
        boolean projected = proj != h;
        boolean ab = config.attentionBias();
        boolean mb = config.mlpBias();
        String d = "model.decoder.";
        ParamList p = new ParamList();
        embed = p.add(d + "embed_tokens.weight", Role.EMBEDDING, config.vocabSize(), proj);
        positions = p.add(d + "embed_positions.weight", Role.POSITION_EMBEDDING,
                config.maxPositions() + POSITION_OFFSET, h);
        projectIn = p.addIf(projected, d + "project_in.weight", Role.MATRIX, h, proj);
        List<Layer> ls = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) {
            String pre = d + "layers." + l + ".";
            Norm attnLn = Norm.layerNorm(p, pre + "self_attn_layer_norm", h);
            Linear q = Linear.add(p, pre + "self_attn.q_proj", ab, h, h);
            Linear k = Linear.add(p, pre + "self_attn.k_proj", ab, h, h);
            Linear v = Linear.add(p, pre + "self_attn.v_proj", ab, h, h);
            Linear o = Linear.add(p, pre + "self_attn.out_proj", ab, h, h);
            Norm ffnLn = Norm.layerNorm(p, pre + "final_layer_norm", h);
            Linear fc1 = Linear.add(p, pre + "fc1", mb, ffn, h);
            Linear fc2 = Linear.add(p, pre + "fc2", mb, h, ffn);
            ls.add(new Layer(attnLn, new SelfAttention.Projected(q, k, v, o), ffnLn,
                    new FeedForward.Activated(fc1, fc2, config.activation(), ModelConfig.Activation.RELU)));
        }
        layers = List.copyOf(ls);
        finalNorm = config.finalNorm() ? Norm.layerNorm(p, d + "final_layer_norm", h) : null;
        projectOut = p.addIf(projected, d + "project_out.weight", Role.MATRIX, proj, h);
        head = config.tieWordEmbeddings() ? embed : p.add("lm_head.weight", Role.MATRIX, config.vocabSize(), proj);
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
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null,
                kind().causalAttention());
        IntTensor mask = ops.ints(batch.mask());
        int[] pos = batch.maskedCumsumPositions();
        for (int i = 0; i < pos.length; i++) {
            pos[i] = pos[i] < 0 ? pos[i] : pos[i] + starts[i / batch.seq()]; // padding stays at -1, as HF
        }
        int[] table = new int[pos.length];
        for (int i = 0; i < pos.length; i++) {
            table[i] = pos[i] + POSITION_OFFSET; // padding: -1 + 2 = 1, as HF
        }
        int[] clamped = new int[pos.length];
        for (int i = 0; i < pos.length; i++) {
            clamped[i] = Math.max(pos[i], 0);
        }
        IntTensor attnPositions = ops.ints(clamped); // unused without RoPE; passed for the interface
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(embed));
        if (projectIn >= 0) {
            x = ops.linear(x, w.weight(projectIn), null);
        }
        ops.addInPlace(x, ops.embedding(ops.ints(table), w.weight(positions)));
        if (config.normBefore()) {
            x = Layer.preNorm(ops, w, x, layers, finalNorm, eps, mask, attnPositions, spec);
        } else {
            x = Layer.postNorm(ops, w, x, layers, eps, mask, attnPositions, spec);
            if (finalNorm != null) {
                x = finalNorm.apply(ops, w, x, eps);
            }
        }
        if (projectOut >= 0) {
            x = ops.linear(x, w.weight(projectOut), null);
        }
        return ops.linear(x, w.weight(head), null);
    }

    @Override
    public Tensor layerInput(Ops ops, WeightSource w, Batch batch, int layer) {
        Architectures.checkBatch(config, batch, false);
        LayerSplit.checkLayer(config, layer);
        IntTensor mask = ops.ints(batch.mask());
        int[] pos = batch.maskedCumsumPositions();
        int[] table = new int[pos.length];
        int[] clamped = new int[pos.length];
        for (int i = 0; i < pos.length; i++) {
            table[i] = pos[i] + POSITION_OFFSET;
            clamped[i] = Math.max(pos[i], 0);
        }
        IntTensor attnPositions = ops.ints(clamped);
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(embed));
        if (projectIn >= 0) {
            x = ops.linear(x, w.weight(projectIn), null);
        }
        ops.addInPlace(x, ops.embedding(ops.ints(table), w.weight(positions)));
        float eps = (float) config.normEps();
        return config.normBefore() ? Layer.preNorm(ops, w, x, layers, 0, layer, finalNorm, eps, mask, attnPositions,
                spec(batch)) : Layer.postNorm(ops, w, x, layers, 0, layer, eps, mask, attnPositions, spec(batch));
    }

    @Override
    public Tensor hiddenFrom(Ops ops, WeightSource w, Batch batch, int layer, Tensor x) {
        Architectures.checkBatch(config, batch, false);
        LayerSplit.checkLayer(config, layer);
        IntTensor mask = ops.ints(batch.mask());
        int[] clamped = batch.maskedCumsumPositions();
        for (int i = 0; i < clamped.length; i++) {
            clamped[i] = Math.max(clamped[i], 0);
        }
        IntTensor attnPositions = ops.ints(clamped);
        float eps = (float) config.normEps();
        if (config.normBefore()) {
            x = Layer.preNorm(ops, w, x, layers, layer, layers.size(), finalNorm, eps, mask, attnPositions,
                    spec(batch));
        } else {
            x = Layer.postNorm(ops, w, x, layers, layer, layers.size(), eps, mask, attnPositions, spec(batch));
            if (finalNorm != null) {
                x = finalNorm.apply(ops, w, x, eps);
            }
        }
        return projectOut >= 0 ? ops.linear(x, w.weight(projectOut), null) : x;
    }

    @Override
    public Tensor head(Ops ops, WeightSource w, Tensor hidden) {
        return ops.linear(hidden, w.weight(head), null);
    }

    private AttentionSpec spec(Batch batch) {
        return new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(), config.headDim(),
                (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null, kind().causalAttention());
    }
}
