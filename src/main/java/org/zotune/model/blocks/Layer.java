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
        Tensor a = layers.get(0).attentionNorm.apply(ops, w, x, eps);
        for (int l = 0; l < layers.size(); l++) {
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
        return finalNorm != null ? a : x;
    }

    /**
     * Runs post-norm layers over the residual stream x: each residual addition is fused with its own block's norm,
     * written over x.
     *
     * @return x
     */
    public static Tensor postNorm(Ops ops, WeightSource w, Tensor x, List<Layer> layers, float eps, IntTensor mask,
                                  IntTensor positions, AttentionSpec spec) {
        for (int l = 0; l < layers.size(); l++) {
            Layer layer = layers.get(l);
            w.observeLayerInput(ops, l, x);
            try (Ops.Scope scope = ops.scope()) {
                Tensor att = layer.attention.attend(ops, w, x, mask, positions, spec);
                Tensor m = layer.attentionNorm.addLinear(ops, w, x, att, layer.attention.out(), eps, x);
                Tensor f = layer.mlp.hidden(ops, w, m);
                layer.mlpNorm.addLinear(ops, w, x, f, layer.mlp.down(), eps, x);
            }
        }
        return x;
    }
}
