package org.zotune.train;

import java.util.List;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.search.CmaEs;
import org.zotune.dfo.search.Fireworks;
import org.zotune.dfo.search.SearchFactory;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.train.config.Dfo;
import org.zotune.train.objective.Objective;

/**
 * Where a DFO-LoRA run ({@link DfoTrainer}) gets its parts: the batched population forward and the optimisers. This
 * is the one place that wires the real classes (org.zotune.dfo's population loss and projections, CmaEs and
 * Fireworks of org.zotune.dfo.search). A population loss over the real model ({@link DfoModelLoss}) also gives the
 * run its evaluations and its PEFT adapter ({@link DfoExport}); a synthetic one (tests) gives neither.
 */
public final class DfoParts {
    private DfoParts() {
    }

    /**
     * What a population loss is built from.
     *
     * @param config         the run (its dfo section: subspace, rank, targets, sigma0, alpha)
     * @param loaded         the frozen base model
     * @param data           the k-shot training set (the loss is evaluated on all of it) and the dev/test sets
     * @param objective      the objective whose loss each candidate is scored by
     * @param projectionSeed the seed the projection maps are regenerated from (recorded in every checkpoint)
     */
    public record Inputs(TrainConfig config, LoadedLanguageModel loaded, TrainData data, Objective objective,
            long projectionSeed) {
    }

    /** Builds the batched population forward for a run, or returns null when none exists for its model/objective. */
    @FunctionalInterface
    public interface PopulationLossFactory {
        PopulationLoss create(Inputs inputs);
    }

    /**
     * The batched population forward over the run's model, objective and k-shot training set ({@link DfoModelLoss}:
     * Subspace.forModel + BatchedPopulation, on the run's device).
     */
    public static PopulationLossFactory populationLoss() {
        return DfoModelLoss::create;
    }

    /** The run's optimisers, made with its population, σ0, covariance and Fireworks constants. */
    public static SearchFactory searches(Dfo d) {
        Fireworks.Settings fireworks = d.fireworksSettings();
        return (layer, kind, dimension, seed) -> switch (kind) {
            case CMA_ES -> CmaEs.create(dimension, d.population(), d.sigma0(), d.separable(), seed);
            case FIREWORKS -> Fireworks.create(dimension, d.population(), d.sigma0(), seed, fireworks,
                    new double[dimension]);
        };
    }

    /** The targets DFO-LoRA adapts (ALGORITHMS.md §7: the attention's query and key projections). */
    public static final List<String> TARGETS = List.of("q", "k");
}
