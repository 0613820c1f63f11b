package org.zotune.train.config;

import org.zotune.ZotuneException;
import org.zotune.train.DataParallelEngine;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Positive;

/**
 * Data-parallel training (key parallel, ALGORITHMS.md §10): each micro-batch is split by examples over
 * {@code workers} replicas that hold the same θ; their loss sums are added (in rank order) so every replica forms
 * the same g and applies the same update. Today the workers are CPU replicas in one process.
 *
 * @param workers       replicas (1: no data parallelism)
 * @param split         what the workers divide: batch (each micro-batch's examples) or samples (each step's q
 *                      SPSA samples, every worker on the whole batch)
 * @param checksumEvery compare the replicas' parameter checksums every N steps (0: only at checkpoints and at the
 *                      end)
 * @param workerTimeout seconds a worker waits for the others at a collective before the run stops, naming the
 *                      worker that did not arrive
 * @param gpus          GPU replicas (1: one GPU; N: one CUDA engine on each of the devices 0 … N − 1, their loss
 *                      sums all-reduced through NCCL; device cuda, split batch)
 * @param worldSize     processes of a run over several processes or hosts, one GPU each (1: this process alone);
 *                      absent: 1, or the environment's WORLD_SIZE with init {@code env://}
 * @param rank          this process's rank, 0 … world_size − 1 (rank 0 writes the run folder); absent: 0, or RANK
 *                      with init {@code env://}
 * @param localRank     this process's GPU among the visible ones (absent: LOCAL_RANK with init {@code env://},
 *                      else rank modulo the visible GPUs)
 * @param init          how the processes find each other ({@link org.zotune.parallel.ProcessLaunch}):
 *                      {@code file:///shared/path}, {@code tcp://host:port}, or {@code env://} (RANK, WORLD_SIZE,
 *                      LOCAL_RANK, MASTER_ADDR, MASTER_PORT; resolved when the config is read)
 */
public record Parallel(
        @Default("1") @AtLeast(1) Integer workers,
        @Default("batch") @Choice(DataParallelEngine.Split.class) String split,
        @Default("100") @AtLeast(0) Integer checksumEvery,
        @Default("600") @Positive Double workerTimeout,
        @Default("1") @AtLeast(1) Integer gpus,
        @AtLeast(1) Integer worldSize,
        @AtLeast(0) Integer rank,
        @AtLeast(0) Integer localRank,
        String init) {

    /** The keys that differ between the processes of one run (not compared on --resume). */
    public static final java.util.Set<String> PER_PROCESS = java.util.Set.of("parallel.rank",
            "parallel.local_rank", "parallel.init");

    public Parallel {
        org.zotune.parallel.ProcessLaunch.Resolved r = org.zotune.parallel.ProcessLaunch.resolve(worldSize, rank,
                localRank, init, System.getenv());
        worldSize = r.worldSize();
        rank = r.rank();
        localRank = r.localRank();
        init = r.init();
        if (worldSize > 1 && workers != null && workers > 1) {
            throw new ZotuneException("parallel.world_size " + worldSize + " and parallel.workers " + workers
                    + ": a process of a run over several processes drives one GPU; use parallel.workers 1");
        }
        if (worldSize > 1 && gpus != null && gpus > 1) {
            throw new ZotuneException("parallel.world_size " + worldSize + " and parallel.gpus " + gpus
                    + ": a process of a run over several processes drives one GPU; use parallel.gpus 1 (one "
                    + "process per GPU)");
        }
        // below a millisecond no collective can complete, and the message would read "0.0 s"
        if (workerTimeout != null && workerTimeout < 1e-3) {
            throw new ZotuneException("key 'parallel.worker_timeout' must be at least 0.001 (seconds), got "
                    + workerTimeout);
        }
    }

    public DataParallelEngine.Split splitKind() {
        return RecordBinder.choice(DataParallelEngine.Split.class, split);
    }
}
