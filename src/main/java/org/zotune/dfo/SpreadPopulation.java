package org.zotune.dfo;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.zotune.ZotuneException;
import org.zotune.parallel.Shards;
import org.zotune.parallel.WorkerFailure;

/**
 * A generation's members spread over data-parallel workers (ALGORITHMS.md §10): worker k evaluates a contiguous run
 * of the candidates (the first λ mod N workers one more) with its own {@link PopulationLoss} on its own replica of
 * the frozen model, in parallel, and the losses are gathered in member order. On the CPU a member's loss does not
 * depend on which worker evaluated it or on which other members shared its forward, so the losses are those of one
 * batched forward over the whole generation (on GPUs see train/PopulationReplicas). A worker that throws or does not answer within the timeout stops the
 * generation with a {@link WorkerFailure} naming it; a worker that has not returned since is {@link #busy} (its
 * replica is abandoned, not closed under it).
 */
public final class SpreadPopulation implements PopulationLoss, AutoCloseable {
    private final List<PopulationLoss> workers;
    private final List<String> names; // a worker's name in failures, or null: "population worker k of n"
    private final ExecutorService pool;
    private final long timeoutMillis;
    private final AtomicIntegerArray busy; // 1 from a call's submission until the worker returns

    /**
     * @param workers        one population loss per worker, all over the same model, objective and subspace
     * @param timeoutSeconds how long a generation waits for a worker
     */
    public SpreadPopulation(List<PopulationLoss> workers, double timeoutSeconds) {
        this(workers, null, timeoutSeconds);
    }

    /**
     * @param workers        one population loss per worker, all over the same model, objective and subspace
     * @param names          each worker's name in a failure (e.g. "population GPU 1 of 2 (CUDA device 1)"), or null
     *                       for "population worker k of n"
     * @param timeoutSeconds how long a generation waits for a worker
     */
    public SpreadPopulation(List<PopulationLoss> workers, List<String> names, double timeoutSeconds) {
        if (names != null && names.size() != workers.size()) {
            throw new IllegalArgumentException(names.size() + " names for " + workers.size() + " workers");
        }
        if (workers.isEmpty()) {
            throw new ZotuneException("a spread population needs at least one worker");
        }
        for (PopulationLoss w : workers) {
            if (w.layers() != workers.get(0).layers() || w.dimension() != workers.get(0).dimension()) {
                throw new IllegalArgumentException("the workers' subspaces differ");
            }
        }
        this.workers = List.copyOf(workers);
        this.names = names == null ? null : List.copyOf(names);
        this.busy = new AtomicIntegerArray(workers.size());
        this.timeoutMillis = (long) Math.ceil(timeoutSeconds * 1000);
        this.pool = Executors.newFixedThreadPool(workers.size(), r -> {
            Thread t = new Thread(r, "zotune-population-worker");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public int layers() {
        return workers.get(0).layers();
    }

    @Override
    public int dimension() {
        return workers.get(0).dimension();
    }

    @Override
    public double[] losses(int layer, double[][] candidates, double[][] current) {
        int n = Math.min(workers.size(), candidates.length); // never a worker without a member
        List<Future<double[]>> parts = new ArrayList<>(n);
        for (int k = 0; k < n; k++) {
            int from = Shards.start(candidates.length, n, k);
            int to = Shards.start(candidates.length, n, k + 1);
            double[][] mine = java.util.Arrays.copyOfRange(candidates, from, to);
            PopulationLoss w = workers.get(k);
            int worker = k;
            busy.set(worker, 1);
            parts.add(pool.submit(() -> {
                try {
                    return w.losses(layer, mine, current);
                } finally {
                    busy.set(worker, 0);
                }
            }));
        }
        double[] out = new double[candidates.length];
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (int k = 0; k < n; k++) {
            int from = Shards.start(candidates.length, n, k);
            int to = Shards.start(candidates.length, n, k + 1);
            double[] part;
            try {
                part = parts.get(k).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                cancel(parts);
                Throwable c = e.getCause();
                throw new WorkerFailure(k, name(k, n) + " failed: "
                        + (c.getMessage() == null ? c.toString() : c.getMessage()));
            } catch (TimeoutException e) {
                cancel(parts);
                throw new WorkerFailure(k, name(k, n) + " did not answer within "
                        + timeoutMillis / 1000.0 + " s (hung or too slow)");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                cancel(parts);
                throw new ZotuneException("interrupted while the population workers ran");
            }
            if (part.length != to - from) {
                throw new IllegalStateException(name(k, n) + " returned " + part.length + " losses for "
                        + (to - from) + " members");
            }
            System.arraycopy(part, 0, out, from, part.length);
        }
        return out;
    }

    private String name(int k, int n) {
        return names != null ? names.get(k) : "population worker " + k + " of " + n;
    }

    /**
     * Whether worker {@code k} has not returned from its last call: after a failure, a worker that hangs (in a
     * device call, say) keeps running; its backend and weights must not be closed under it.
     */
    public boolean busy(int k) {
        return busy.get(k) != 0;
    }

    private static void cancel(List<? extends Future<?>> parts) {
        for (Future<?> f : parts) {
            f.cancel(true);
        }
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
