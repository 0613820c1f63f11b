package org.zotune.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.zip.CRC32C;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.parallel.Collective;
import org.zotune.parallel.CollectiveGroup;
import org.zotune.parallel.Shards;
import org.zotune.parallel.WorkerFailure;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.AdditiveObjective;
import org.zotune.train.objective.Objective;
import org.zotune.zo.optim.ZoStep;

/**
 * Data-parallel ZO (ALGORITHMS.md §10) over replica engines: every replica holds the same θ and runs the same step
 * t with the same seed s_t; each micro-batch is split by examples ({@link Shards}), replica k evaluates ℓ± on its
 * shard, and its objective adds the replicas' loss sums through a {@link Collective} before forming the loss, so
 * every replica gets the same ℓ±, the same g and applies the same update: the replicas stay bitwise identical (GPU
 * replicas add the pairs of a device loss that is a sum inside their captured step instead, with the same arithmetic:
 * {@code ZoEngines.gpuReplicas}, {@code DeviceZoStep.spreadOver}). That
 * is checked: the replicas' parameter checksums are compared every {@code checksumEvery} steps and on
 * {@link #verifyReplicas()} (before every checkpoint and at the end).
 * <p>Or ({@link Split#SAMPLES}) the q SPSA samples of a step are spread over the replicas instead: replica k
 * evaluates samples k, k + N, … on the whole batch, the replicas exchange their ℓ± ({@link ZoStep.SampleExchange}),
 * and every replica regenerates every sample's direction for the update: the same step as one engine's, bit for bit
 * (GPU replicas gather the ℓ± inside their captured step).
 * <p>A replica that throws, or that does not reach a collective within the timeout, stops the step with a
 * {@link WorkerFailure} naming its rank; the engine is then unusable and the run resumes from its last checkpoint.
 */
public final class DataParallelEngine implements ZoEngine {
    private final List<ZoEngine> replicas;
    private final List<Collective> members;
    private final CollectiveGroup group;
    private final ExecutorService pool;
    private final int checksumEvery;
    private final Split split;
    private final double timeoutSeconds;
    private WorkerFailure broken;
    private LengthBuckets buckets = LengthBuckets.NONE; // how far a shard keeps the batch's padding

    /** What the workers divide: each micro-batch's examples, or each step's SPSA samples. */
    public enum Split { BATCH, SAMPLES }

    /**
     * @param group         the workers' collectives (the engine closes it)
     * @param split         what the workers divide
     * @param objective     the run's objective
     * @param checksumEvery compare parameter checksums every N steps (0: only in {@link #verifyReplicas()})
     * @param replica       makes replica k's engine from its objective (batch split: the run's objective reducing
     *                      its sums over the group) and its sample exchange (samples split; null for batch)
     */
    public DataParallelEngine(CollectiveGroup group, double timeoutSeconds, Split split, Objective objective,
            int checksumEvery, BiFunction<Objective, ZoStep.SampleExchange, ZoEngine> replica) {
        this(group, timeoutSeconds, split, objective, checksumEvery, (rank, o, x) -> replica.apply(o, x));
    }

    /** Makes replica {@code rank}'s engine (e.g. on that rank's GPU). */
    public interface Replicas {
        ZoEngine create(int rank, Objective objective, ZoStep.SampleExchange exchange);
    }

    /** As the other constructor, with a factory that is told each replica's rank. */
    public DataParallelEngine(CollectiveGroup group, double timeoutSeconds, Split split, Objective objective,
            int checksumEvery, Replicas replica) {
        if (split == Split.BATCH && !(objective instanceof AdditiveObjective)) {
            group.close();
            throw new ZotuneException("parallel.workers " + group.size() + ": objective " + objective.name()
                    + " cannot be split over workers (its loss is not a sum over examples); use parallel.workers 1");
        }
        this.group = group;
        this.timeoutSeconds = timeoutSeconds;
        this.split = split;
        this.members = group.members();
        this.checksumEvery = checksumEvery;
        this.replicas = new ArrayList<>();
        try {
            for (Collective m : members) {
                replicas.add(split == Split.BATCH
                        ? replica.create(m.rank(), new ReducedObjective((AdditiveObjective) objective, m), null)
                        : replica.create(m.rank(), objective, new SampleSplit(m)));
            }
        } catch (RuntimeException e) {
            replicas.forEach(ZoEngine::close);
            group.close();
            throw e;
        }
        this.pool = Executors.newFixedThreadPool(members.size(), r -> {
            Thread t = new Thread(r, "zotune-worker");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * The run's length buckets (key pad_multiple): each shard keeps the columns up to its own rows' bucket rather than
     * its longest row, so its shape repeats (a GPU replica's captured step replays) as the batch's does.
     */
    public DataParallelEngine lengthBuckets(LengthBuckets b) {
        this.buckets = b;
        return this;
    }

    public int workers() {
        return replicas.size();
    }

    @Override
    public StepResult step(List<PromptBatch> microBatches) {
        requireHealthy();
        int n = replicas.size();
        List<List<PromptBatch>> shards = new ArrayList<>(n);
        for (int k = 0; k < n; k++) {
            List<PromptBatch> mine = new ArrayList<>(microBatches.size());
            Collective m = members.get(k); // its rank in the whole run: several processes hold one member each
            for (PromptBatch b : microBatches) {
                mine.add(split == Split.BATCH ? Shards.shard(b, m.rank(), m.worldSize(), buckets) : b);
            }
            shards.add(mine);
        }
        long t = stepsDone() + 1;
        boolean check = checksumEvery > 0 && t % checksumEvery == 0;
        List<StepResult> results = runAll(k -> {
            StepResult r = replicas.get(k).step(shards.get(k));
            if (check) {
                compareChecksums(members.get(k), replicas.get(k), "step " + t);
            }
            return r;
        });
        StepResult first = results.get(0);
        for (int k = 1; k < n; k++) {
            StepResult r = results.get(k);
            if (!Arrays.equals(first.lossPlus(), r.lossPlus()) || !Arrays.equals(first.lossMinus(), r.lossMinus())
                    || !Arrays.equals(first.projectedGradient(), r.projectedGradient())
                    || first.skipped() != r.skipped()) {
                throw fail(new ZotuneException("data-parallel replicas diverged at step " + t + ": rank " + k
                        + " saw l+ " + Arrays.toString(r.lossPlus()) + ", rank 0 " + Arrays.toString(first.lossPlus())));
            }
        }
        return first;
    }

    /** Compares every replica's parameter checksum (all replicas must hold the same bits); throws naming the ranks. */
    @Override
    public void verifyReplicas() {
        requireHealthy();
        runAll(k -> {
            compareChecksums(members.get(k), replicas.get(k), "step " + replicas.get(k).stepsDone());
            return null;
        });
    }

    /** CRC32C over θ's float bits, in the trainable set's order. */
    static long checksum(List<HostTensor> parameters) {
        CRC32C crc = new CRC32C();
        for (HostTensor h : parameters) {
            update(crc, h.toFloats());
        }
        return crc.getValue();
    }

    /** Feeds these values' float32 bits (little-endian) to the checksum: {@link #checksum} is these over θ in order. */
    static void update(CRC32C crc, float[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(v);
        crc.update(buf);
    }

    private static void compareChecksums(Collective c, ZoEngine replica, String when) {
        long[][] all = c.allGather(new long[] {replica.parameterChecksum()});
        for (int r = 1; r < all.length; r++) {
            if (all[r][0] != all[0][0]) {
                throw new WorkerFailure(r, "data-parallel replicas differ at " + when + ": rank " + r
                        + "'s parameter checksum " + Long.toHexString(all[r][0]) + " != rank 0's "
                        + Long.toHexString(all[0][0]));
            }
        }
    }

    private interface Task<T> {
        T run(int rank);
    }

    /** Runs the task on every worker in parallel; the first failure aborts the group and is thrown, naming its rank. */
    private <T> List<T> runAll(Task<T> task) {
        int n = replicas.size();
        List<Future<T>> futures = new ArrayList<>(n);
        for (int k = 0; k < n; k++) {
            int rank = k;
            futures.add(pool.submit(() -> {
                try {
                    return task.run(rank);
                } catch (RuntimeException | Error e) {
                    members.get(rank).abort(e);
                    throw e;
                }
            }));
        }
        List<T> out = new ArrayList<>(n);
        RuntimeException first = null;
        long waitMillis = (long) Math.ceil(timeoutSeconds * 1000) + 1000;
        for (int k = 0; k < n; k++) {
            try {
                // a healthy group always finishes: a worker waits at most the timeout at any collective
                out.add(first == null ? futures.get(k).get() : futures.get(k).get(waitMillis, TimeUnit.MILLISECONDS));
            } catch (ExecutionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException re ? re
                        : new ZotuneException("worker rank " + k + " failed: " + e.getCause(), e.getCause());
                if (first == null) {
                    first = cause;
                }
            } catch (TimeoutException e) {
                futures.get(k).cancel(true); // the worker hangs outside any collective; it is abandoned
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw fail(new ZotuneException("interrupted while the data-parallel workers ran"));
            }
        }
        if (first != null) {
            WorkerFailure root = group.failure();
            throw fail(root != null ? root : first);
        }
        return out;
    }

    private RuntimeException fail(RuntimeException e) {
        if (broken == null) {
            broken = e instanceof WorkerFailure w ? w : new WorkerFailure(-1, e.getMessage());
        }
        return e;
    }

    private void requireHealthy() {
        if (broken != null) {
            throw new ZotuneException("the data-parallel workers stopped earlier (" + broken.getMessage()
                    + "); resume the run from its last checkpoint");
        }
    }

    @Override
    public long stepsDone() {
        return replicas.get(0).stepsDone();
    }

    @Override
    public <R> R evaluate(Evaluation<R> evaluation) {
        requireHealthy();
        return replicas.get(0).evaluate(evaluation);
    }

    @Override
    public List<HostTensor> exportParameters() {
        return replicas.get(0).exportParameters();
    }

    @Override
    public <R> R withParameters(java.util.function.Function<List<HostTensor>, R> use) {
        return replicas.get(0).withParameters(use);
    }

    @Override
    public long parameterChecksum() {
        return replicas.get(0).parameterChecksum();
    }

    @Override
    public long skippedSteps() {
        return replicas.get(0).skippedSteps();
    }

    @Override
    public State state() {
        return replicas.get(0).state();
    }

    @Override
    public Lease<State> lendState() {
        return replicas.get(0).lendState();
    }

    @Override
    public void restore(State state) {
        for (ZoEngine r : replicas) {
            r.restore(state);
        }
    }

    @Override
    public String device() {
        return replicas.get(0).device();
    }

    @Override
    public long graphCaptures() {
        return replicas.get(0).graphCaptures();
    }

    @Override
    public void close() {
        pool.shutdownNow();
        try {
            for (ZoEngine r : replicas) {
                r.close();
            }
        } finally {
            group.close();
        }
    }

    /** Sample k is evaluated by worker k mod N; the workers' ℓ± travel as float bits, so nothing is rounded. */
    private record SampleSplit(Collective collective) implements ZoStep.SampleExchange {
        @Override
        public boolean evaluates(int sample) {
            return sample % collective.worldSize() == collective.rank();
        }

        @Override
        public void exchange(float[] lossPlus, float[] lossMinus) {
            int q = lossPlus.length;
            long[] mine = new long[2 * q];
            for (int k = 0; k < q; k++) {
                mine[k] = Float.floatToRawIntBits(lossPlus[k]);
                mine[q + k] = Float.floatToRawIntBits(lossMinus[k]);
            }
            long[][] all = collective.allGather(mine);
            for (int k = 0; k < q; k++) {
                long[] owner = all[k % collective.worldSize()];
                lossPlus[k] = Float.intBitsToFloat((int) owner[k]);
                lossMinus[k] = Float.intBitsToFloat((int) owner[q + k]);
            }
        }
    }

    /** The run's objective on one worker's shard, its sums added over the workers before the loss is formed. */
    private record ReducedObjective(AdditiveObjective objective, Collective collective) implements Objective {
        @Override
        public String name() {
            return objective.name();
        }

        @Override
        public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
            double[] sums = objective.sums(ops, model, weights, batch);
            collective.allReduceSum(sums);
            return objective.fromSums(sums);
        }
    }
}
