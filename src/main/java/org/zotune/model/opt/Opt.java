package org.zotune.model.opt;

import java.util.List;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamList;
import org.zotune.model.ParamSpec;
import org.zotune.model.ParamSpec.Role;

/**
 * OPT ({@code OPTForCausalLM}), as HF's modeling_opt: token embedding (width word_embed_proj_dim, projected
 * in to hidden when it differs), learned positions counted over real tokens only (cumsum(mask)·mask − 1,
 * looked up at +2: HF's OPTLearnedPositionalEmbedding offset), decoder layers with LayerNorm before
 * (do_layer_norm_before) or after each residual block, ReLU FFN, an optional final LayerNorm, projection
 * out, head tied to the token embedding. HF multiplies q by head_dim^-0.5 after q_proj and then attends
 * with scale 1; here the same factor is the attention's score scale.
 */
public final class Opt implements CausalLM {
    /** HF OPTLearnedPositionalEmbedding looks positions up at position + 2. */
    public static final int POSITION_OFFSET = 2;

    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int embed;
    private final int positions;
    private final int projectIn;
    private final int[] qW;
    private final int[] qB;
    private final int[] kW;
    private final int[] kB;
    private final int[] vW;
    private final int[] vB;
    private final int[] oW;
    private final int[] oB;
    private final int[] attnLnW;
    private final int[] attnLnB;
    private final int[] fc1W;
    private final int[] fc1B;
    private final int[] fc2W;
    private final int[] fc2B;
    private final int[] ffnLnW;
    private final int[] ffnLnB;
    private final int finalLnW;
    private final int finalLnB;
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
        int n = config.numLayers();
        String d = "model.decoder.";
        ParamList p = new ParamList();
        embed = p.add(d + "embed_tokens.weight", Role.EMBEDDING, config.vocabSize(), proj);
        positions = p.add(d + "embed_positions.weight", Role.POSITION_EMBEDDING,
                config.maxPositions() + POSITION_OFFSET, h);
        projectIn = p.addIf(projected, d + "project_in.weight", Role.MATRIX, h, proj);
        qW = new int[n];
        qB = new int[n];
        kW = new int[n];
        kB = new int[n];
        vW = new int[n];
        vB = new int[n];
        oW = new int[n];
        oB = new int[n];
        attnLnW = new int[n];
        attnLnB = new int[n];
        fc1W = new int[n];
        fc1B = new int[n];
        fc2W = new int[n];
        fc2B = new int[n];
        ffnLnW = new int[n];
        ffnLnB = new int[n];
        for (int l = 0; l < n; l++) {
            String pre = d + "layers." + l + ".";
            attnLnW[l] = p.add(pre + "self_attn_layer_norm.weight", Role.NORM_WEIGHT, h);
            attnLnB[l] = p.add(pre + "self_attn_layer_norm.bias", Role.NORM_BIAS, h);
            qW[l] = p.add(pre + "self_attn.q_proj.weight", Role.MATRIX, h, h);
            qB[l] = p.addIf(ab, pre + "self_attn.q_proj.bias", Role.BIAS, h);
            kW[l] = p.add(pre + "self_attn.k_proj.weight", Role.MATRIX, h, h);
            kB[l] = p.addIf(ab, pre + "self_attn.k_proj.bias", Role.BIAS, h);
            vW[l] = p.add(pre + "self_attn.v_proj.weight", Role.MATRIX, h, h);
            vB[l] = p.addIf(ab, pre + "self_attn.v_proj.bias", Role.BIAS, h);
            oW[l] = p.add(pre + "self_attn.out_proj.weight", Role.MATRIX, h, h);
            oB[l] = p.addIf(ab, pre + "self_attn.out_proj.bias", Role.BIAS, h);
            ffnLnW[l] = p.add(pre + "final_layer_norm.weight", Role.NORM_WEIGHT, h);
            ffnLnB[l] = p.add(pre + "final_layer_norm.bias", Role.NORM_BIAS, h);
            fc1W[l] = p.add(pre + "fc1.weight", Role.MATRIX, ffn, h);
            fc1B[l] = p.addIf(mb, pre + "fc1.bias", Role.BIAS, ffn);
            fc2W[l] = p.add(pre + "fc2.weight", Role.MATRIX, h, ffn);
            fc2B[l] = p.addIf(mb, pre + "fc2.bias", Role.BIAS, h);
        }
        finalLnW = p.addIf(config.finalNorm(), d + "final_layer_norm.weight", Role.NORM_WEIGHT, h);
        finalLnB = p.addIf(config.finalNorm(), d + "final_layer_norm.bias", Role.NORM_BIAS, h);
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
    public Tensor forward(Ops ops, WeightSource w, Batch batch) {
        Architectures.checkBatch(config, batch, false);
        float eps = (float) config.normEps();
        boolean before = config.normBefore();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null);
        IntTensor mask = ops.ints(batch.mask());
        int[] pos = batch.maskedCumsumPositions();
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
        // pre-LN: each residual addition is fused with the norm that follows it (the next block's, or the final
        // one) written into a; post-LN: with the norm of its own sub-block, written over the residual stream x.
        // x and a live outside the layers' scopes, so a pass holds one layer's activations at a time.
        Tensor a = before ? ops.layerNorm(x, w.weight(attnLnW[0]), w.weight(attnLnB[0]), eps) : x;
        for (int l = 0; l < config.numLayers(); l++) {
            try (Ops.Scope layer = ops.scope()) {
                Tensor q = ops.linear(a, w.weight(qW[l]), Architectures.optionalWeight(w, qB[l]));
                Tensor k = ops.linear(a, w.weight(kW[l]), Architectures.optionalWeight(w, kB[l]));
                Tensor v = ops.linear(a, w.weight(vW[l]), Architectures.optionalWeight(w, vB[l]));
                Tensor att = ops.attention(q, k, v, mask, attnPositions, spec);
                Tensor m = ops.addLinearLayerNorm(x, att, w.weight(oW[l]), Architectures.optionalWeight(w, oB[l]),
                        w.weight(before ? ffnLnW[l] : attnLnW[l]), w.weight(before ? ffnLnB[l] : attnLnB[l]), eps,
                        before ? null : x);
                Tensor f;
                if (config.activation() == ModelConfig.Activation.RELU) {
                    f = ops.linearRelu(m, w.weight(fc1W[l]), Architectures.optionalWeight(w, fc1B[l]));
                } else {
                    f = ops.linear(m, w.weight(fc1W[l]), Architectures.optionalWeight(w, fc1B[l]));
                    Architectures.activateInPlace(ops, f, config.activation());
                }
                Tensor fc2Bias = Architectures.optionalWeight(w, fc2B[l]);
                if (!before) {
                    ops.addLinearLayerNorm(x, f, w.weight(fc2W[l]), fc2Bias, w.weight(ffnLnW[l]), w.weight(ffnLnB[l]),
                            eps, x);
                } else if (l + 1 < config.numLayers()) {
                    ops.addLinearLayerNorm(x, f, w.weight(fc2W[l]), fc2Bias, w.weight(attnLnW[l + 1]),
                            w.weight(attnLnB[l + 1]), eps, a);
                } else if (finalLnW >= 0) {
                    ops.addLinearLayerNorm(x, f, w.weight(fc2W[l]), fc2Bias, w.weight(finalLnW), w.weight(finalLnB),
                            eps, a);
                } else {
                    ops.addLinearInPlace(x, f, w.weight(fc2W[l]), fc2Bias);
                }
            }
        }
        if (before && finalLnW >= 0) {
            x = a;
        } else if (!before && finalLnW >= 0) {
            x = ops.layerNorm(x, w.weight(finalLnW), w.weight(finalLnB), eps);
        }
        if (projectOut >= 0) {
            x = ops.linear(x, w.weight(projectOut), null);
        }
        return ops.linear(x, w.weight(head), null);
    }
}
