package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.SpreadPopulation;
import org.zotune.dfo.Subspace;
import org.zotune.model.LanguageModel;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * A dfo generation spread over replicas of the frozen model (ALGORITHMS.md §10): replica k lives on {@code devices[k]}
 * (a CPU worker, or a CUDA device for {@code parallel.gpus}) with its own backend and copy of the base weights in
 * the run's dtype (replica 0's), and evaluates its contiguous block of the λ members with the batched population forward
 * ({@link BatchedPopulation}); {@link SpreadPopulation} runs the blocks in parallel and gathers the losses on the host
 * in member order. Replica 0 is the caller's (its backend and weights stay the caller's). No collective is needed:
 * every member's loss is one scalar that returns to the host anyway, where the search runs.
 *
 * <p>Each replica's work runs on a pool thread, so every call first makes its device the thread's
 * ({@link Where#use}, {@link Cuda#useDevice}); creation and closing happen on the replica's device too, and the
 * calling thread is left on {@code devices[0]}. A replica whose worker failed and has not returned (a hung device
 * call) is abandoned: its memory is not freed under it (the process's exit frees it).
 */
final class PopulationReplicas implements PopulationLoss, AutoCloseable {
    /** Where replicas live: how a thread enters a device, how a backend is made there, how a replica is named. */
    interface Where {
        /** Makes {@code device} the calling thread's. */
        void use(int device);

        /** A backend computing in {@code type} on the calling thread's device. */
        Ops create(DType type);

        /** Replica {@code k} of {@code n} on {@code device} as a failure names it, or null for the CPU's default. */
        String name(int k, int n, int device);
    }

    /** CPU workers: nothing to enter, a {@link CpuOps} each, named "population worker k of n". */
    static final Where CPU = new Where() {
        @Override
        public void use(int device) {
        }

        @Override
        public Ops create(DType type) {
            return new CpuOps(type);
        }

        @Override
        public String name(int k, int n, int device) {
            return null;
        }
    };

    /** CUDA devices: {@link Cuda#useDevice} per call, a {@link CudaOps} each, named by rank and device. */
    static final Where CUDA = new Where() {
        @Override
        public void use(int device) {
            Cuda.useDevice(device);
        }

        @Override
        public Ops create(DType type) {
            return CudaOps.create(type);
        }

        @Override
        public String name(int k, int n, int device) {
            return "population GPU " + k + " of " + n + " (CUDA device " + device + ")";
        }
    };

    private final Where where;
    private final int[] devices;
    private final List<Ops> backends = new ArrayList<>(); // replica k ≥ 1's backend at k − 1
    private final List<Parameters> weights = new ArrayList<>(); // and its base weights
    private final List<BatchedPopulation> populations = new ArrayList<>(); // and its population (a CUDA graph's owner)
    private final SpreadPopulation spread;

    /**
     * @param first   replica 0: the caller's batched population on {@code devices[0]} (the calling thread's device)
     * @param base    the frozen weights each further replica copies (as loaded; rounded to {@code dtype})
     * @param dtype   the compute type of every replica and of its base weights: replica 0's (the run's dtype)
     * @param timeout seconds a generation waits for a replica ({@code parallel.worker_timeout})
     */
    PopulationReplicas(Where where, int[] devices, BatchedPopulation first, LanguageModel model,
            List<HostTensor> base, Objective objective, PromptBatch train, Subspace subspace, DType dtype,
            double timeout) {
        this.where = where;
        this.devices = devices.clone();
        int n = devices.length;
        List<PopulationLoss> all = new ArrayList<>(List.of(onDevice(devices[0], first)));
        List<String> names = new ArrayList<>();
        names.add(where.name(0, n, devices[0]));
        try {
            for (int k = 1; k < n; k++) {
                Ops ops;
                Parameters p;
                try {
                    where.use(devices[k]);
                    ops = where.create(dtype);
                    backends.add(ops);
                    p = ops.createParameters(base, dtype);
                    weights.add(p);
                } catch (RuntimeException e) {
                    String name = where.name(k, n, devices[k]);
                    throw new ZotuneException((name != null ? name : "population worker " + k + " of " + n)
                            + ": its replica of the model could not be made: " + e.getMessage(), e);
                }
                BatchedPopulation pop = new BatchedPopulation(ops, model, p, objective, train, subspace);
                populations.add(pop);
                all.add(onDevice(devices[k], pop));
                names.add(where.name(k, n, devices[k]));
            }
        } catch (RuntimeException | Error e) {
            closeReplicas(null);
            where.use(devices[0]);
            throw e;
        }
        where.use(devices[0]);
        this.spread = new SpreadPopulation(all, names.get(0) == null ? null : names, timeout);
    }

    /** A replica's loss from any thread: its device entered first. */
    private PopulationLoss onDevice(int device, PopulationLoss loss) {
        return new PopulationLoss() {
            @Override
            public int layers() {
                return loss.layers();
            }

            @Override
            public int dimension() {
                return loss.dimension();
            }

            @Override
            public double[] losses(int layer, double[][] candidates, double[][] current) {
                where.use(device);
                return loss.losses(layer, candidates, current);
            }
        };
    }

    @Override
    public int layers() {
        return spread.layers();
    }

    @Override
    public int dimension() {
        return spread.dimension();
    }

    @Override
    public double[] losses(int layer, double[][] candidates, double[][] current) {
        return spread.losses(layer, candidates, current);
    }

    /** Whether replica {@code k} still runs a call after a failure (hung): the caller must not close replica 0's. */
    boolean abandoned(int k) {
        return spread != null && spread.busy(k);
    }

    /** The replicas' devices, replica k's at k. */
    int[] devices() {
        return devices.clone();
    }

    /** Closes the replicas this made (not replica 0), each on its device; leaves the calling thread on devices[0]. */
    @Override
    public void close() {
        spread.close();
        closeReplicas(spread);
        where.use(devices[0]);
    }

    private void closeReplicas(SpreadPopulation running) {
        RuntimeException first = null;
        for (int i = backends.size() - 1; i >= 0; i--) {
            int k = i + 1;
            if (running != null && running.busy(k)) {
                continue; // abandoned: a hung call may still use its memory
            }
            try {
                where.use(devices[k]);
                if (i < populations.size()) {
                    populations.get(i).close();
                }
                if (i < weights.size()) {
                    weights.get(i).close();
                }
                backends.get(i).close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        backends.clear();
        weights.clear();
        populations.clear();
        if (first != null) {
            throw first;
        }
    }
}
