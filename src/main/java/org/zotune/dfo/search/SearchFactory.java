package org.zotune.dfo.search;

/**
 * Makes the optimiser of one layer's sub-problem (ALGORITHMS.md §7). The DFO-LoRA search asks for each
 * (layer, kind) at most once, the first time that layer is searched by that kind, with a seed of its own; the
 * population, σ0 and covariance are the factory's (the run config's), so that a resumed run recreates every optimiser
 * with the same settings before {@link AskTell#readState} restores it.
 */
@FunctionalInterface
public interface SearchFactory {
    /** The two optimisers of DFO-LoRA: CMA-ES (C-LoRA) and the Fireworks algorithm (F-LoRA). */
    enum Kind { CMA_ES, FIREWORKS }

    /**
     * @param layer     the layer whose subspace point it searches
     * @param kind      which optimiser
     * @param dimension the subspace dimension D
     * @param seed      its seed (a function of the run seed, the layer and the kind)
     */
    AskTell create(int layer, Kind kind, int dimension, long seed);
}
