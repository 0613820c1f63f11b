package org.zotune.zo.optim;

import java.util.ArrayList;
import java.util.List;

/**
 * One evaluation a step made: what a step result lists, one entry per direction (or candidate) it tried. Today the
 * only kind is an SPSA sample: noise stream k, its two losses ℓ±_k and projected gradient g_k (ALGORITHMS.md §2).
 * A population method adds its own record here (a member index, its scalars such as the fitness, references to
 * the per-layer optimiser state it used) and one entry in the trajectory format ({@code train/Trajectory}); code
 * that reads results asks for the kind it knows ({@link EvaluatedStep#samples()}).
 */
public sealed interface StepEvaluation permits StepEvaluation.SpsaSample {

    /** The evaluation's index within its step: the noise stream of an SPSA sample, a population's member index. */
    int index();

    /** The loss this evaluation reports (a step reports its first evaluation's). */
    float loss();

    /**
     * SPSA sample k of a step.
     *
     * @param stream    k: the Philox stream of its direction u_k
     * @param lossPlus  ℓ+_k = L(θ + εu_k)
     * @param lossMinus ℓ-_k = L(θ - εu_k)
     * @param g         g_k = (ℓ+_k - ℓ-_k) / (2ε), the projected gradient
     */
    record SpsaSample(int stream, float lossPlus, float lossMinus, float g) implements StepEvaluation {
        @Override
        public int index() {
            return stream;
        }

        /** ½(ℓ+ + ℓ-) in float32, the training loss a ZO step reports. */
        @Override
        public float loss() {
            return 0.5f * (lossPlus + lossMinus);
        }

        /** Samples 0 .. q-1 from per-sample arrays of one length. */
        public static List<StepEvaluation> of(float[] lossPlus, float[] lossMinus, float[] g) {
            if (lossMinus.length != lossPlus.length || g.length != lossPlus.length) {
                throw new IllegalArgumentException("SPSA samples: " + lossPlus.length + " ℓ+, " + lossMinus.length
                        + " ℓ-, " + g.length + " g");
            }
            List<StepEvaluation> out = new ArrayList<>(g.length);
            for (int k = 0; k < g.length; k++) {
                out.add(new SpsaSample(k, lossPlus[k], lossMinus[k], g[k]));
            }
            return List.copyOf(out);
        }
    }
}
