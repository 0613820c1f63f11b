package org.zotune.model.blocks;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.ModelConfig.Activation;
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

    /**
     * A block boundary after an MLP: residual += mlp(x), then this norm, as {@link #addLinear} with the MLP's hidden
     * activation and down projection. A fused GELU (erf) MLP before a LayerNorm (BERT, RoBERTa) is one op
     * ({@link Ops#addGeluErfMlpLayerNorm}: the hidden activation stays inside it); any other MLP computes its hidden
     * activation, then {@link #addLinear}.
     */
    public Tensor addMlp(Ops ops, WeightSource w, Tensor residual, Tensor x, FeedForward mlp, float eps, Tensor out) {
        if (kind == Kind.LAYER_NORM && mlp instanceof FeedForward.Activated a && a.activation() == Activation.GELU
                && a.fused() == Activation.GELU) {
            Linear up = a.up();
            Linear down = a.down();
            return ops.addGeluErfMlpLayerNorm(residual, x, w.weight(up.weight()), up.bias(w),
                    () -> w.weight(down.weight()), down.bias(w), w.weight(weight), w.weight(bias), eps, out);
        }
        return addLinear(ops, w, residual, mlp.hidden(ops, w, x), mlp.down(), eps, out);
    }
}
