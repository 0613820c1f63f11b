package org.zotune.model.gpt2;

import java.util.List;
import org.zotune.backend.AttentionSpec;
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
 * GPT-2 ({@code GPT2LMHeadModel}): token + learned position embeddings, pre-LayerNorm blocks, fused q/k/v
 * projection, GELU (tanh) MLP, final LayerNorm, head tied to the token embedding.
 *
 * <p>Layout: HF stores Conv1D weights as [in, out]; zotune keeps every matrix as [out, in], so
 * {@code c_attn.weight} is [3·hidden, hidden] with q, k, v as row blocks, and {@code c_attn.bias} is kept as
 * [3, hidden] (the same memory as HF's [3·hidden]); one product gives the packed q|k|v activation.
 * Positions are 0..seq-1 in every row whatever the padding: HF's GPT2Model uses arange positions whenever
 * position_ids are not passed, and the attention mask only hides padded keys.
 */
public final class Gpt2 implements CausalLM {
    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int wte;
    private final int wpe;
    private final int[] ln1W;
    private final int[] ln1B;
    private final int[] attnW;
    private final int[] attnB;
    private final int[] projW;
    private final int[] projB;
    private final int[] ln2W;
    private final int[] ln2B;
    private final int[] fcW;
    private final int[] fcB;
    private final int[] fcProjW;
    private final int[] fcProjB;
    private final int lnfW;
    private final int lnfB;
    private final int head;

    public Gpt2(ModelConfig config) {
        if (config.family() != ModelFamily.GPT2) {
            throw new IllegalArgumentException("not a GPT-2 config: " + config.family());
        }
        Architectures.requireHeads(config);
        if (config.numKvHeads() != config.numHeads() || config.headDim() * config.numHeads() != config.hiddenSize()) {
            throw new IllegalArgumentException("GPT-2 needs num_kv_heads = num_heads and head_dim = hidden / heads");
        }
        Architectures.requireInPlaceActivation(config);
        this.config = config;
        long h = config.hiddenSize();
        long inner = config.intermediateSize();
        int n = config.numLayers();
        ParamList p = new ParamList();
        wte = p.add("transformer.wte.weight", Role.EMBEDDING, config.vocabSize(), h);
        wpe = p.add("transformer.wpe.weight", Role.POSITION_EMBEDDING, config.maxPositions(), h);
        ln1W = new int[n];
        ln1B = new int[n];
        attnW = new int[n];
        attnB = new int[n];
        projW = new int[n];
        projB = new int[n];
        ln2W = new int[n];
        ln2B = new int[n];
        fcW = new int[n];
        fcB = new int[n];
        fcProjW = new int[n];
        fcProjB = new int[n];
        for (int l = 0; l < n; l++) {
            String pre = "transformer.h." + l + ".";
            ln1W[l] = p.add(pre + "ln_1.weight", Role.NORM_WEIGHT, h);
            ln1B[l] = p.add(pre + "ln_1.bias", Role.NORM_BIAS, h);
            attnW[l] = p.add(pre + "attn.c_attn.weight", Role.MATRIX, 3 * h, h);
            attnB[l] = p.add(pre + "attn.c_attn.bias", Role.BIAS, 3, h);
            projW[l] = p.add(pre + "attn.c_proj.weight", Role.MATRIX, h, h);
            projB[l] = p.add(pre + "attn.c_proj.bias", Role.BIAS, h);
            ln2W[l] = p.add(pre + "ln_2.weight", Role.NORM_WEIGHT, h);
            ln2B[l] = p.add(pre + "ln_2.bias", Role.NORM_BIAS, h);
            fcW[l] = p.add(pre + "mlp.c_fc.weight", Role.MATRIX, inner, h);
            fcB[l] = p.add(pre + "mlp.c_fc.bias", Role.BIAS, inner);
            fcProjW[l] = p.add(pre + "mlp.c_proj.weight", Role.MATRIX, h, inner);
            fcProjB[l] = p.add(pre + "mlp.c_proj.bias", Role.BIAS, h);
        }
        lnfW = p.add("transformer.ln_f.weight", Role.NORM_WEIGHT, h);
        lnfB = p.add("transformer.ln_f.bias", Role.NORM_BIAS, h);
        head = config.tieWordEmbeddings() ? wte : p.add("lm_head.weight", Role.MATRIX, config.vocabSize(), h);
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
        Architectures.checkBatch(config, batch, true);
        float eps = (float) config.normEps();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null);
        var mask = ops.ints(batch.mask());
        var positions = ops.ints(batch.arangePositions());
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(wte));
        ops.addInPlace(x, ops.embedding(positions, w.weight(wpe)));
        // each residual addition is fused with the norm that follows it (the next block's, or the final one); x and a
        // live outside the layers' scopes, so a pass holds one layer's activations at a time, not all of them
        Tensor a = ops.layerNorm(x, w.weight(ln1W[0]), w.weight(ln1B[0]), eps);
        for (int l = 0; l < config.numLayers(); l++) {
            try (Ops.Scope layer = ops.scope()) {
                // one GEMM for q, k and v ([3·hidden, hidden] weight); attention adds the [3, hidden] bias as it reads
                Tensor qkv = ops.linear(a, w.weight(attnW[l]), null);
                Tensor att = ops.attentionPacked(qkv, w.weight(attnB[l]), mask, positions, spec);
                Tensor m = ops.addLinearLayerNorm(x, att, w.weight(projW[l]), w.weight(projB[l]), w.weight(ln2W[l]),
                        w.weight(ln2B[l]), eps);
                Tensor f;
                if (config.activation() == ModelConfig.Activation.GELU_TANH) {
                    f = ops.linearGeluTanh(m, w.weight(fcW[l]), w.weight(fcB[l]));
                } else {
                    f = ops.linear(m, w.weight(fcW[l]), w.weight(fcB[l]));
                    Architectures.activateInPlace(ops, f, config.activation());
                }
                boolean last = l == config.numLayers() - 1;
                ops.addLinearLayerNorm(x, f, w.weight(fcProjW[l]), w.weight(fcProjB[l]),
                        w.weight(last ? lnfW : ln1W[l + 1]), w.weight(last ? lnfB : ln1B[l + 1]), eps, a);
            }
        }
        Tensor out = a;
        return ops.logits(out, w.weight(head));
    }
}
