package org.zotune.train;

import java.io.PrintWriter;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.parallel.InProcessGroup;
import org.zotune.parallel.NcclGroup;
import org.zotune.parallel.NcclLibrary;
import org.zotune.peft.Adapter;
import org.zotune.peft.Lora;
import org.zotune.peft.Prefix;
import org.zotune.peft.TrainableSet;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Parallel;
import org.zotune.train.config.Peft;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * Picks the engine for a run's {@code device}: {@code cpu} the reference {@link CpuZoEngine}; {@code cuda} the GPU
 * engine ({@link CudaZoEngine}), failing with one line when no device is usable; {@code auto} the GPU when
 * {@link Cuda#availability()} says one is usable, else the CPU, saying which in one log line.
 */
public final class ZoEngines {
    /** {@code -Dzotune.train.graph=false}: eager steps even where the captured step applies (debugging). */
    static final String GRAPH_PROPERTY = "zotune.train.graph";
    /** The first NCCL version whose collectives CUDA graphs capture (2.9.0). */
    static final int GRAPH_NCCL = 20900;

    private ZoEngines() {
    }

    /** The ZoStep settings of a run. */
    public static ZoStep.Config stepConfig(TrainConfig c) {
        return new ZoStep.Config(c.eps(), c.q(), c.strategy(), c.gradAccumulation(), c.maxBadSteps(), c.paramDType(),
                c.seed());
    }

    /**
     * Whether a run of {@code c} trains on the CUDA engine, as {@link #create} picks it: device cpu and CPU workers do
     * not, ranks of a run over several processes, GPU replicas and device cuda do, device auto does when a CUDA
     * device is usable. (A part of the weights trains on the CPU engine only, and is refused on CUDA before a run.)
     */
    public static boolean trainsOnCuda(TrainConfig c) {
        if (c.deviceKind() == TrainConfig.Device.CPU) {
            return false; // GPU replicas or processes on device cpu are refused before a run, naming the key
        }
        Parallel par = c.parallel();
        if (par.worldSize() > 1 || par.init() != null) {
            return RankEngines.standIn == null; // the stand-in of CPU tests runs CPU engines
        }
        if (par.gpus() > 1) {
            return true;
        }
        if (par.workers() > 1) {
            return false;
        }
        return switch (c.deviceKind()) {
            case CUDA -> true;
            case CPU -> false;
            case AUTO -> Cuda.availability().usable();
        };
    }

    /**
     * {@code c} with key noise resolved for the engine it trains on ({@link TrainConfig#noiseVariant}): what a run
     * records in run.json and in its trajectory's header, and what --resume compares. A one-line error for fast on
     * the CPU engine.
     */
    public static TrainConfig resolveNoise(TrainConfig c) {
        return c.withNoise(c.noiseVariant(trainsOnCuda(c)));
    }

    /**
     * {@code c} with key pad_multiple resolved for the engine it trains on ({@link TrainConfig#padMultiple}): what a
     * run records in run.json and what --resume compares.
     */
    public static TrainConfig resolvePadMultiple(TrainConfig c) {
        return c.withPadMultiple(c.padMultiple(trainsOnCuda(c)));
    }

    /**
     * The length buckets of {@code c}'s training batches on the engine it trains on: key pad_multiple, at most
     * max_length and the model's positions.
     */
    public static LengthBuckets lengthBuckets(TrainConfig c, ModelConfig model) {
        int offset = model.encoder() == null ? 0 : model.encoder().positionOffset();
        return c.lengthBuckets(trainsOnCuda(c), model.maxPositions() - offset);
    }

    /** Fails with one line when {@code device} is cuda and no CUDA device is usable (before any file is written). */
    public static void requireDevice(String device) {
        if (device.equals("cuda")) {
            Cuda.Availability a = Cuda.availability();
            if (!a.usable()) {
                throw new ZotuneException("device cuda: no usable CUDA device (" + a.reason() + "); use --device "
                        + "cpu, or auto to fall back to the CPU");
            }
        }
    }

    /**
     * The run's LoRA set over {@code model} (targets checked against its architecture, one line naming the valid
     * ones), or null when every weight trains (peft.method full).
     */
    public static Lora lora(TrainConfig c, LanguageModel model) {
        Peft p = c.peft();
        if (p.methodKind() != Peft.Method.LORA) {
            return null;
        }
        ModelFamily f = model.config().family();
        return Lora.of(f.architecture(), f.hfModelType(), model.params(), p.r(), p.alpha(), p.targets());
    }

    /**
     * Fails with one line when the run asks for several data-parallel workers where they cannot run: the workers are
     * CPU replicas (GPU replicas are {@code parallel.gpus}, checked here too), each needs at least one example of every
     * micro-batch.
     */
    public static void requireWorkers(TrainConfig c) {
        requireGpuConfig(c);
        int n = c.parallel().workers();
        if (n <= 1) {
            return;
        }
        if (c.device().equals("cuda")) {
            throw new ZotuneException("parallel.workers " + n + ": data-parallel workers are CPU replicas; on GPUs use "
                    + "parallel.gpus (--gpus), or --device cpu");
        }
        if (c.parallel().splitKind() == DataParallelEngine.Split.SAMPLES) {
            if (c.q() < n) {
                throw new ZotuneException("parallel.split samples: q " + c.q() + " gives some of the " + n
                        + " workers no SPSA sample; use q >= workers or split batch");
            }
            return;
        }
        if (c.objective().equals("f1")) {
            throw new ZotuneException("parallel.workers " + n + ": objective f1 cannot be split over workers (F1 is "
                    + "not a sum over examples); use objective accuracy or parallel.workers 1");
        }
        if (c.batchSize() < n) {
            throw new ZotuneException("parallel.workers " + n + ": batch_size " + c.batchSize() + " gives some worker "
                    + "no example; use batch_size >= workers");
        }
    }

    /** Fails with one line when the run's processes cannot run here ({@link RankEngines#require}). */
    public static void requireProcesses(TrainConfig c) {
        RankEngines.require(c);
    }

    /** The refusals of {@code parallel.gpus} that need no device: what cannot run on several GPUs at all. */
    static void requireGpuConfig(TrainConfig c) {
        Parallel p = c.parallel();
        int n = p.gpus();
        if (n <= 1) {
            return;
        }
        String key = "parallel.gpus " + n;
        if (p.workers() > 1) {
            throw new ZotuneException(key + " and parallel.workers " + p.workers() + ": choose GPU replicas or CPU "
                    + "workers, not both");
        }
        if (c.device().equals("cpu")) {
            throw new ZotuneException(key + ": GPU replicas need device cuda (or auto); device is cpu");
        }
        if (p.splitKind() == DataParallelEngine.Split.SAMPLES) {
            if (c.q() < n) {
                throw new ZotuneException(key + ": parallel.split samples: q " + c.q() + " gives some of the " + n
                        + " GPUs no SPSA sample; use q >= gpus or split batch");
            }
            return; // every GPU has the whole batch: any objective
        }
        if (c.objective().equals("f1")) {
            throw new ZotuneException(key + ": objective f1 cannot be split over GPUs (F1 is not a sum over "
                    + "examples); use objective accuracy or parallel.gpus 1");
        }
        if (c.batchSize() < n) {
            throw new ZotuneException(key + ": batch_size " + c.batchSize() + " gives some GPU no example; use "
                    + "batch_size >= gpus");
        }
    }

    /**
     * Fails with one line when {@code parallel.gpus} asks for more GPUs than this machine has, or for GPUs where
     * CUDA is not usable (before any file is written).
     */
    public static void requireGpus(TrainConfig c) {
        int n = c.parallel().gpus();
        if (n > 1) {
            Cuda.Availability a = Cuda.availability();
            if (!a.usable()) {
                throw new ZotuneException("parallel.gpus " + n + ": no usable CUDA device (" + a.reason() + ")");
            }
            requireGpus(c, Cuda.deviceCount());
            NcclLibrary.load(); // one line saying where it looked when NCCL is missing
        }
    }

    /** {@link #requireGpus(TrainConfig)} with {@code present} CUDA devices. */
    static void requireGpus(TrainConfig c, int present) {
        requireGpuConfig(c);
        int n = c.parallel().gpus();
        if (n > present) {
            throw new ZotuneException("parallel.gpus " + n + ": only " + present + " CUDA device"
                    + (present == 1 ? " is" : "s are") + " present (CUDA_VISIBLE_DEVICES chooses which); use "
                    + "parallel.gpus <= " + present);
        }
    }

    /**
     * Fails with one line when {@code parallel.workers} replicas cannot fit the JVM's heap: each CPU replica holds its
     * own copy of the model's weights (in the run's dtype) besides the loaded model, so (workers + 1) copies are a
     * lower bound of what the run needs; beyond -Xmx the run would end in an OutOfMemoryError mid-start.
     */
    public static void requireWorkerMemory(TrainConfig c, LanguageModel model) {
        int n = c.parallel().workers();
        if (n <= 1) {
            return;
        }
        long bytes = 0;
        for (ParamSpec s : model.params()) {
            bytes += s.numel() * c.paramDType().bytes();
        }
        long heap = Runtime.getRuntime().maxMemory();
        if ((n + 1.0) * bytes > heap) {
            throw new ZotuneException("parallel.workers " + n + ": " + n + " CPU replicas of the model's "
                    + mib(bytes) + " MiB of weights (and the model itself) need more than the JVM's " + mib(heap)
                    + " MiB heap; use fewer workers or raise -Xmx (JAVA_OPTS)");
        }
    }

    private static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }

    /**
     * The run's adapter over {@code model}: its LoRA set ({@link #lora}), its prefix (p + max_length checked against
     * the model's positions), or null when every weight trains.
     */
    public static Adapter adapter(TrainConfig c, LanguageModel model) {
        if (c.peft().methodKind() == Peft.Method.PREFIX) {
            return Prefix.of(model.config(), c.peft().tokens(), c.maxLength());
        }
        return lora(c, model);
    }

    /**
     * Fails with one line when the run's device has no engine for its trainable set (before any file is written).
     * Every adapter trains on both engines now (LoRA through Ops.loraWeight, prefix tuning through the attention's
     * key/value prefix, float32 over any base dtype): the check stays the one place a new kind would be refused.
     */
    public static void requireEngine(TrainConfig c, Adapter adapter) {
        if (adapter != null && !(adapter instanceof Lora) && !(adapter instanceof Prefix)) {
            throw new ZotuneException("peft.method " + adapter.method() + ": no engine trains it");
        }
    }

    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Objective objective,
            PrintWriter log) {
        return create(c, model, initial, adapter(c, model), objective, log);
    }

    /** @param adapter the run's adapter ({@link #adapter}: LoRA, prefix), or null for full fine-tuning */
    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            Objective objective, PrintWriter log) {
        return create(c, model, initial, adapter, null, objective, log);
    }

    /**
     * @param adapter   the run's adapter ({@link #adapter}), or null
     * @param trainable without an adapter, which model parameters train (null: all): on the CPU or one GPU
     */
    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective, PrintWriter log) {
        ZoEngine e = engine(c, model, initial, adapter, trainable, objective, log);
        if (e instanceof DataParallelEngine dp) {
            dp.lengthBuckets(lengthBuckets(c, model.config())); // shards keep their rows' bucket
        }
        return e;
    }

    private static ZoEngine engine(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective, PrintWriter log) {
        requireEngine(c, adapter);
        Parallel par = c.parallel();
        if (par.worldSize() > 1 || par.init() != null) { // one rank with an init: the same path (tests it on one GPU)
            return RankEngines.create(c, model, initial, adapter, trainable, objective, log);
        }
        if (par.gpus() > 1) {
            requireGpus(c);
            return gpus(c, model, initial, adapter, trainable, objective, log);
        }
        if (par.workers() > 1) {
            requireWorkers(c);
            log.println("parallel: " + par.workers() + " data-parallel CPU workers splitting the "
                    + (par.splitKind() == DataParallelEngine.Split.BATCH ? "batch" : "SPSA samples")
                    + " (checksums every " + par.checksumEvery() + " steps)");
            InProcessGroup group = new InProcessGroup(par.workers(), par.workerTimeout());
            return new DataParallelEngine(group, par.workerTimeout(), par.splitKind(), objective,
                    par.checksumEvery(), (o, exchange) -> {
                        CpuZoEngine e = cpu(c, model, initial, adapter, trainable, o);
                        if (exchange != null) {
                            e.spreadSamples(exchange);
                        }
                        return e;
                    });
        }
        switch (c.device()) {
            case "cuda": {
                requireDevice("cuda");
                log.println("device cuda: " + Cuda.availability());
                return cuda(c, model, initial, adapter, trainable, objective);
            }
            case "auto": {
                Cuda.Availability a = Cuda.availability();
                if (a.usable()) {
                    log.println("device auto: training on CUDA device " + a);
                    return cuda(c, model, initial, adapter, trainable, objective);
                }
                log.println("device auto: training on the CPU engine (no usable CUDA device: " + a.reason() + ")");
                return cpu(c, model, initial, adapter, trainable, objective);
            }
            default:
                return cpu(c, model, initial, adapter, trainable, objective);
        }
    }

    static CpuZoEngine cpu(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective) {
        c.noiseVariant(false); // fast noise on the CPU engine: a one-line error (it has the exact reference only)
        ZoOptimizer opt = ZoOptimizers.create(c.optimizer(), c.steps(), new NoiseLayout(adapter != null
                ? adapter.tensors() : TrainableSet.of(model.params(), trainable).specs()));
        return new CpuZoEngine(model, initial, adapter, trainable, objective, opt, c.optimizer().lrSchedule(c.steps()),
                stepConfig(c));
    }

    /**
     * One CUDA engine per device 0 … N − 1 ({@link #gpuReplicas}), the group through NCCL ({@link NcclGroup}).
     */
    private static ZoEngine gpus(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective, PrintWriter log) {
        Parallel par = c.parallel();
        int n = par.gpus();
        int[] devices = new int[n];
        for (int k = 0; k < n; k++) {
            devices[k] = k;
        }
        // NCCL captures its collectives into CUDA graphs from 2.9 on
        boolean graph = !"false".equals(System.getProperty(GRAPH_PROPERTY)) && NcclGroup.version() >= GRAPH_NCCL;
        log.println("parallel: " + n + " data-parallel GPUs splitting the "
                + (par.splitKind() == DataParallelEngine.Split.BATCH ? "batch" : "SPSA samples") + " through NCCL "
                + NcclGroup.version() + (graph ? " inside the captured step where the objective's device loss allows"
                : " (eager steps)") + " (checksums every " + par.checksumEvery() + " steps; device 0: "
                + Cuda.availability() + ")");
        return gpuReplicas(c, model, initial, adapter, trainable, objective,
                NcclGroup.create(devices, par.workerTimeout()), graph);
    }

    /**
     * One CUDA engine per rank of {@code group} on its device, each used there ({@link OnDevice}), with its own
     * copy of the adapter (if any): with the batch split, each rank's loss pairs added over the ranks inside the
     * captured step where the objective's device loss is a sum ({@code lm}), else its sums all-reduced through the
     * host between the forward passes (the eager step); with the samples split, the samples' losses gathered inside
     * the captured step, or through the host in the eager one. With an adapter the replicas' start is compared at
     * once (a prefix starts from each device's own frozen forward). Without an adapter, {@code trainable} flags the
     * model parameters that train on every replica (null: all; a linear probe's head), as on one GPU.
     */
    static DataParallelEngine gpuReplicas(TrainConfig c, LanguageModel model, List<HostTensor> initial,
            Adapter adapter, boolean[] trainable, Objective objective, NcclGroup group, boolean graph) {
        Parallel par = c.parallel();
        DataParallelEngine.Split split = par.splitKind();
        DataParallelEngine e = new DataParallelEngine(group, par.workerTimeout(), split, objective,
                par.checksumEvery(), (rank, o, exchange) -> {
                    int device = group.deviceOf(rank);
                    int caller = Cuda.currentDevice();
                    Cuda.useDevice(device);
                    try {
                        CudaZoEngine r = cudaEngine(c, model, initial, adapter, trainable, o, graph);
                        try {
                            if (split == DataParallelEngine.Split.BATCH) {
                                r.spreadBatch(group.deviceCollective(rank), objective);
                            } else {
                                r.spreadSamples(group.deviceCollective(rank), exchange);
                            }
                        } catch (RuntimeException ex) {
                            r.close();
                            throw ex;
                        }
                        return new OnDevice(device, r);
                    } finally {
                        Cuda.useDevice(caller);
                    }
                });
        return adaptersCompared(e, adapter);
    }

    /**
     * With an adapter, the replicas' starting adapters compared at once (a prefix starts from each GPU's own frozen
     * forward, which GPUs of another kind could compute otherwise); the engine, closed when they differ.
     */
    static DataParallelEngine adaptersCompared(DataParallelEngine e, Adapter adapter) {
        if (adapter != null) {
            try {
                e.verifyReplicas();
            } catch (RuntimeException ex) {
                e.close();
                throw ex;
            }
        }
        return e;
    }

    /**
     * @param adapter   the run's adapter (LoRA, prefix), or null
     * @param trainable without an adapter, which model parameters train (null: all, full fine-tuning)
     */
    static CudaZoEngine cuda(TrainConfig c, LanguageModel model, List<HostTensor> initial, Adapter adapter,
            boolean[] trainable, Objective objective) {
        return cudaEngine(c, model, initial, adapter, trainable, objective,
                !"false".equals(System.getProperty(GRAPH_PROPERTY)));
    }

    private static CudaZoEngine cudaEngine(TrainConfig c, LanguageModel model, List<HostTensor> initial,
            Adapter adapter, boolean[] trainable, Objective objective, boolean graph) {
        CudaOps ops = CudaOps.create(c.paramDType());
        try {
            return new CudaZoEngine(ops, model, initial, adapter, trainable, objective,
                    c.optimizer().referenceConfig(c.steps()), c.optimizer().lrSchedule(c.steps()), stepConfig(c),
                    graph, c.noiseVariant(true));
        } catch (RuntimeException e) {
            ops.close(); // idempotent: the engine may have closed it already
            throw e;
        }
    }
}
