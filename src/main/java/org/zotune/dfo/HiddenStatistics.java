package org.zotune.dfo;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;

/**
 * The deviations σ̂_l that scale DFO-LoRA's A maps (ALGORITHMS.md §7): σ̂_0 is the standard deviation of the word
 * embedding table; σ̂_l (l ≥ 1) that of the hidden states entering layer l on the first training batch, over its real
 * (non-padding) tokens' values, after clipping to μ ± 3σ five times. Standard deviations are population ones (numpy's
 * default, as the reference code's clipping loop uses).
 */
public final class HiddenStatistics {
    /** Clipping rounds before the last standard deviation. */
    public static final int CLIP_ROUNDS = 5;

    private HiddenStatistics() {
    }

    /**
     * The population standard deviation of {@code values} after {@code rounds} rounds of clipping each value to
     * [μ − 3σ, μ + 3σ] of the current values (double throughout).
     */
    public static double clippedStd(float[] values, int rounds) {
        if (values.length == 0) {
            throw new IllegalArgumentException("no values");
        }
        double[] v = new double[values.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = values[i];
        }
        for (int k = 0; k < rounds; k++) {
            double mu = mean(v);
            double sd = std(v, mu);
            double lo = mu - 3 * sd;
            double hi = mu + 3 * sd;
            for (int i = 0; i < v.length; i++) {
                v[i] = Math.min(hi, Math.max(lo, v[i]));
            }
        }
        return std(v, mean(v));
    }

    /**
     * σ̂_l for every layer of {@code model}: layer 0 from the word-embedding table {@code embedding} (its values), the
     * others from one forward pass over {@code batch}.
     */
    public static double[] sigmaHat(Ops ops, LanguageModel model, WeightSource weights, float[] embedding,
            Batch batch) {
        int layers = model.config().numLayers();
        List<float[]> inputs = layerInputs(ops, model, weights, batch);
        double[] out = new double[layers];
        out[0] = clippedStd(embedding, CLIP_ROUNDS);
        for (int l = 1; l < layers; l++) {
            out[l] = clippedStd(inputs.get(l), CLIP_ROUNDS);
        }
        return out;
    }

    /** The index of the word-embedding table: the first embedding parameter of [vocab, ·] rows. */
    public static int wordEmbedding(LanguageModel model) {
        List<ParamSpec> params = model.params();
        for (int p = 0; p < params.size(); p++) {
            ParamSpec s = params.get(p);
            if (s.role() == ParamSpec.Role.EMBEDDING && s.shape().length == 2
                    && s.shape()[0] == model.config().vocabSize()) {
                return p;
            }
        }
        throw new ZotuneException("this " + model.config().family() + " model has no word-embedding table");
    }

    /**
     * The hidden states entering each layer, over the batch's real tokens only ([real tokens, hidden] row-major per
     * layer), read through {@link WeightSource#observeLayerInput} during one forward pass (an encoder's body; a
     * decoder's whole forward).
     */
    public static List<float[]> layerInputs(Ops ops, LanguageModel model, WeightSource weights, Batch batch) {
        int layers = model.config().numLayers();
        List<float[]> seen = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            seen.add(null);
        }
        int[] mask = batch.mask();
        WeightSource observing = new WeightSource() {
            @Override
            public Tensor weight(int index) {
                return weights.weight(index);
            }

            @Override
            public void addOutputDelta(Ops o, int weight, Tensor x, Tensor y) {
                weights.addOutputDelta(o, weight, x, y);
            }

            @Override
            public void observeLayerInput(Ops o, int layer, Tensor x) {
                weights.observeLayerInput(o, layer, x);
                float[] all = o.toHost(x);
                int h = x.cols();
                int real = 0;
                for (int m : mask) {
                    real += m != 0 ? 1 : 0;
                }
                float[] kept = new float[real * h];
                int at = 0;
                for (int t = 0; t < mask.length; t++) {
                    if (mask[t] != 0) {
                        System.arraycopy(all, t * h, kept, at, h);
                        at += h;
                    }
                }
                seen.set(layer, kept);
            }
        };
        try (Ops.Scope scope = ops.scope()) {
            if (model instanceof EncoderModel e) {
                e.hiddenStates(ops, observing, batch, null);
            } else {
                model.forward(ops, observing, batch);
            }
        }
        for (int l = 0; l < layers; l++) {
            if (seen.get(l) == null) {
                throw new IllegalStateException("the forward pass showed no input of layer " + l);
            }
        }
        return seen;
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    private static double std(double[] v, double mu) {
        double s = 0;
        for (double x : v) {
            s += (x - mu) * (x - mu);
        }
        return Math.sqrt(s / v.length);
    }
}
