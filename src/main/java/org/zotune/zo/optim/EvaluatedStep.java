package org.zotune.zo.optim;

import java.util.ArrayList;
import java.util.List;
import org.zotune.zo.optim.StepEvaluation.SpsaSample;

/**
 * What every step result has: the step t, whether a non-finite value skipped its update, and its evaluations in
 * order; plus the per-sample views that two-point SPSA's callers (metrics, the trajectory, the tests) read.
 */
public interface EvaluatedStep {

    /** The step (from 1). */
    long t();

    /** A non-finite value skipped the update. */
    boolean skipped();

    /** The step's evaluations, in the order they were made. */
    List<StepEvaluation> evaluations();

    /** The SPSA samples among the evaluations, in stream order. */
    default List<SpsaSample> samples() {
        List<SpsaSample> out = new ArrayList<>();
        for (StepEvaluation e : evaluations()) {
            if (e instanceof SpsaSample s) {
                out.add(s);
            }
        }
        return out;
    }

    /** The loss the step reports: its first evaluation's (for SPSA, ½(ℓ+ + ℓ-) of sample 0). */
    default float loss() {
        return evaluations().get(0).loss();
    }

    /** ℓ+ per SPSA sample. */
    default float[] lossPlus() {
        List<SpsaSample> s = samples();
        float[] v = new float[s.size()];
        for (int k = 0; k < v.length; k++) {
            v[k] = s.get(k).lossPlus();
        }
        return v;
    }

    /** ℓ- per SPSA sample. */
    default float[] lossMinus() {
        List<SpsaSample> s = samples();
        float[] v = new float[s.size()];
        for (int k = 0; k < v.length; k++) {
            v[k] = s.get(k).lossMinus();
        }
        return v;
    }

    /** g per SPSA sample. */
    default float[] projectedGradient() {
        List<SpsaSample> s = samples();
        float[] v = new float[s.size()];
        for (int k = 0; k < v.length; k++) {
            v[k] = s.get(k).g();
        }
        return v;
    }
}
