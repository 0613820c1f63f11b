package org.zotune.backend;

/**
 * A weight source for a model whose parameters are another's followed by a few more (an encoder and the
 * classification head after its parameters, {@link org.zotune.model.SequenceClassifier}): parameters below
 * {@code count} and everything else come from the base (an adapter's composition included), the rest from
 * {@code extra}, indexed from 0. Every method is forwarded (AppendedWeightsTest checks none is left to a default).
 */
public final class AppendedWeights implements WeightSource {
    private final WeightSource base;
    private final int count;
    private final WeightSource extra;

    /**
     * @param base  the base model's parameters 0 .. count - 1
     * @param count how many parameters the base model has
     * @param extra parameters count, count + 1, … as its 0, 1, …
     */
    public AppendedWeights(WeightSource base, int count, WeightSource extra) {
        this.base = base;
        this.count = count;
        this.extra = extra;
    }

    @Override
    public Tensor weight(int index) {
        return index < count ? base.weight(index) : extra.weight(index - count);
    }

    @Override
    public KvPrefix kvPrefix(int attention) {
        return base.kvPrefix(attention);
    }

    @Override
    public void addOutputDelta(Ops ops, int weight, Tensor x, Tensor y) {
        base.addOutputDelta(ops, weight, x, y);
    }

    @Override
    public void keysValues(Ops ops, int attention, Tensor k, int kCol, Tensor v, int vCol, Tensor bias,
            IntTensor positions, AttentionSpec spec) {
        base.keysValues(ops, attention, k, kCol, v, vCol, bias, positions, spec);
    }

    @Override
    public void observeLayerInput(Ops ops, int layer, Tensor x) {
        base.observeLayerInput(ops, layer, x);
    }
}
