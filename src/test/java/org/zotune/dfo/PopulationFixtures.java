package org.zotune.dfo;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.AttentionTargets.Projection;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/** The cases and plain references that the batched-population tests (CPU and captured generations) share. */
final class PopulationFixtures {
    static final int D = 20;
    static final int RANK = 2;

    private PopulationFixtures() {
    }

    /** A model, its host weights, an objective and its training set. */
    record Case(String name, LanguageModel model, List<HostTensor> weights, Objective objective, PromptBatch train) {
    }

    static List<HostTensor> merged(Case c, Subspace s, double[][] points) {
        List<HostTensor> out = new ArrayList<>(c.weights());
        for (int l = 0; l < s.layers(); l++) {
            Subspace.Factors f = s.factors(l, points[l]);
            add(out, s.targets().q().get(l), f.aQ(), f.bQ(), s.rank());
            add(out, s.targets().k().get(l), f.aK(), f.bK(), s.rank());
        }
        return out;
    }

    static void add(List<HostTensor> weights, Projection p, float[] a, float[] b, int r) {
        HostTensor t = weights.get(p.weight());
        float[] w = t.toFloats();
        for (int o = 0; o < p.out(); o++) {
            for (int i = 0; i < p.in(); i++) {
                double ba = 0;
                for (int k = 0; k < r; k++) {
                    ba += (double) b[o * r + k] * a[k * p.in() + i];
                }
                int at = (p.offset() + o) * p.in() + i;
                w[at] = (float) (w[at] + ba);
            }
        }
        weights.set(p.weight(), HostTensor.ofFloats(t.name(), w, t.shape()));
    }

    static Subspace subspace(Case c, long seed) {
        AttentionTargets t = AttentionTargets.of(c.model());
        double[] scales = new double[t.layers()];
        for (int l = 0; l < scales.length; l++) {
            scales[l] = Subspace.aScale(0.5 + 0.25 * l, 1, D, 0.2);
        }
        return Subspace.of(t, D, RANK, seed, scales);
    }

    static Case decoder(String name, ModelConfig config, Objective objective, long seed) {
        LanguageModel m = Architectures.createModel(config);
        Random r = new Random(seed);
        List<HostTensor> w = new ArrayList<>();
        for (ParamSpec s : m.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.3 * r.nextGaussian());
            }
            w.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        int v = config.vocabSize();
        List<EncodedExample> ex = List.of(
                example(r, v, 5, new int[] {1, 2}, 1),
                example(r, v, 2, new int[] {3, 1}, 0),
                example(r, v, 4, new int[] {2, 2}, 1));
        return new Case(name, m, w, objective, PromptBatch.of(ex, 0));
    }

    static EncodedExample example(Random r, int vocab, int prompt, int[] answers, int gold) {
        int[] p = new int[prompt];
        for (int i = 0; i < prompt; i++) {
            p[i] = 3 + r.nextInt(vocab - 3);
        }
        int[][] rows = new int[answers.length][];
        int[] starts = new int[answers.length];
        for (int c = 0; c < answers.length; c++) {
            rows[c] = java.util.Arrays.copyOf(p, prompt + answers[c]);
            for (int i = prompt; i < rows[c].length; i++) {
                rows[c][i] = 3 + r.nextInt(vocab - 3);
            }
            starts[c] = prompt;
        }
        return new EncodedExample("x", rows, starts, gold);
    }

    static double[] gaussian(Random r, int n) {
        double[] z = new double[n];
        for (int i = 0; i < n; i++) {
            z[i] = r.nextGaussian();
        }
        return z;
    }
}
