package org.zotune.train;

import java.nio.file.Path;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.search.CmaEs;
import org.zotune.dfo.search.Fireworks;
import org.zotune.dfo.search.SearchFactory;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.train.objective.Objective;

/**
 * Where a DFO-LoRA run ({@link DfoTrainer}) gets its parts: the batched population forward and the optimisers. This
 * is the one place that wires the real classes (org.zotune.dfo's population loss and projections, CmaEs and
 * Fireworks of org.zotune.dfo.search); until they are wired, a dfo run stops with one line saying what is missing,
 * before anything is written.
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
     * Writes the search's result (every layer's best z) as a PEFT LoRA adapter in {@code dir}, A and B materialised
     * from the projections.
     */
    @FunctionalInterface
    public interface AdapterExport {
        void write(Path dir, Inputs inputs, double[][] bestZ);
    }

    /** The batched population forward. WIRING: return the real factory (org.zotune.dfo) here. */
    public static PopulationLossFactory populationLoss() {
        return inputs -> null;
    }

    /** The run's optimisers, made with its population, σ0, covariance and Fireworks constants. */
    public static SearchFactory searches(TrainConfig.Dfo d) {
        Fireworks.Settings fireworks = d.fireworksSettings();
        return (layer, kind, dimension, seed) -> switch (kind) {
            case CMA_ES -> CmaEs.create(dimension, d.population(), d.sigma0(), d.separable(), seed);
            case FIREWORKS -> Fireworks.create(dimension, d.population(), d.sigma0(), seed, fireworks,
                    new double[dimension]);
        };
    }

    /**
     * The PEFT export of the result. SEAM: needs the materialiser of the projections (z → A, B per layer and
     * target, issue 13 deliverable 4); until then the run writes its best z (subspace.json) and no adapter.
     */
    public static AdapterExport adapterExport() {
        return null;
    }

    /** The targets DFO-LoRA adapts (ALGORITHMS.md §7: the attention's query and key projections). */
    public static final List<String> TARGETS = List.of("q", "k");
}
