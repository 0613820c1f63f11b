package org.zotune.model.llama;

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
 * Llama ({@code LlamaForCausalLM}), as HF's modeling_llama: token embedding, pre-RMSNorm blocks, attention
 * with grouped-query heads and rotary position embeddings (rotate-half pairs, rope_theta, optional Llama-3
 * rope_scaling: applied inside {@link Ops#attention}), SwiGLU FFN (down(silu(gate(x))·up(x))), final RMSNorm,
 * tied or separate head, optional biases (attention_bias on q/k/v/o, mlp_bias on gate/up/down).
 * Positions are 0..seq-1 in every row (HF's default when position_ids are not passed).
 */
public final class Llama implements CausalLM {
    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int embed;
    private final int[] attnNorm;
    private final int[] qW;
    private final int[] qB;
    private final int[] kW;
    private final int[] kB;
    private final int[] vW;
    private final int[] vB;
    private final int[] oW;
    private final int[] oB;
    private final int[] ffnNorm;
    private final int[] gateW;
    private final int[] gateB;
    private final int[] upW;
    private final int[] upB;
    private final int[] downW;
    private final int[] downB;
    private final int norm;
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
        int n = config.numLayers();
        ParamList p = new ParamList();
        embed = p.add("model.embed_tokens.weight", Role.EMBEDDING, config.vocabSize(), h);
        attnNorm = new int[n];
        qW = new int[n];
        qB = new int[n];
        kW = new int[n];
        kB = new int[n];
        vW = new int[n];
        vB = new int[n];
        oW = new int[n];
        oB = new int[n];
        ffnNorm = new int[n];
        gateW = new int[n];
        gateB = new int[n];
        upW = new int[n];
        upB = new int[n];
        downW = new int[n];
        downB = new int[n];
        for (int l = 0; l < n; l++) {
            String pre = "model.layers." + l + ".";
            attnNorm[l] = p.add(pre + "input_layernorm.weight", Role.NORM_WEIGHT, h);
            qW[l] = p.add(pre + "self_attn.q_proj.weight", Role.MATRIX, qd, h);
            qB[l] = p.addIf(ab, pre + "self_attn.q_proj.bias", Role.BIAS, qd);
            kW[l] = p.add(pre + "self_attn.k_proj.weight", Role.MATRIX, kvd, h);
            kB[l] = p.addIf(ab, pre + "self_attn.k_proj.bias", Role.BIAS, kvd);
            vW[l] = p.add(pre + "self_attn.v_proj.weight", Role.MATRIX, kvd, h);
            vB[l] = p.addIf(ab, pre + "self_attn.v_proj.bias", Role.BIAS, kvd);
            oW[l] = p.add(pre + "self_attn.o_proj.weight", Role.MATRIX, h, qd);
            oB[l] = p.addIf(ab, pre + "self_attn.o_proj.bias", Role.BIAS, h);
            ffnNorm[l] = p.add(pre + "post_attention_layernorm.weight", Role.NORM_WEIGHT, h);
            gateW[l] = p.add(pre + "mlp.gate_proj.weight", Role.MATRIX, ffn, h);
            gateB[l] = p.addIf(mb, pre + "mlp.gate_proj.bias", Role.BIAS, ffn);
            upW[l] = p.add(pre + "mlp.up_proj.weight", Role.MATRIX, ffn, h);
            upB[l] = p.addIf(mb, pre + "mlp.up_proj.bias", Role.BIAS, ffn);
            downW[l] = p.add(pre + "mlp.down_proj.weight", Role.MATRIX, h, ffn);
            downB[l] = p.addIf(mb, pre + "mlp.down_proj.bias", Role.BIAS, h);
        }
        norm = p.add("model.norm.weight", Role.NORM_WEIGHT, h);
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
    public Tensor forward(Ops ops, WeightSource w, Batch batch) {
        Architectures.checkBatch(config, batch, false);
        float eps = (float) config.normEps();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numKvHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), config.ropeTheta(),
                config.ropeScaling());
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positions = ops.ints(batch.arangePositions());
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(embed));
        // each residual addition is fused with the norm that follows it (the next block's, or the final one); x and a
        // live outside the layers' scopes, so a pass holds one layer's activations at a time, not all of them
        Tensor a = ops.rmsNorm(x, w.weight(attnNorm[0]), eps);
        for (int l = 0; l < config.numLayers(); l++) {
            try (Ops.Scope layer = ops.scope()) {
                Tensor q = ops.linear(a, w.weight(qW[l]), Architectures.optionalWeight(w, qB[l]));
                Tensor k = ops.linear(a, w.weight(kW[l]), Architectures.optionalWeight(w, kB[l]));
                Tensor v = ops.linear(a, w.weight(vW[l]), Architectures.optionalWeight(w, vB[l]));
                Tensor att = ops.attention(q, k, v, mask, positions, spec);
                Tensor m = ops.addLinearRmsNorm(x, att, w.weight(oW[l]), Architectures.optionalWeight(w, oB[l]),
                        w.weight(ffnNorm[l]), eps);
                Tensor gate = ops.linear(m, w.weight(gateW[l]), Architectures.optionalWeight(w, gateB[l]));
                Tensor up = ops.linear(m, w.weight(upW[l]), Architectures.optionalWeight(w, upB[l]));
                boolean last = l == config.numLayers() - 1;
                ops.addLinearRmsNorm(x, ops.siluMul(gate, up), w.weight(downW[l]),
                        Architectures.optionalWeight(w, downB[l]), w.weight(last ? norm : attnNorm[l + 1]), eps, a);
            }
        }
        Tensor out = a;
        return ops.linear(out, w.weight(head), null);
    }
}
