package org.zotune.train;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.SpreadPopulation;
import org.zotune.dfo.DfoAdapter;
import org.zotune.dfo.HiddenStatistics;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.Subspace;
import org.zotune.model.LanguageModel;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.Objective;

/**
 * A dfo run's population loss over its real model (ALGORITHMS.md §7): the run's {@link Subspace} (A maps scaled
 * from σ̂ on the first training batch, which is the whole k-shot training set) and the {@link BatchedPopulation} over
 * that same set, on the backend of the run's device, with the frozen base weights in float32. It owns the backend
 * and the base weights (close it). {@code --resume} builds it again from the same data and weights (the run folder
 * checks their fingerprints), so σ̂, the maps and every loss are the uninterrupted run's.
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
    private final List<AutoCloseable> extra = new java.util.ArrayList<>(); // the other workers' backends and weights
    private final SpreadPopulation spread; // parallel.workers > 1: the generation spread over CPU workers, else null

    private DfoModelLoss(Ops ops, Parameters base, DfoParts.Inputs in, PromptBatch train, Subspace subspace,
            String device) {
        this.ops = ops;
        this.base = base;
        this.baseHost = in.loaded().parameters();
        this.model = in.loaded().model();
        this.objective = in.objective();
        this.train = train;
        this.subspace = subspace;
        this.population = new BatchedPopulation(ops, model, base, objective, train, subspace);
        this.device = device;
        int workers = in.config().parallel().workers();
        if (workers > 1) {
            // worker 0 is this backend; the others get their own CPU backend and copy of the frozen weights
            List<PopulationLoss> all = new java.util.ArrayList<>(List.of(population));
            try {
                for (int k = 1; k < workers; k++) {
                    CpuOps cpu = new CpuOps();
                    extra.add(cpu);
                    Parameters p = cpu.createParameters(baseHost, DType.F32);
                    extra.add(p);
                    all.add(new BatchedPopulation(cpu, model, p, objective, train, subspace));
                }
            } catch (RuntimeException | Error e) {
                closeExtra();
                throw e;
            }
            this.spread = new SpreadPopulation(all, in.config().parallel().workerTimeout());
        } else {
            this.spread = null;
        }
    }

    /** The run's loss on its device (cpu, cuda, or auto: CUDA when usable, else the CPU; {@link #device()}). */
    public static DfoModelLoss create(DfoParts.Inputs in) {
        String device = in.config().device();
        int workers = in.config().parallel().workers();
        int gpus = in.config().parallel().gpus();
        if (gpus > 1) {
            throw new ZotuneException("parallel.gpus " + gpus + ": a dfo run spreads its population over CPU workers "
                    + "only so far (parallel.workers); use parallel.gpus 1");
        }
        if (workers > 1 && device.equals("cuda")) {
            throw new ZotuneException("parallel.workers " + workers + ": a dfo run spreads its population over CPU "
                    + "workers so far; use --device cpu or parallel.workers 1");
        }
        if (device.equals("auto")) {
            device = workers > 1 || !Cuda.availability().usable() ? "cpu" : "cuda";
        } else if (device.equals("cuda")) {
            ZoEngines.requireDevice(device);
        }
        Ops ops = Backends.create(device, DType.F32);
        Parameters base = null;
        try {
            LanguageModel model = in.loaded().model();
            base = ops.createParameters(in.loaded().parameters(), DType.F32);
            PromptBatch train = PromptBatch.of(in.data().train(), in.data().padId());
            TrainConfig.Dfo d = in.config().dfo();
            float[] embedding = in.loaded().parameters().get(HiddenStatistics.wordEmbedding(model)).toFloats();
            Subspace s = Subspace.forModel(ops, model, base, embedding, train.batch(), d.subspace(), d.rank(),
                    in.projectionSeed(), d.alpha(), d.sigma0());
            return new DfoModelLoss(ops, base, in, train, s, device);
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
        return spread != null ? spread.losses(layer, candidates, current)
                : population.losses(layer, candidates, current);
    }

    public Subspace subspace() {
        return subspace;
    }

    /** "cpu" or "cuda". */
    public String device() {
        return device;
    }

    /** The adapter at every layer's point {@code points} (A, B materialised). */
    public DfoAdapter adapter(double[][] points) {
        return DfoAdapter.of(subspace, points);
    }

    /** The objective's loss over the training set at {@code points} (null: z = 0, the base model). */
    public double trainLoss(double[][] points) {
        if (points == null) {
            return objective.loss(ops, model, base, train);
        }
        try (Parameters merged = merged(points)) {
            return objective.loss(ops, model, merged, train);
        }
    }

    /**
     * Accuracy, F1 and loss of {@code set} scored as the objective scores, at {@code points} (null: the base): the
     * result's weights are the base with every adapted matrix merged to W + B·A (scale 1).
     */
    public Trainer.Eval evaluate(double[][] points, List<EncodedExample> set, int batchSize, int padId) {
        if (points == null) {
            return eval(base, set, batchSize, padId);
        }
        try (Parameters merged = merged(points)) {
            return eval(merged, set, batchSize, padId);
        }
    }

    private Trainer.Eval eval(Parameters w, List<EncodedExample> set, int batchSize, int padId) {
        Evaluator.Result r = Evaluator.evaluate(ops, model, w, set, batchSize, padId, objective);
        return new Trainer.Eval(r.loss(), r.accuracy(), r.f1(), r.examples());
    }

    private Parameters merged(double[][] points) {
        if (points.length != layers()) {
            throw new ZotuneException("a result of " + points.length + " layers for a model of " + layers());
        }
        return ops.createParameters(adapter(points).merged(subspace, baseHost), DType.F32);
    }

    @Override
    public void close() {
        try {
            if (spread != null) {
                spread.close();
            }
            closeExtra();
            base.close();
        } finally {
            ops.close();
        }
    }

    private void closeExtra() {
        for (int i = extra.size() - 1; i >= 0; i--) {
            try {
                extra.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        extra.clear();
    }
}
