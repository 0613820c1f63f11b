package org.zotune.model.blocks;

import java.util.List;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * One transformer layer's weights, in parameter order: the attention's norm, the attention (its output projection
 * last), the MLP's norm, the MLP (its down projection last). Pre-norm layers apply each norm to the block's input;
 * post-norm layers to the residual after the block.
 */
public record Layer(Norm attentionNorm, SelfAttention attention, Norm mlpNorm, FeedForward mlp) {

    /**
     * Runs pre-norm layers over the residual stream x. Each residual addition is fused with the norm that follows it
     * (the next layer's, or {@code finalNorm}), written into one buffer a; x and a live outside the layers' scopes, so
     * a pass holds one layer's activations at a time. Without a final norm the last addition is a plain one.
     *
     * @return the final norm's output, or the residual stream when there is no final norm
     */
    public static Tensor preNorm(Ops ops, WeightSource w, Tensor x, List<Layer> layers, Norm finalNorm, float eps,
                                 IntTensor mask, IntTensor positions, AttentionSpec spec) {
        return preNorm(ops, w, x, layers, 0, layers.size(), finalNorm, eps, mask, positions, spec);
    }

    /**
     * {@link #preNorm} over layers [from, to) only, x being the residual stream entering layer {@code from}: up to the
     * last layer it is {@link #preNorm}'s result; before it (to &lt; size) the residual stream entering layer
     * {@code to} (x; the boundary still fused with that layer's norm, whose output is dropped, so x has the bits of
     * the whole pass's). Running [0, l) then [l, size) is the whole pass (the split forward of DFO-LoRA's population).
     */
    public static Tensor preNorm(Ops ops, WeightSource w, Tensor x, List<Layer> layers, int from, int to,
                                 Norm finalNorm, float eps, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        checkRange(layers, from, to);
        if (from == to) {
            return to == layers.size() && finalNorm != null ? finalNorm.apply(ops, w, x, eps) : x;
        }
        Tensor a = layers.get(from).attentionNorm.apply(ops, w, x, eps);
        for (int l = from; l < to; l++) {
            Layer layer = layers.get(l);
            w.observeLayerInput(ops, l, x);
            try (Ops.Scope scope = ops.scope()) {
                Tensor att = layer.attention.attend(ops, w, a, mask, positions, spec);
                Tensor m = layer.mlpNorm.addLinear(ops, w, x, att, layer.attention.out(), eps, null);
                Tensor f = layer.mlp.hidden(ops, w, m);
                Norm next = l + 1 < layers.size() ? layers.get(l + 1).attentionNorm : finalNorm;
                Linear down = layer.mlp.down();
                if (next != null) {
                    next.addLinear(ops, w, x, f, down, eps, a);
                } else {
                    ops.addLinearInPlace(x, f, w.weight(down.weight()), down.bias(w));
                }
            }
        }
        return to < layers.size() || finalNorm == null ? x : a;
    }

    /**
     * Runs post-norm layers over the residual stream x: each residual addition is fused with its own block's norm,
     * written over x.
     *
     * @return x
     */
    public static Tensor postNorm(Ops ops, WeightSource w, Tensor x, List<Layer> layers, float eps, IntTensor mask,
                                  IntTensor positions, AttentionSpec spec) {
        return postNorm(ops, w, x, layers, 0, layers.size(), eps, mask, positions, spec);
    }

    /** {@link #postNorm} over layers [from, to) only, x the stream entering layer {@code from}; returns x. */
    public static Tensor postNorm(Ops ops, WeightSource w, Tensor x, List<Layer> layers, int from, int to, float eps,
                                  IntTensor mask, IntTensor positions, AttentionSpec spec) {
        checkRange(layers, from, to);
        for (int l = from; l < to; l++) {
            Layer layer = layers.get(l);
            w.observeLayerInput(ops, l, x);
            try (Ops.Scope scope = ops.scope()) {
                Tensor att = layer.attention.attend(ops, w, x, mask, positions, spec);
                Tensor m = layer.attentionNorm.addLinear(ops, w, x, att, layer.attention.out(), eps, x);
                layer.mlpNorm.addMlp(ops, w, x, m, layer.mlp, eps, x);
            }
        }
        return x;
    }

    private static void checkRange(List<Layer> layers, int from, int to) {
        if (from < 0 || to < from || to > layers.size()) {
            throw new IllegalArgumentException("layers [" + from + ", " + to + ") of " + layers.size());
        }
    }
}
