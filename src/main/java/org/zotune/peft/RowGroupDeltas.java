package org.zotune.peft;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * Low-rank deltas on projections' outputs, per group of activation rows, over a frozen base: for a projection y = x·Wᵀ
 * (+ b) and a group of rows [from, to), y[from, to) += (x[from, to)·Aᵀ)·Bᵀ with A [r, in] and B [out, r]. The base
 * weights are never copied or merged: one group over every row is plain LoRA (the scale folded into B); λ groups of
 * the same size are DFO-LoRA's batched population, each member's adapters applied to its own rows
 * (ALGORITHMS.md §7). Everything is {@link Ops} calls, so it runs on any backend.
 */
public final class RowGroupDeltas implements WeightSource {

    /**
     * One group's factors.
     *
     * @param from first activation row (token) of the group
     * @param to   one past its last row
     * @param a    [r, in]
     * @param b    [out, r]
     */
    public record Group(int from, int to, Tensor a, Tensor b) {
        public Group {
            if (from < 0 || to < from) {
                throw new IllegalArgumentException("row group [" + from + ", " + to + ")");
            }
            if (a.rows() != b.cols()) {
                throw new IllegalArgumentException("A has rank " + a.rows() + ", B has rank " + b.cols());
            }
        }
    }

    private final WeightSource base;
    private final Map<Integer, List<Group>> groups = new HashMap<>();

    public RowGroupDeltas(WeightSource base) {
        this.base = base;
    }

    /** Adds a group for the projection whose matrix is parameter {@code weight}; groups of one weight may overlap. */
    public RowGroupDeltas add(int weight, Group group) {
        groups.computeIfAbsent(weight, k -> new ArrayList<>()).add(group);
        return this;
    }

    @Override
    public Tensor weight(int index) {
        return base.weight(index);
    }

    @Override
    public void addOutputDelta(Ops ops, int weight, Tensor x, Tensor y) {
        base.addOutputDelta(ops, weight, x, y);
        List<Group> list = groups.get(weight);
        if (list == null) {
            return;
        }
        for (Group g : list) {
            if (g.to() > y.rows() || g.a().cols() != x.cols() || g.b().rows() != y.cols()) {
                throw new IllegalArgumentException("delta on parameter " + weight + ": rows [" + g.from() + ", "
                        + g.to() + ") with A [" + g.a().rows() + ", " + g.a().cols() + "] and B [" + g.b().rows()
                        + ", " + g.b().cols() + "] do not fit x [" + x.rows() + ", " + x.cols() + "] -> y ["
                        + y.rows() + ", " + y.cols() + "]");
            }
            if (g.from() == g.to()) {
                continue;
            }
            try (Ops.Scope scope = ops.scope()) {
                Tensor t = ops.linear(ops.rows(x, g.from(), g.to()), g.a(), null); // [rows, r]
                ops.addInPlace(ops.rows(y, g.from(), g.to()), ops.linear(t, g.b(), null));
            }
        }
    }

    @Override
    public void observeLayerInput(Ops ops, int layer, Tensor x) {
        base.observeLayerInput(ops, layer, x);
    }
}
