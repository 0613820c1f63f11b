package org.zotune.dfo;

/**
 * The losses of one generation of DFO-LoRA candidates (ALGORITHMS.md §7): candidate i is a subspace point z for
 * one layer, every other layer held at its current point; the objective is evaluated on the whole k-shot training
 * set. An implementation evaluates the whole generation in ONE batched forward (the training set repeated λ times,
 * each member's low-rank Q/K update applied to its own rows), never λ sequential passes.
 */
public interface PopulationLoss {
    /** Number of layers with a subspace. */
    int layers();

    /** Dimension D of each layer's subspace point. */
    int dimension();

    /**
     * @param layer      the layer being searched
     * @param candidates λ points of {@link #dimension()} values for that layer
     * @param current    every layer's current point ({@code current[layer]} is ignored)
     * @return λ losses, in the candidates' order (lower is better)
     */
    double[] losses(int layer, double[][] candidates, double[][] current);
}
