package org.zotune.train.objective;

import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.CausalLM;

/**
 * A training objective: a float32 scalar computed from one forward pass of {@code model} over {@code batch} with the
 * parameters {@code weights} gives (plain θ, or θ ± εu under a ZO perturbation strategy). Written against {@link Ops}
 * only, so it runs on any backend. ZO optimisation needs only the value, so objectives need not be differentiable
 * (ALGORITHMS.md §6).
 */
public interface Objective {
    String name();

    float loss(Ops ops, CausalLM model, WeightSource weights, PromptBatch batch);

    /** The objective named {@code lm}, {@code classification}, {@code accuracy} (−accuracy) or {@code f1} (−F1). */
    static Objective named(String name) {
        return switch (name) {
            case "lm" -> new CausalLmLoss();
            case "classification" -> new ClassificationLoss();
            case "accuracy" -> new NegativeAccuracy();
            case "f1" -> new NegativeF1();
            default -> throw new org.zotune.ZotuneException("unknown objective '" + name
                    + "' (known: lm, classification, accuracy, f1)");
        };
    }
}
