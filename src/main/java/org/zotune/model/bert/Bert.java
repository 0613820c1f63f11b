package org.zotune.model.bert;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
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
 * BERT ({@code BertModel}, {@code BertForMaskedLM}) and RoBERTa ({@code RobertaModel}, {@code RobertaForMaskedLM}),
 * which differ only in their names and their position rule: word + position + token-type embeddings and a
 * LayerNorm, post-LayerNorm blocks with separate q/k/v projections and an erf-GELU MLP, bidirectional attention with
 * the padding mask; the MLM head is dense → GELU → LayerNorm → the word embedding (tied) plus a bias. BERT's positions
 * are 0..seq-1; RoBERTa's count real tokens from padding_idx + 1 (HF's create_position_ids_from_input_ids, with
 * the attention mask marking the real tokens), pads taking padding_idx. The pooler (dense + tanh on the first
 * token) is there when the checkpoint has it (all-MiniLM-L6-v2 ships without it).
 */
public final class Bert implements EncoderModel, LayerSplit {
    private final ModelConfig config;
    private final ModelConfig.Encoder enc;
    private final List<ParamSpec> params;
    private final int words;
    private final int positions;
    private final int types;
    private final Norm embedNorm;
    private final List<Layer> layers;
    private final Linear pooler;
    private final Linear transform;
    private final Norm transformNorm;
    private final int decoderBias;

    public Bert(ModelConfig config) {
        if (config.family() != ModelFamily.BERT && config.family() != ModelFamily.ROBERTA) {
            throw new IllegalArgumentException("not a BERT or RoBERTa config: " + config.family());
        }
        if (config.encoder() == null) {
            throw new IllegalArgumentException(config.family() + " needs the encoder part of its config");
        }
        Architectures.requireHeads(config);
        if (config.numKvHeads() != config.numHeads() || config.headDim() * config.numHeads() != config.hiddenSize()) {
            throw new IllegalArgumentException(config.family() + " needs num_kv_heads = num_heads and head_dim = "
                    + "hidden / heads");
        }
        if (config.activation() == ModelConfig.Activation.SILU) {
            throw new IllegalArgumentException(config.family() + " supports gelu, gelu_new or relu, not silu");
        }
        this.config = config;
        this.enc = config.encoder();
        boolean roberta = config.family() == ModelFamily.ROBERTA;
        String body = roberta ? "roberta." : "bert.";
        long h = config.hiddenSize();
        long inner = config.intermediateSize();
        ParamList p = new ParamList();
        words = p.add(body + "embeddings.word_embeddings.weight", Role.EMBEDDING, config.vocabSize(), h);
        positions = p.add(body + "embeddings.position_embeddings.weight", Role.POSITION_EMBEDDING,
                config.maxPositions(), h);
        types = p.add(body + "embeddings.token_type_embeddings.weight", Role.EMBEDDING, enc.typeVocabSize(), h);
        embedNorm = Norm.layerNorm(p, body + "embeddings.LayerNorm", h);
        List<Layer> ls = new ArrayList<>();
        for (int l = 0; l < config.numLayers(); l++) {
            String pre = body + "encoder.layer." + l + ".";
            Linear q = Linear.add(p, pre + "attention.self.query", true, h, h);
            Linear k = Linear.add(p, pre + "attention.self.key", true, h, h);
            Linear v = Linear.add(p, pre + "attention.self.value", true, h, h);
            Linear o = Linear.add(p, pre + "attention.output.dense", true, h, h);
            Norm attnNorm = Norm.layerNorm(p, pre + "attention.output.LayerNorm", h);
            Linear up = Linear.add(p, pre + "intermediate.dense", true, inner, h);
            Linear down = Linear.add(p, pre + "output.dense", true, h, inner);
            Norm outNorm = Norm.layerNorm(p, pre + "output.LayerNorm", h);
            ls.add(new Layer(attnNorm, new SelfAttention.Projected(q, k, v, o, true), outNorm,
                    // erf GELU as one bias + activation pass (it rounds as the unfused ops do: the same bits)
                    new FeedForward.Activated(up, down, config.activation(),
                            config.activation() == ModelConfig.Activation.GELU ? ModelConfig.Activation.GELU : null)));
        }
        layers = List.copyOf(ls);
        pooler = enc.pooler() ? Linear.add(p, body + "pooler.dense", true, h, h) : null;
        if (enc.mlmHead()) {
            String head = roberta ? "lm_head." : "cls.predictions.";
            transform = Linear.add(p, head + (roberta ? "dense" : "transform.dense"), true, h, h);
            transformNorm = Norm.layerNorm(p, head + (roberta ? "layer_norm" : "transform.LayerNorm"), h);
            decoderBias = p.add(head + "bias", Role.BIAS, config.vocabSize());
        } else {
            transform = null;
            transformNorm = null;
            decoderBias = -1;
        }
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
    public boolean hasMlmHead() {
        return enc.mlmHead();
    }

    @Override
    public boolean hasPooler() {
        return pooler != null;
    }

    @Override
    public Tensor pooled(Ops ops, WeightSource w, Tensor hidden, int seq) {
        if (pooler == null) {
            throw new ZotuneException(config.family() + " checkpoint has no pooler (no pooler.dense weights)");
        }
        int n = hidden.rows() / seq;
        int[] first = new int[n];
        for (int b = 0; b < n; b++) {
            first[b] = b * seq;
        }
        Tensor y = pooler.apply(ops, w, ops.embedding(ops.ints(first), hidden));
        ops.tanhInPlace(y);
        return y;
    }

    /** The position ids of a batch: arange for BERT, RoBERTa's count of real tokens after padding_idx. */
    int[] positionIds(Batch batch) {
        if (enc.positionOffset() == 0) {
            return batch.arangePositions();
        }
        int[] cum = batch.maskedCumsumPositions();
        int[] pos = new int[cum.length];
        for (int i = 0; i < cum.length; i++) {
            pos[i] = cum[i] < 0 ? config.padTokenId() : cum[i] + enc.positionOffset();
        }
        return pos;
    }

    private void check(Batch batch, int[] pos, int[] tokenTypes) {
        Architectures.checkBatch(config, batch, true);
        for (int p : pos) {
            if (p < 0 || p >= config.maxPositions()) {
                throw new ZotuneException("sequence needs position " + p + ", beyond the model's "
                        + config.maxPositions() + " position embeddings");
            }
        }
        if (tokenTypes != null) {
            if (tokenTypes.length != batch.tokens()) {
                throw new ZotuneException("token type ids: " + tokenTypes.length + " values for " + batch.tokens()
                        + " tokens");
            }
            for (int i = 0; i < tokenTypes.length; i++) {
                if (tokenTypes[i] < 0 || tokenTypes[i] >= enc.typeVocabSize()) {
                    throw new ZotuneException("token type id " + tokenTypes[i] + " (sequence " + i / batch.seq()
                            + ", position " + i % batch.seq() + ") is out of range for type_vocab_size "
                            + enc.typeVocabSize());
                }
            }
        }
    }

    @Override
    public Tensor hiddenStates(Ops ops, WeightSource w, Batch batch, int[] tokenTypes) {
        int[] pos = positionIds(batch);
        check(batch, pos, tokenTypes);
        float eps = (float) config.normEps();
        AttentionSpec spec = new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(),
                config.headDim(), (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null,
                kind().causalAttention());
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positionIds = ops.ints(pos);
        // weights asked for in parameter order; summed in HF's order: (word + token type) + position
        Tensor e = ops.embedding(ops.ints(batch.ids()), w.weight(words));
        Tensor pe = ops.embedding(positionIds, w.weight(positions));
        ops.addInPlace(e, ops.embedding(ops.ints(tokenTypes != null ? tokenTypes : new int[batch.tokens()]),
                w.weight(types)));
        ops.addInPlace(e, pe);
        Tensor x = embedNorm.apply(ops, w, e, eps);
        return Layer.postNorm(ops, w, x, layers, eps, mask, positionIds, spec);
    }

    @Override
    public Tensor layerInput(Ops ops, WeightSource w, Batch batch, int layer) {
        int[] pos = positionIds(batch);
        check(batch, pos, null);
        LayerSplit.checkLayer(config, layer);
        float eps = (float) config.normEps();
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positionIds = ops.ints(pos);
        Tensor e = ops.embedding(ops.ints(batch.ids()), w.weight(words));
        Tensor pe = ops.embedding(positionIds, w.weight(positions));
        ops.addInPlace(e, ops.embedding(ops.ints(new int[batch.tokens()]), w.weight(types)));
        ops.addInPlace(e, pe);
        Tensor x = embedNorm.apply(ops, w, e, eps);
        return Layer.postNorm(ops, w, x, layers, 0, layer, eps, mask, positionIds, spec(batch));
    }

    @Override
    public Tensor hiddenFrom(Ops ops, WeightSource w, Batch batch, int layer, Tensor x) {
        int[] pos = positionIds(batch);
        check(batch, pos, null);
        LayerSplit.checkLayer(config, layer);
        IntTensor mask = ops.ints(batch.mask());
        IntTensor positionIds = ops.ints(pos);
        return Layer.postNorm(ops, w, x, layers, layer, layers.size(), (float) config.normEps(), mask, positionIds,
                spec(batch));
    }

    /** Encoders have no causal head: the MLM head is {@link #mlmLogits} at chosen rows. */
    @Override
    public Tensor head(Ops ops, WeightSource w, Tensor hidden) {
        throw new UnsupportedOperationException("an encoder's head is mlmLogits at chosen rows");
    }

    private AttentionSpec spec(Batch batch) {
        return new AttentionSpec(batch.batch(), batch.seq(), config.numHeads(), config.numHeads(), config.headDim(),
                (float) (1.0 / Math.sqrt(config.headDim())), 0.0, null, kind().causalAttention());
    }

    @Override
    public Tensor mlmLogits(Ops ops, WeightSource w, Tensor hidden, int[] rows) {
        if (!enc.mlmHead()) {
            throw new ZotuneException(config.family() + " checkpoint has no masked-LM head (a bare "
                    + (config.family() == ModelFamily.ROBERTA ? "RobertaModel" : "BertModel")
                    + "); it can embed, not predict tokens");
        }
        Tensor x = rows.length == hidden.rows() && isIdentity(rows) ? hidden : ops.embedding(ops.ints(rows), hidden);
        Tensor t = transform.apply(ops, w, x);
        switch (config.activation()) {
            case GELU -> ops.geluErfInPlace(t);
            case GELU_TANH -> ops.geluTanhInPlace(t);
            default -> ops.reluInPlace(t);
        }
        Tensor n = transformNorm.apply(ops, w, t, (float) config.normEps());
        return ops.linear(n, w.weight(words), w.weight(decoderBias));
    }

    private static boolean isIdentity(int[] rows) {
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] != i) {
                return false;
            }
        }
        return true;
    }

    @Override
    public Tensor forward(Ops ops, WeightSource w, Batch batch) {
        Tensor hidden = hiddenStates(ops, w, batch, null);
        int[] all = new int[batch.tokens()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return mlmLogits(ops, w, hidden, all);
    }
}
