package org.zotune.model.blocks;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.ParamList;
import org.zotune.model.ParamSpec.Role;

/**
 * A normalisation's parameter indices: LayerNorm (weight and bias) or RMSNorm (weight; bias -1).
 *
 * @param kind   which norm
 * @param weight the scale
 * @param bias   the shift (LayerNorm), or -1
 */
public record Norm(Kind kind, int weight, int bias) {

    public enum Kind { LAYER_NORM, RMS_NORM }

    /** Adds {@code name.weight} and {@code name.bias} [n]. */
    public static Norm layerNorm(ParamList p, String name, long n) {
        int w = p.add(name + ".weight", Role.NORM_WEIGHT, n);
        return new Norm(Kind.LAYER_NORM, w, p.add(name + ".bias", Role.NORM_BIAS, n));
    }

    /** Adds {@code name.weight} [n]. */
    public static Norm rmsNorm(ParamList p, String name, long n) {
        return new Norm(Kind.RMS_NORM, p.add(name + ".weight", Role.NORM_WEIGHT, n), -1);
    }

    /** The norm of x, into a new tensor. */
    public Tensor apply(Ops ops, WeightSource w, Tensor x, float eps) {
        return kind == Kind.LAYER_NORM ? ops.layerNorm(x, w.weight(weight), w.weight(bias), eps)
                : ops.rmsNorm(x, w.weight(weight), eps);
    }

    /**
     * A block boundary: residual += proj(x), then this norm of the residual, written into {@code out} (a new tensor
     * when null; the residual itself for a post-norm block). One fused op; weights are asked for in argument order.
     */
    public Tensor addLinear(Ops ops, WeightSource w, Tensor residual, Tensor x, Linear proj, float eps, Tensor out) {
        if (kind == Kind.LAYER_NORM) {
            return ops.addLinearLayerNorm(residual, x, w.weight(proj.weight()), proj.bias(w), w.weight(weight),
                    w.weight(bias), eps, out);
        }
        return ops.addLinearRmsNorm(residual, x, w.weight(proj.weight()), proj.bias(w), w.weight(weight), eps, out);
    }
}
