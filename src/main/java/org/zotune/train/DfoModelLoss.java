package org.zotune.train;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.DfoAdapter;
import org.zotune.dfo.HiddenStatistics;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.Subspace;
import org.zotune.model.LanguageModel;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Dfo;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.Objective;

/**
 * A dfo run's population loss over its real model (ALGORITHMS.md §7): the run's {@link Subspace} (A maps scaled
 * from σ̂ on the first training batch, which is the whole k-shot training set) and the {@link BatchedPopulation} over
 * that same set, on the backend of the run's device in the run's {@code dtype} (f32, bf16 or f16: the compute type, the
 * frozen base weights, σ̂ and the evaluations; the population's factors are rounded once to it, the search itself stays
 * in double). It owns the backend
 * and the base weights (close it). {@code --resume} builds it again from the same data and weights (the run folder
 * checks their fingerprints), so σ̂, the maps and every loss are the uninterrupted run's. With
 * {@code parallel.workers} or {@code parallel.gpus} N > 1 each generation's members are divided over N replicas of
 * the frozen model ({@link PopulationReplicas}); σ̂, the evaluations and the export stay on replica 0's backend.
 */
public final class DfoModelLoss implements PopulationLoss, AutoCloseable {
    private final Ops ops;
    private final Parameters base;
    private final List<HostTensor> baseHost;
    private final LanguageModel model;
    private final Objective objective;
    private final PromptBatch train;
    private final Subspace subspace;
    private final BatchedPopulation population;
    private final String device;
    private final int[] gpus; // the CUDA devices of the replicas, or null (one backend, or CPU workers)
    private final PopulationReplicas replicas; // the generation spread over workers or GPUs, or null

    private DfoModelLoss(Ops ops, Parameters base, DfoParts.Inputs in, PromptBatch train, Subspace subspace,
            String device, int[] gpus) {
        this.ops = ops;
        this.base = base;
        this.baseHost = in.loaded().parameters();
        this.model = in.loaded().model();
        this.objective = in.objective();
        this.train = train;
        this.subspace = subspace;
        this.population = new BatchedPopulation(ops, model, base, objective, train, subspace);
        this.device = device;
        this.gpus = gpus == null ? null : gpus.clone();
        int workers = in.config().parallel().workers();
        double timeout = in.config().parallel().workerTimeout();
        if (gpus != null && gpus.length > 1) {
            // replica 0 is this backend on gpus[0]; the others get their own CUDA backend and copy of the weights
            this.replicas = new PopulationReplicas(PopulationReplicas.CUDA, gpus, population, model, baseHost,
                    objective, train, subspace, in.config().paramDType(), timeout);
        } else if (workers > 1) {
            // worker 0 is this backend; the others get their own CPU backend and copy of the frozen weights
            this.replicas = new PopulationReplicas(PopulationReplicas.CPU, new int[workers], population, model,
                    baseHost, objective, train, subspace, in.config().paramDType(), timeout);
        } else {
            this.replicas = null;
        }
    }

    /**
     * The run's loss on its device (cpu, cuda, or auto: CUDA when usable, else the CPU; {@link #device()}); with
     * {@code parallel.gpus} N > 1, each generation spread over the CUDA devices 0 … N − 1.
     */
    public static DfoModelLoss create(DfoParts.Inputs in) {
        int n = in.config().parallel().gpus();
        if (n <= 1) {
            return create(in, null);
        }
        requireGpus(in.config(), -1); // what no machine could run, before CUDA is asked
        Cuda.Availability a = Cuda.availability();
        if (!a.usable()) {
            throw new ZotuneException("parallel.gpus " + n + ": no usable CUDA device (" + a.reason() + ")");
        }
        requireGpus(in.config(), Cuda.deviceCount());
        int[] devices = new int[n];
        for (int k = 0; k < n; k++) {
            devices[k] = k;
        }
        return create(in, devices);
    }

    /**
     * Fails with one line when {@code parallel.gpus} cannot spread this dfo run's population: CPU workers as well,
     * device cpu, fewer members than GPUs, or ({@code present} ≥ 0) more GPUs than present.
     */
    static void requireGpus(TrainConfig c, int present) {
        int n = c.parallel().gpus();
        if (n <= 1) {
            return;
        }
        String key = "parallel.gpus " + n;
        if (c.parallel().workers() > 1) {
            throw new ZotuneException(key + " and parallel.workers " + c.parallel().workers() + ": choose GPU "
                    + "replicas or CPU workers, not both");
        }
        if (c.device().equals("cpu")) {
            throw new ZotuneException(key + ": GPU replicas need device cuda (or auto); device is cpu");
        }
        int lambda = c.dfo().population();
        if (lambda < n) {
            throw new ZotuneException(key + ": dfo.population " + lambda + " gives some GPU no member; use "
                    + "parallel.gpus <= " + lambda);
        }
        if (present >= 0 && n > present) {
            throw new ZotuneException(key + ": only " + present + " CUDA device" + (present == 1 ? " is" : "s are")
                    + " present (CUDA_VISIBLE_DEVICES chooses which); use parallel.gpus <= " + present);
        }
    }

    /**
     * @param gpus null (the run's device; CPU workers when parallel.workers > 1), or the CUDA devices each generation
     *             is spread over, replica k on {@code gpus[k]}: 0 … N − 1 for parallel.gpus N; tests also name a
     *             device twice ([0, 0]: two replicas on one GPU), which is no user option
     */
    static DfoModelLoss create(DfoParts.Inputs in, int[] gpus) {
        String device = in.config().device();
        int workers = in.config().parallel().workers();
        if (gpus != null) {
            if (gpus.length == 0 || workers > 1 || device.equals("cpu")) {
                throw new IllegalArgumentException("GPU replicas " + java.util.Arrays.toString(gpus) + " need device "
                        + "cuda (or auto) and parallel.workers 1");
            }
            if (in.config().dfo().population() < gpus.length) {
                throw new ZotuneException("dfo.population " + in.config().dfo().population() + " gives some of the "
                        + gpus.length + " GPUs no member");
            }
            ZoEngines.requireDevice("cuda");
            device = "cuda";
            Cuda.useDevice(gpus[0]); // replica 0 (this backend: σ̂, the evaluations) lives there
        } else if (workers > 1 && device.equals("cuda")) {
            throw new ZotuneException("parallel.workers " + workers + ": a dfo run spreads its population over CPU "
                    + "workers, or over GPUs with parallel.gpus; use --device cpu or parallel.workers 1");
        }
        if (device.equals("auto")) {
            device = workers > 1 || !Cuda.availability().usable() ? "cpu" : "cuda";
        } else if (device.equals("cuda")) {
            ZoEngines.requireDevice(device);
        }
        DType dtype = in.config().paramDType();
        Ops ops = Backends.create(device, dtype);
        Parameters base = null;
        try {
            LanguageModel model = in.loaded().model();
            base = ops.createParameters(in.loaded().parameters(), dtype);
            PromptBatch train = PromptBatch.of(in.data().train(), in.data().padId());
            Dfo d = in.config().dfo();
            float[] embedding = in.loaded().parameters().get(HiddenStatistics.wordEmbedding(model)).toFloats();
            Subspace s = Subspace.forModel(ops, model, base, embedding, train.batch(), d.subspace(), d.rank(),
                    in.projectionSeed(), d.alpha(), d.sigma0());
            return new DfoModelLoss(ops, base, in, train, s, device, gpus);
        } catch (RuntimeException | Error e) {
            if (base != null) {
                base.close();
            }
            ops.close();
            throw e;
        }
    }

    @Override
    public int layers() {
        return population.layers();
    }

    @Override
    public int dimension() {
        return population.dimension();
    }

    @Override
    public double[] losses(int layer, double[][] candidates, double[][] current) {
        if (replicas != null) {
            return replicas.losses(layer, candidates, current);
        }
        enter();
        return population.losses(layer, candidates, current);
    }

    public Subspace subspace() {
        return subspace;
    }

    /** "cpu" or "cuda". */
    public String device() {
        return device;
    }

    /** The run's compute type: the base weights, the forwards and the factors ({@code dtype}). */
    public DType dtype() {
        return ops.computeType();
    }

    /** How generations run on replica 0 ({@link BatchedPopulation#generations}), for the run's log. */
    public String generations() {
        return population.generations();
    }

    /** The CUDA devices each generation is spread over (replica k's at k), or an empty array. */
    public int[] gpus() {
        return gpus == null || gpus.length < 2 ? new int[0] : gpus.clone();
    }

    /** The adapter at every layer's point {@code points} (A, B materialised). */
    public DfoAdapter adapter(double[][] points) {
        return DfoAdapter.of(subspace, points);
    }

    /** The objective's loss over the training set at {@code points} (null: z = 0, the base model). */
    public double trainLoss(double[][] points) {
        enter();
        if (points == null) {
            return objective.loss(ops, model, base, train);
        }
        try (Parameters merged = merged(points)) {
            return objective.loss(ops, model, merged, train);
        }
    }

    /**
     * Accuracy, F1 and loss of {@code set} scored as the objective scores, at {@code points} (null: the base): the
     * result's weights are the base with every adapted matrix merged to W + B·A (scale 1); {@code progress} is told
     * the examples scored after each batch.
     */
    public Trainer.Eval evaluate(double[][] points, List<EncodedExample> set, int batchSize, int padId,
            java.util.function.IntConsumer progress) {
        enter();
        if (points == null) {
            return eval(base, set, batchSize, padId, progress);
        }
        try (Parameters merged = merged(points)) {
            return eval(merged, set, batchSize, padId, progress);
        }
    }

    /** The calling thread on replica 0's device (its backend was made there). */
    private void enter() {
        if (gpus != null) {
            Cuda.useDevice(gpus[0]);
        }
    }

    private Trainer.Eval eval(Parameters w, List<EncodedExample> set, int batchSize, int padId,
            java.util.function.IntConsumer progress) {
        Evaluator.Result r = Evaluator.evaluate(ops, model, w, set, batchSize, padId, objective, progress);
        return new Trainer.Eval(r.loss(), r.accuracy(), r.f1(), r.examples());
    }

    private Parameters merged(double[][] points) {
        if (points.length != layers()) {
            throw new ZotuneException("a result of " + points.length + " layers for a model of " + layers());
        }
        // W + B·A in float32, rounded once to the run's dtype as the base was
        return ops.createParameters(adapter(points).merged(subspace, baseHost), ops.computeType());
    }

    @Override
    public void close() {
        boolean hung = false;
        try {
            if (replicas != null) {
                hung = replicas.abandoned(0);
                replicas.close();
            }
        } finally {
            if (!hung) { // replica 0 hung in a call still running: its memory is left to the process's exit
                enter();
                try {
                    population.close(); // its graph and device buffers, before the backend
                } finally {
                    try {
                        base.close();
                    } finally {
                        ops.close();
                    }
                }
            }
        }
    }
}
