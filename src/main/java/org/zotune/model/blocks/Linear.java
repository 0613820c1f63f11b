package org.zotune.model.blocks;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.ParamList;
import org.zotune.model.ParamSpec.Role;

/**
 * A projection's parameter indices: a matrix [out, in] and its bias, or -1 where the architecture has none.
 *
 * @param weight the matrix
 * @param bias   the bias, or -1
 */
public record Linear(int weight, int bias) {

    /** Adds {@code name.weight} [out, in] and, when {@code bias}, {@code name.bias} [out], in that order. */
    public static Linear add(ParamList p, String name, boolean bias, long out, long in) {
        int w = p.add(name + ".weight", Role.MATRIX, out, in);
        return new Linear(w, p.addIf(bias, name + ".bias", Role.BIAS, out));
    }

    /** x·Wᵀ + b; the matrix is asked for before the bias. */
    public Tensor apply(Ops ops, WeightSource w, Tensor x) {
        return ops.linear(x, w.weight(weight), bias(w));
    }

    /** The bias, or null when the projection has none. */
    public Tensor bias(WeightSource w) {
        return bias < 0 ? null : w.weight(bias);
    }
}
