package org.zotune.dfo;

import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LayerSplit;
import org.zotune.model.ModelConfig;
import org.zotune.model.ParamSpec;
import org.zotune.peft.RowGroupDeltas;

/**
 * A generation's forward without repeated work (ALGORITHMS.md §7): the members differ only in the searched layer's
 * query/key updates, so the layers below it (and the embeddings) give every member's copy of the training set the
 * same hidden states. With a model that splits ({@link LayerSplit}: GPT-2, OPT, Llama, BERT/RoBERTa) and the
 * generation's {@link SplitWeights}, the population's forward runs those layers ONCE over one member's rows (with
 * the updates of the layers below at their current points), repeats the resulting rows λ times (a row gather), and
 * runs the searched layer and those above over the λ copies. The same ops as the whole forward, in the same order for
 * each row: one member at a time (λ = 1) and the batched generation compute the layers below with the same shapes.
 * Any other forward (weights that are not a split, a batch that is not λ equal copies, token types, a key/value
 * cache) runs the wrapped model's whole forward on {@link SplitWeights#full}, every update on its rows.
 */
final class SharedLayers {
    private SharedLayers() {
    }

    /**
     * A generation's updates three ways. As a {@link WeightSource} it is {@code full}: every update on the rows it
     * was packed for (the whole forward over the repeated batch).
     *
     * @param layer        the searched layer: the split point
     * @param memberTokens activation rows of one member's copy of the batch
     * @param below        the current points of the layers below {@code layer}, on one member's rows [0, m)
     * @param above        the members' updates and the current points of the layers from {@code layer} on
     */
    record SplitWeights(int layer, int memberTokens, WeightSource full, WeightSource below, WeightSource above)
            implements WeightSource {
        @Override
        public Tensor weight(int index) {
            return full.weight(index);
        }

        @Override
        public void addOutputDelta(Ops ops, int weight, Tensor x, Tensor y) {
            full.addOutputDelta(ops, weight, x, y);
        }

        @Override
        public void observeLayerInput(Ops ops, int layer, Tensor x) {
            full.observeLayerInput(ops, layer, x);
        }
    }

    /**
     * The generation's updates over {@code base}: slot s's factors are {@code a.apply(s)}, {@code b.apply(s)}.
     */
    static SplitWeights weights(WeightSource base, GenerationFactors g, int memberTokens, IntFunction<Tensor> a,
            IntFunction<Tensor> b) {
        int layer = g.key().get(0);
        RowGroupDeltas full = new RowGroupDeltas(base);
        RowGroupDeltas below = new RowGroupDeltas(base);
        RowGroupDeltas above = new RowGroupDeltas(base);
        for (int s = 0; s < g.slots().size(); s++) {
            GenerationFactors.Slot slot = g.slots().get(s);
            Tensor as = a.apply(s);
            Tensor bs = b.apply(s);
            RowGroupDeltas.Group group = new RowGroupDeltas.Group(slot.from(), slot.to(), as, bs);
            full.add(slot.weight(), group);
            if (slot.layer() < layer) { // a current point: on every row, so on the one member's rows
                below.add(slot.weight(), new RowGroupDeltas.Group(0, memberTokens, as, bs));
            } else {
                above.add(slot.weight(), group);
            }
        }
        return new SplitWeights(layer, memberTokens, full, below, above);
    }

    /** The model a population runs: a splitting encoder or decoder wrapped as above, any other model itself. */
    static LanguageModel wrap(LanguageModel model) {
        if (model instanceof LayerSplit split) {
            if (model instanceof EncoderModel e) {
                return new Encoder(e, split);
            }
            if (model instanceof CausalLM c) {
                return new Decoder(c, split);
            }
        }
        return model;
    }

    /**
     * The hidden states {@code split.hiddenFrom} gives over {@code batch} with the layers below computed once, or
     * null where that does not apply (see the class comment).
     */
    private static Tensor shared(LayerSplit split, Ops ops, WeightSource w, Batch batch) {
        if (!(w instanceof SplitWeights s)) {
            return null;
        }
        Batch member = memberOf(batch, s.memberTokens());
        if (member == null) {
            return null;
        }
        Tensor x = split.layerInput(ops, s.below(), member, s.layer());
        int copies = batch.tokens() / s.memberTokens();
        if (copies > 1) {
            x = ops.embedding(ops.ints(tiles(copies, s.memberTokens())), x); // copy i's row r is row r: bitwise
        }
        return split.hiddenFrom(ops, s.above(), batch, s.layer(), x);
    }

    /** The first of the batch's equal copies of m tokens, or null when the batch is not such copies. */
    static Batch memberOf(Batch batch, int m) {
        if (m <= 0 || m % batch.seq() != 0 || batch.tokens() % m != 0) {
            return null;
        }
        int[] ids = batch.ids();
        int[] mask = batch.mask();
        for (int c = m; c < batch.tokens(); c += m) {
            if (!Arrays.equals(ids, 0, m, ids, c, c + m) || !Arrays.equals(mask, 0, m, mask, c, c + m)) {
                return null;
            }
        }
        return new Batch(m / batch.seq(), batch.seq(), Arrays.copyOf(ids, m), Arrays.copyOf(mask, m));
    }

    private static int[] tiles(int copies, int m) {
        int[] idx = new int[copies * m];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i % m;
        }
        return idx;
    }

    /** An encoder whose last hidden states share the layers below the searched one. */
    static final class Encoder implements EncoderModel {
        private final EncoderModel model;
        private final LayerSplit split;

        Encoder(EncoderModel model, LayerSplit split) {
            this.model = model;
            this.split = split;
        }

        @Override
        public ModelConfig config() {
            return model.config();
        }

        @Override
        public List<ParamSpec> params() {
            return model.params();
        }

        @Override
        public boolean hasMlmHead() {
            return model.hasMlmHead();
        }

        @Override
        public Tensor hiddenStates(Ops ops, WeightSource w, Batch batch, int[] tokenTypes) {
            Tensor h = tokenTypes == null ? shared(split, ops, w, batch) : null;
            return h != null ? h : model.hiddenStates(ops, w, batch, tokenTypes);
        }

        @Override
        public boolean hasPooler() {
            return model.hasPooler();
        }

        @Override
        public Tensor pooled(Ops ops, WeightSource w, Tensor hidden, int seq) {
            return model.pooled(ops, w, hidden, seq);
        }

        @Override
        public Tensor mlmLogits(Ops ops, WeightSource w, Tensor hidden, int[] rows) {
            return model.mlmLogits(ops, w, hidden, rows);
        }

        @Override
        public Tensor forward(Ops ops, WeightSource w, Batch batch) {
            Tensor h = shared(split, ops, w, batch);
            if (h == null) {
                return model.forward(ops, w, batch);
            }
            int[] all = new int[batch.tokens()];
            Arrays.setAll(all, i -> i);
            return model.mlmLogits(ops, w, h, all);
        }
    }

    /** A decoder whose plain forward shares the layers below the searched one, with the head on chosen rows. */
    static final class Decoder implements CausalLM {
        private final CausalLM model;
        private final LayerSplit split;

        Decoder(CausalLM model, LayerSplit split) {
            this.model = model;
            this.split = split;
        }

        @Override
        public ModelConfig config() {
            return model.config();
        }

        @Override
        public List<ParamSpec> params() {
            return model.params();
        }

        @Override
        public Tensor forward(Ops ops, WeightSource w, Batch batch) {
            Tensor h = shared(split, ops, w, batch);
            return h != null ? split.head(ops, w, h) : model.forward(ops, w, batch);
        }

        @Override
        public Tensor forward(Ops ops, WeightSource w, Batch batch, int start) {
            return start == 0 ? forward(ops, w, batch) : model.forward(ops, w, batch, start);
        }

        @Override
        public Tensor forward(Ops ops, WeightSource w, Batch batch, int[] starts) {
            for (int s : starts) {
                if (s != 0) {
                    return model.forward(ops, w, batch, starts);
                }
            }
            return forward(ops, w, batch);
        }

        @Override
        public boolean cachesKeysValues() {
            return model.cachesKeysValues();
        }

        /**
         * The logits [rows.length, vocab] at rows {@code rows} (flat b·seq + t) of the plain forward over the batch:
         * the head only where a loss reads (a generation's logits at every position may pass 2^31 elements).
         */
        Tensor logitsAt(Ops ops, WeightSource w, Batch batch, int[] rows) {
            Tensor h = shared(split, ops, w, batch);
            if (h == null) {
                h = split.hiddenFrom(ops, w, batch, 0, split.layerInput(ops, w, batch, 0));
            }
            return split.head(ops, w, ops.embedding(ops.ints(rows), h));
        }
    }
}
