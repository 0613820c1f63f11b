package org.zotune.parallel;

/**
 * One worker's end of a collective over the workers of a data-parallel run (ALGORITHMS.md §10): two-point ZO needs
 * only a few scalars per step from each worker, so the collectives here carry short vectors of doubles. Every
 * worker calls the same collectives in the same order; a worker that fails or does not arrive within the group's
 * timeout makes every other worker's call throw a {@link WorkerFailure} naming it, so no worker hangs.
 * <p>Implementations: {@link InProcessGroup} (workers as threads of one JVM: CPU replicas, and the stand-in that
 * tests the orchestration in CI), {@link NcclGroup} (one GPU per worker, through NCCL).
 */
public interface Collective {
    /** This worker's rank, 0 … {@link #worldSize()} − 1. */
    int rank();

    int worldSize();

    /**
     * Replaces {@code values} by their element-wise sum over the workers, added in rank order (rank 0 + rank 1 + …),
     * so every worker gets the same bits and a run is reproducible for a fixed number of workers.
     */
    void allReduceSum(double[] values);

    /** Every worker's {@code values} (the same length on every worker), in rank order. */
    long[][] allGather(long[] values);

    /**
     * Tells the other workers that this one has failed: their current and next calls throw, naming this rank (or,
     * when {@code cause} is a {@link WorkerFailure}, the rank it names).
     */
    void abort(Throwable cause);
}
