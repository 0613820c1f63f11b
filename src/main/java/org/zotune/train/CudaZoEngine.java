package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Adapter;
import org.zotune.peft.TrainableSet;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CandidateChoices;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.train.objective.MaskedChoices;
import org.zotune.train.objective.Objective;
import org.zotune.train.objective.PooledChoices;
import org.zotune.zo.cuda.DeviceCollective;
import org.zotune.zo.cuda.DeviceLoss;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.cuda.NoiseVariant;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoStep;

/**
 * The CUDA ZO engine: θ, the optimiser state and the fused step on the GPU ({@link DeviceZoStep}), any q.
 * <ul>
 *   <li>an objective whose loss the device computes ({@link #deviceLoss}: the token cross-entropy of {@code lm};
 *       the candidate-scoring losses of classification, multiple choice, −accuracy, −F1; the masked-LM prompt; the
 *       pooled encoder losses of head and similarity), any number of micro-batches and q: the captured-graph step
 *       (perturb, every micro-batch's forward and loss and their mean, perturb, the same, g and the update on the
 *       device); one graph per step shape (at most 8 held: the trainer pads its batches to length buckets, key
 *       pad_multiple, so that they replay);</li>
 *   <li>every other objective (and a head or similarity batch too large for one block's scores): the eager step,
 *       where the objective runs on {@link CudaOps} against the engine's perturbed weights, the host averages the
 *       micro-batches and forms g, and the same fused kernels update θ.</li>
 * </ul>
 * As one rank of several GPUs ({@link #spreadBatch}, {@link #spreadSamples}) the captured step adds the ranks'
 * loss pairs (or gathers their samples' losses) through NCCL inside the graph.
 * State and resume:
 * θ and the optimiser state (in its state dtype, read as floats) are copied to the host and back; a resumed run
 * continues bitwise on the same device. With an adapter (LoRA, prefix) θ is the adapter's float32 tensors over the
 * frozen base, exported, checkpointed and restored as the CPU engine does (names, order, optimiser state over them
 * only); LoRA's rule forms each adapted weight inside the forward pass, a prefix reaches each attention as its
 * float32 key/value prefix, so the captured step stays one graph. A prefix starts from the keys and values this
 * device's frozen forward computes for the seed's tokens ({@code Prefix.bind} on these ops): the same start a replay
 * on the same device rebuilds.
 */
final class CudaZoEngine implements ZoEngine {
    private final CudaOps ops;
    private final LanguageModel model;
    private final Objective objective;
    private final Parameters params; // the model's parameters (full fine-tuning: θ itself; with an adapter: frozen)
    private final Adapter.Bound adapter; // null: full fine-tuning
    private final Parameters adapters; // the adapter's float32 tensors (θ), or null
    private final WeightSource weights; // θ as the model sees it
    private final List<ParamSpec> trained; // what θ's tensors are: the model's parameters or the adapter's tensors
    private final CudaTheta theta;
    private final DeviceZoStep zo;
    private final ZoStep.Config config;
    private final LrSchedule lrSchedule;
    private final NoiseLayout layout;
    private final List<String> stateVectors;
    private final boolean graph;
    private Objective shardLosses; // a batch-split rank's run objective, whose device losses its step adds over ranks
    private boolean samplesSpread; // SPSA samples spread over data-parallel ranks
    private boolean samplesInGraph; // ... and the captured step gathers their losses itself

    /**
     * Full fine-tuning; takes ownership of {@code ops} (compute type = the parameter dtype).
     *
     * @param optimizerConfig the optimiser (config.Optimizer#referenceConfig)
     * @param graph           use the captured step where the objective allows it
     */
    CudaZoEngine(CudaOps ops, LanguageModel model, List<HostTensor> initial, Objective objective,
            ZoOptimizerConfig optimizerConfig,
            LrSchedule lrSchedule, ZoStep.Config config, boolean graph) {
        this(ops, model, initial, null, objective, optimizerConfig, lrSchedule, config, graph);
    }

    /**
     * As below with the noise variant of {@link NoiseVariant#configured()} (tests and benchmarks; a run passes its
     * own, {@link ZoEngines}).
     */
    CudaZoEngine(CudaOps ops, LanguageModel model, List<HostTensor> initial, Adapter adapter, Objective objective,
            ZoOptimizerConfig optimizerConfig, LrSchedule lrSchedule, ZoStep.Config config, boolean graph) {
        this(ops, model, initial, adapter, objective, optimizerConfig, lrSchedule, config, graph,
                NoiseVariant.configured());
    }

    /**
     * Over a trainable set: every weight ({@code adapter} null), or an adapter over the frozen model (LoRA, prefix):
     * the base in the run's dtype ({@code config.paramDType()}, the ops' compute type), the adapter's tensors in a
     * float32 buffer of their own that the optimiser perturbs and updates (its state sized to them), as
     * {@link CpuZoEngine} holds them. Takes ownership of {@code ops}.
     *
     * @param noise the run's noise variant (key noise, resolved: {@link TrainConfig#noiseVariant})
     */
    CudaZoEngine(CudaOps ops, LanguageModel model, List<HostTensor> initial, Adapter adapter, Objective objective,
            ZoOptimizerConfig optimizerConfig, LrSchedule lrSchedule, ZoStep.Config config, boolean graph,
            NoiseVariant noise) {
        this(ops, model, initial, adapter, null, objective, optimizerConfig, lrSchedule, config, graph, noise);
    }

    /**
     * As above, or over the model's parameters flagged in {@code trainable} (a linear probe's head over the frozen
     * encoder): they train in place in the model's buffer under the step's mask, the optimiser's state and the noise
     * index over them alone, as {@link CpuZoEngine} holds them; θ (export, checkpoint, checksum) is those tensors.
     *
     * @param trainable which model parameters train (null: all); only without an adapter
     */
    CudaZoEngine(CudaOps ops, LanguageModel model, List<HostTensor> initial, Adapter adapter, boolean[] trainable,
            Objective objective, ZoOptimizerConfig optimizerConfig, LrSchedule lrSchedule, ZoStep.Config config,
            boolean graph, NoiseVariant noise) {
        if (adapter != null && trainable != null) {
            throw new IllegalArgumentException("an adapter trains its own tensors; a mask of model parameters is for "
                    + "sets in the model's buffer");
        }
        this.ops = ops;
        this.model = model;
        this.objective = objective;
        this.config = config;
        this.lrSchedule = lrSchedule;
        this.graph = graph;
        if (initial.size() != model.params().size()) {
            throw new ZotuneException("engine: " + initial.size() + " tensors for " + model.params().size()
                    + " parameters");
        }
        Parameters p = null;
        Adapter.Bound bound = null;
        Parameters own = null;
        CudaTheta th = null;
        DeviceZoStep z = null;
        TrainableStorage storage;
        try {
            p = ops.createParameters(initial, config.paramDType());
            if (adapter == null) {
                // model parameters train (all, or the flagged ones), in the model's own parameter buffer
                storage = TrainableStorage.inModel(TrainableSet.of(model.params(), trainable), model.params(), p);
                th = new CudaTheta(ops, p, trainable == null ? null : storage.entries());
                z = new DeviceZoStep(ops, model, p, storage, optimizerConfig, config, noise);
            } else {
                // adapters: their own float32 buffer (perturbed and updated in float32), the model's buffer frozen
                bound = adapter.bind(ops, model, p, config.seed());
                own = ops.createParameters(bound.initial(), DType.F32);
                storage = TrainableStorage.own(bound.set(), own);
                th = new CudaTheta(ops, own);
                ZoStep.Config f32 = new ZoStep.Config(config.eps(), config.samples(), config.strategy(),
                        config.microBatches(), config.maxBadSteps(), DType.F32, config.seed());
                z = new DeviceZoStep(ops, model, p, storage, optimizerConfig, f32, noise);
            }
        } catch (RuntimeException e) {
            closeAll(z, th, own, bound, p, ops);
            throw e;
        }
        this.params = p;
        this.adapter = bound;
        this.adapters = own;
        this.weights = storage.weights(p);
        this.trained = adapter == null ? storage.set().specs() : adapter.tensors();
        this.theta = th;
        this.zo = z;
        this.layout = z.layout();
        this.stateVectors = optimizerConfig.stateVectors();
    }

    @Override
    public String device() {
        return "cuda";
    }

    /** The noise variant of this engine's step kernels (a run's resolved key noise). */
    NoiseVariant noise() {
        return zo.noise();
    }

    /**
     * Makes this engine one rank of a batch-split data-parallel run whose loss pairs are added over the ranks inside
     * the captured step ({@link DeviceZoStep#spreadOver}): the step takes {@code runObjective}'s device losses on
     * this rank's shard when they are sums ({@code lm}'s token cross-entropy); for every other objective the eager
     * step runs with the engine's objective (which adds its sums over the ranks through the host).
     */
    void spreadBatch(DeviceCollective collective, Objective runObjective) {
        zo.spreadOver(collective, false);
        shardLosses = runObjective;
    }

    /**
     * Makes this engine one rank of a run whose SPSA samples are spread over the ranks: the captured step gathers the
     * samples' losses itself when {@code collective} is given ({@link DeviceZoStep#spreadOver}), the eager step
     * through {@code exchange} (host); every rank regenerates every sample's direction for the update.
     */
    void spreadSamples(DeviceCollective collective, ZoStep.SampleExchange exchange) {
        if (collective != null) {
            zo.spreadOver(collective, true);
        }
        zo.spreadSamples(exchange);
        samplesSpread = true;
        samplesInGraph = collective != null;
    }

    @Override
    public long stepsDone() {
        return zo.step();
    }

    @Override
    public StepResult step(List<PromptBatch> microBatches) {
        if (microBatches.size() != config.microBatches()) {
            throw new IllegalArgumentException(microBatches.size() + " micro-batches, configured "
                    + config.microBatches());
        }
        long step = zo.step() + 1;
        long seed = Noise.stepSeed(config.seed(), step);
        ZoStep.Result r;
        // the captured step computes the loss itself for objectives that describe it (deviceLoss)
        Optional<List<DeviceZoStep.MicroBatch>> device = graph && (!samplesSpread || samplesInGraph)
                ? deviceLosses(shardLosses != null ? shardLosses : objective, model, microBatches, shardLosses != null)
                : Optional.empty();
        if (shardLosses != null && device.isPresent()
                && !device.get().stream().allMatch(mb -> mb.loss().additive())) {
            device = Optional.empty(); // the same on every rank: which losses are sums depends on the objective only
        }
        if (device.isPresent()) {
            zo.submit(device.get());
            List<ZoStep.Result> done = zo.drain();
            r = done.get(done.size() - 1);
        } else {
            r = zo.stepEager(w -> loss(w, microBatches));
        }
        return StepResult.of(r, seed, lrSchedule.at(step));
    }

    /**
     * Each micro-batch with the loss the captured step computes for it on the device, when the objective describes
     * its loss: a token cross-entropy ({@link Objective#tokenTargets}), a candidate-scoring loss
     * ({@link Objective#candidateChoices}), a masked-LM prompt ({@link Objective#maskedChoices}) or a pooled encoder
     * loss ({@link Objective#pooledChoices}: head, similarity); empty otherwise (the eager step).
     */
    static Optional<List<DeviceZoStep.MicroBatch>> deviceLosses(Objective objective, LanguageModel model,
                                                                List<PromptBatch> microBatches) {
        return deviceLosses(objective, model, microBatches, false);
    }

    /**
     * @param shards the micro-batches are one rank's shards of a data-parallel batch: {@code lm}'s shard may have no
     *               target token (a (0, 0) pair in the ranks' sum) where a whole batch is refused
     */
    static Optional<List<DeviceZoStep.MicroBatch>> deviceLosses(Objective objective, LanguageModel model,
                                                                List<PromptBatch> microBatches, boolean shards) {
        List<DeviceZoStep.MicroBatch> out = new ArrayList<>();
        for (PromptBatch b : microBatches) {
            Optional<DeviceZoStep.MicroBatch> mb = shards && objective instanceof CausalLmLoss lm
                    ? Optional.of(new DeviceZoStep.MicroBatch(b.batch(),
                            new DeviceLoss.TokenCrossEntropy(lm.shardTargets(model, b))))
                    : deviceLoss(objective, model, b);
            if (mb.isEmpty()) {
                return Optional.empty();
            }
            out.add(mb.get());
        }
        return Optional.of(out);
    }

    /** The batch the captured step encodes for {@code batch} and the loss it computes, when the objective says. */
    static Optional<DeviceZoStep.MicroBatch> deviceLoss(Objective objective, LanguageModel model, PromptBatch batch) {
        Optional<int[]> targets = objective.tokenTargets(model, batch);
        if (targets.isPresent()) {
            return Optional.of(new DeviceZoStep.MicroBatch(batch.batch(),
                    new DeviceLoss.TokenCrossEntropy(targets.get())));
        }
        Optional<CandidateChoices> choices = objective.candidateChoices(model, batch);
        if (choices.isPresent()) {
            CandidateChoices c = choices.get();
            return Optional.of(new DeviceZoStep.MicroBatch(batch.batch(), new DeviceLoss.Choices(c.targets(), c.seq(),
                    c.firstRow(), c.candidates(), c.gold(), c.metric().ordinal(), c.classes())));
        }
        Optional<MaskedChoices> masked = objective.maskedChoices(model, batch);
        if (masked.isPresent()) {
            MaskedChoices c = masked.get();
            return Optional.of(new DeviceZoStep.MicroBatch(batch.batch(),
                    new DeviceLoss.MaskedChoices(c.rows(), c.tokens(), c.gold())));
        }
        Optional<PooledChoices> pooled = objective.pooledChoices(model, batch);
        if (pooled.isPresent() && DeviceLoss.Pooled.fits(pooled.get().exampleRows().length, pooled.get().labels())) {
            PooledChoices c = pooled.get();
            return Optional.of(new DeviceZoStep.MicroBatch(c.batch(), new DeviceLoss.Pooled(c.batch().mask(),
                    c.batch().seq(), c.exampleRows(), c.gold(), c.pooling().ordinal(), c.scoring().ordinal(),
                    c.labels(), c.temperature(), c.headWeight(), c.headBias())));
        }
        return Optional.empty();
    }

    /** The objective averaged over the micro-batches in the CPU engine's order (sum, then / M). */
    private float loss(WeightSource weights, List<PromptBatch> microBatches) {
        float sum = 0f;
        for (PromptBatch b : microBatches) {
            try (Ops.Scope s = ops.scope()) {
                sum += objective.loss(ops, model, weights, b);
            }
        }
        return microBatches.size() == 1 ? sum : sum / microBatches.size();
    }

    @Override
    public long graphCaptures() {
        return zo.graphCaptures();
    }

    @Override
    public <R> R evaluate(Evaluation<R> evaluation) {
        return evaluation.run(ops, model, weights);
    }

    /**
     * The trained tensors: the model's parameters (all, or the flagged ones), or the adapter's float32 tensors over the
     * frozen base.
     */
    @Override
    public List<HostTensor> exportParameters() {
        return theta.download(trained);
    }

    @Override
    public <R> R withParameters(java.util.function.Function<List<HostTensor>, R> use) {
        return theta.borrow(trained, use);
    }

    @Override
    public long parameterChecksum() {
        return theta.checksum(trained);
    }

    /** {@link #parameterChecksum()} through chunks of this many bytes (tests). */
    long parameterChecksum(int chunkBytes) {
        return theta.checksum(trained, chunkBytes);
    }

    @Override
    public long skippedSteps() {
        return zo.skippedSteps();
    }

    @Override
    public State state() {
        return new State(zo.step(), zo.skippedSteps(), zo.badInARow(), exportParameters(), optimizerState());
    }

    @Override
    public Lease<State> lendState() {
        List<HostTensor> opt = optimizerState();
        Lease<List<HostTensor>> lent = theta.lend(trained);
        return new Lease<>(new State(zo.step(), zo.skippedSteps(), zo.badInARow(), lent.value(), opt), lent::close);
    }

    /** m (and v) per trained tensor, float32, read slice by slice (no host copy of a whole state vector). */
    private List<HostTensor> optimizerState() {
        int n = layout.count();
        long[] offsets = new long[n];
        long[] sizes = new long[n];
        for (int p = 0; p < n; p++) {
            offsets[p] = layout.offset(p);
            sizes[p] = layout.size(p);
        }
        java.nio.ByteBuffer[][] vectors = new java.nio.ByteBuffer[stateVectors.size()][];
        for (int i = 0; i < vectors.length; i++) {
            vectors[i] = zo.state(i, offsets, sizes);
        }
        List<HostTensor> opt = new ArrayList<>();
        for (int p = 0; p < n; p++) {
            String name = layout.spec(p).name();
            for (int i = 0; i < vectors.length; i++) {
                opt.add(new HostTensor(stateVectors.get(i) + "/" + name, DType.F32, new long[] {sizes[p]},
                        vectors[i][p]));
            }
        }
        return opt;
    }

    @Override
    public void restore(State state) {
        List<HostTensor> ps = state.parameters();
        List<ParamSpec> specs = trained;
        if (ps.size() != specs.size()) {
            throw new ZotuneException("checkpoint holds " + ps.size() + " parameters, the model has " + specs.size());
        }
        for (int p = 0; p < ps.size(); p++) {
            HostTensor h = ps.get(p);
            ParamSpec spec = specs.get(p);
            if (!h.name().equals(spec.name()) || h.numel() != spec.numel()) {
                throw new ZotuneException("checkpoint parameter " + p + " is " + h.name() + " with " + h.numel()
                        + " values; the model expects " + spec.name() + " with " + spec.numel());
            }
        }
        int expected = stateVectors.size() * layout.count();
        if (state.optimizerState().size() != expected) {
            throw new ZotuneException("checkpoint holds " + state.optimizerState().size() + " optimiser state tensors, "
                    + "the optimiser has " + expected);
        }
        int count = layout.count();
        long[] offsets = new long[count];
        long[] sizes = new long[count];
        java.nio.ByteBuffer[][] vectors = new java.nio.ByteBuffer[stateVectors.size()][count];
        int i = 0;
        for (int p = 0; p < count; p++) {
            String name = layout.spec(p).name();
            offsets[p] = layout.offset(p);
            sizes[p] = layout.size(p);
            for (int k = 0; k < vectors.length; k++) {
                vectors[k][p] = slice(state.optimizerState().get(i++), stateVectors.get(k) + "/" + name, sizes[p]);
            }
        }
        theta.upload(ps);
        zo.restoreState(state.t(), state.skipped(), state.badInARow(), offsets, sizes, vectors);
    }

    /** One tensor's optimiser state as float32 bytes, checked against the name and size the optimiser expects. */
    private static java.nio.ByteBuffer slice(HostTensor h, String name, long n) {
        if (!h.name().equals(name) || h.numel() != n) {
            throw new ZotuneException("checkpoint optimiser state " + h.name() + " does not match " + name);
        }
        if (h.dtype() == DType.F32) {
            return h.bytes();
        }
        return HostTensor.ofFloats(name, h.toFloats(), n).bytes();
    }

    @Override
    public void close() {
        closeAll(zo, theta, adapters, adapter, params, ops);
    }

    private static void closeAll(AutoCloseable... cs) {
        RuntimeException first = null;
        for (AutoCloseable c : cs) {
            if (c == null) {
                continue;
            }
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new RuntimeException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
