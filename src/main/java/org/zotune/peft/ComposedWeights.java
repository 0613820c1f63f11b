package org.zotune.peft;

import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * The weights a forward pass sees, composed per model parameter: the frozen base where the set has no rule, the
 * rule's tensor (formed from the base and the set's tensors of this pass) where it has one; the set's output deltas
 * added to the projections that have one.
 */
public final class ComposedWeights implements WeightSource {
    private final WeightSource base;
    private final TrainableSet set;
    private final TrainedTensors trained;

    public ComposedWeights(WeightSource base, TrainableSet set, TrainedTensors trained) {
        this.base = base;
        this.set = set;
        this.trained = trained;
    }

    @Override
    public Tensor weight(int index) {
        WeightRule r = set.rule(index);
        return r == null ? base.weight(index) : r.weight(index, base, trained);
    }

    @Override
    public KvPrefix kvPrefix(int attention) {
        int[] kv = set.prefix(attention);
        return kv == null ? base.kvPrefix(attention) : new KvPrefix(trained.tensor(kv[0]), trained.tensor(kv[1]));
    }

    @Override
    public void addOutputDelta(Ops ops, int weight, Tensor x, Tensor y) {
        base.addOutputDelta(ops, weight, x, y);
        OutputDelta d = set.delta(weight);
        if (d != null) {
            d.add(ops, x, y, trained);
        }
    }

    @Override
    public void observeLayerInput(Ops ops, int layer, Tensor x) {
        base.observeLayerInput(ops, layer, x);
    }
}
