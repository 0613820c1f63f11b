package org.zotune.model.gpt2;

import java.util.ArrayList;
import java.util.List;
import org.zotune.backend.AttentionSpec;
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
 * GPT-2 ({@code GPT2LMHeadModel}): token + learned position embeddings, pre-LayerNorm blocks, fused q/k/v
 * projection, GELU (tanh) MLP, final LayerNorm, head tied to the token embedding.
 *
 * <p>Layout: HF stores Conv1D weights as [in, out]; zotune keeps every matrix as [out, in], so
 * {@code c_attn.weight} is [3·hidden, hidden] with q, k, v as row blocks, and {@code c_attn.bias} is kept as
 * [3, hidden] (the same memory as HF's [3·hidden]); one product gives the packed q|k|v activation
 * ({@link Gpt2Architecture} converts). Positions are 0..seq-1 in every row whatever the padding: HF's GPT2Model
 * uses arange positions whenever position_ids are not passed, and the attention mask only hides padded keys.
 */
public final class Gpt2 extends CachingDecoder implements LayerSplit {
    private final ModelConfig config;
    private final List<ParamSpec> params;
    private final int wte;
    private final int wpe;
    private final List<Layer> layers;
    private final Norm lnf;
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
        ParamList p = new ParamList();
        wte = p.add("transformer.wte.weight", Role.EMBEDDING, config.vocabSize(), h);
        wpe = p.add("transformer.wpe.weight", Role.POSITION_EMBEDDING, config.maxPositions(), h);
        List<Layer> ls = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) {
            String pre = "transformer.h." + l + ".";
            Norm ln1 = Norm.layerNorm(p, pre + "ln_1", h);
            int attnW = p.add(pre + "attn.c_attn.weight", Role.MATRIX, 3 * h, h);
            Linear qkv = new Linear(attnW, p.add(pre + "attn.c_attn.bias", Role.BIAS, 3, h));
            Linear proj = Linear.add(p, pre + "attn.c_proj", true, h, h);
            Norm ln2 = Norm.layerNorm(p, pre + "ln_2", h);
            Linear fc = Linear.add(p, pre + "mlp.c_fc", true, inner, h);
            Linear fcProj = Linear.add(p, pre + "mlp.c_proj", true, h, inner);
            ls.add(new Layer(ln1, new SelfAttention.Packed(qkv, proj), ln2,
                    new FeedForward.Activated(fc, fcProj, config.activation(), ModelConfig.Activation.GELU_TANH)));
        }
        layers = List.copyOf(ls);
        lnf = Norm.layerNorm(p, "transformer.ln_f", h);
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
    public Tensor forward(Ops ops, WeightSource w, Batch batch, int[] starts) {
        Architectures.checkBatch(config, batch, true, starts);
        float eps = (float) config.normEps();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null,
                kind().causalAttention());
        var mask = ops.ints(batch.mask());
        var positions = ops.ints(shifted(batch.arangePositions(), starts, batch.seq()));
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(wte));
        ops.addInPlace(x, ops.embedding(positions, w.weight(wpe)));
        Tensor out = Layer.preNorm(ops, w, x, layers, lnf, eps, mask, positions, spec);
        return ops.logits(out, w.weight(head));
    }

    @Override
    public Tensor layerInput(Ops ops, WeightSource w, Batch batch, int layer) {
        Architectures.checkBatch(config, batch, true);
        LayerSplit.checkLayer(config, layer);
        var mask = ops.ints(batch.mask());
        var positions = ops.ints(batch.arangePositions());
        Tensor x = ops.embedding(ops.ints(batch.ids()), w.weight(wte));
        ops.addInPlace(x, ops.embedding(positions, w.weight(wpe)));
        return Layer.preNorm(ops, w, x, layers, 0, layer, lnf, (float) config.normEps(), mask, positions, spec(batch));
    }

    @Override
    public Tensor hiddenFrom(Ops ops, WeightSource w, Batch batch, int layer, Tensor x) {
        Architectures.checkBatch(config, batch, true);
        LayerSplit.checkLayer(config, layer);
        var mask = ops.ints(batch.mask());
        var positions = ops.ints(batch.arangePositions());
        return Layer.preNorm(ops, w, x, layers, layer, layers.size(), lnf, (float) config.normEps(), mask, positions,
                spec(batch));
    }

    @Override
    public Tensor head(Ops ops, WeightSource w, Tensor hidden) {
        return ops.logits(hidden, w.weight(head));
    }

    private AttentionSpec spec(Batch batch) {
        return new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(), config.headDim(),
                (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null, kind().causalAttention());
    }

    /** Positions of sequence b (rows of {@code seq}) moved past its {@code starts[b]} cached tokens. */
    static int[] shifted(int[] positions, int[] starts, int seq) {
        for (int i = 0; i < positions.length; i++) {
            positions[i] += starts[i / seq];
        }
        return positions;
    }
}
