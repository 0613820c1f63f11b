package org.zotune.zo.cuda;

import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.zotune.ZotuneException;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaParameters;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaEvent;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.peft.TrainableSet;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.BadStepGuard;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoStep;

/**
 * The two-point zeroth-order step on one GPU (ALGORITHMS.md §2–§5), the device counterpart of {@link ZoStep}
 * (the engine that trains with it is {@code org.zotune.train.CudaZoEngine}):
 * perturb(+), forward, loss, perturb(-), forward, loss, projected gradient (on the device), fused update, over a
 * {@link TrainableSet} (full fine-tuning: every weight, in the model's own parameter buffer). The whole step is
 * captured once as a CUDA graph per batch shape ({@link StepGraph}) and replayed; per step the host only writes
 * the step's scalars (seed, η_t, schedule values) and the batch's int inputs asynchronously, and reads the losses
 * back through one pinned slot: nothing inside a step waits for the device. The step holds up to 8 graphs (one per
 * shape, the least recently replayed dropped first: {@link #maxGraphs}), so batches padded to a few length buckets
 * replay rather than capture ({@link #graphCaptures}).
 *
 * <p>Holds: the chunk table over the trainable tensors of their flat buffer, the optimiser state for the trainable
 * elements only ({@link OptimizerState}), the scalar block, and for the shadow strategy the {@link ShadowWeights}.
 *
 * <p>q SPSA samples (ALGORITHMS.md §2): the scalar block is q blocks, one per sample (its noise stream, losses and
 * g); the step runs the two passes of each sample in turn (in place: perturb, forward, perturb, forward, restore,
 * the last restore fused with the update), and the one fused update averages the q estimates, regenerating each
 * sample's direction (q Philox streams per element, one pass over θ). ZO-AdaMU takes q = 1.
 *
 * <p>Micro-batches (gradient accumulation): the captured step runs every micro-batch's forward in each pass, each
 * with its {@link DeviceLoss} (the token cross-entropy of {@code lm}, the candidate-scoring losses), and averages
 * their losses on the device in the CPU engine's order (sum, then / M; ALGORITHMS.md §2); {@link #stepEager} takes
 * any objective through the caller's loss function. The trainable buffer must be in the ops' compute type when it is
 * the model's own buffer, float32 (LoRA's factors over a bf16/f16 base) or the compute type when it is a set's own.
 * One step is in flight at a
 * time: {@link #submit} returns without waiting for its step but first reads back the step before it. Not
 * thread-safe. The captured graphs' activations and inputs live in an activation region of the ops that the step
 * owns ({@link CudaOps#region()}), apart from the ops' main arena.
 */
public final class DeviceZoStep implements AutoCloseable {
    private final CudaOps ops;
    private final LanguageModel model;
    private final Parameters frozen;
    private final TrainableStorage trainable;
    private final CudaParameters theta;
    private final DType dtype;
    private final GpuOptimizer opt;
    private final ZoStep.Config config;
    private final float eps;
    private final int q;
    private final ChunkTable table;
    private final ZoKernels kernels;
    private final StepGraph graph;

    private DeviceBuffer chunkBuffer;
    private DeviceBuffer scalars;
    private DeviceBuffer pairs; // the micro-batches' (value, count) pairs of one pass, then the warm pass's pair
    private OptimizerState state;
    private ShadowWeights shadow; // null for the in-place strategy
    private PinnedBuffer pinned;
    private CudaEvent done;
    private long pendingStep; // the step whose outputs are on their way to the pinned slot, 0 = none
    private final List<ZoStep.Result> ready = new ArrayList<>();

    private DeviceCollective spread; // null: this GPU alone
    private boolean spreadSamples; // what the ranks divide: the SPSA samples (true) or each micro-batch (false)
    private DeviceBuffer local; // this rank's loss pairs of the step (zeros where it evaluates none)
    private DeviceBuffer gathered; // every rank's, in rank order
    private DeviceBuffer reduced; // their rank-order sums as (loss, 1)
    private long pendingLaunch; // the collective number of the step in flight (spread steps)
    private ZoStep.SampleExchange exchange; // the eager step's samples spread over workers (host), or null

    private boolean useGraph = true;
    private long t;
    private final BadStepGuard guard;
    private boolean closed;

    /**
     * @param ops             the CUDA ops the model runs on (the step uses its stream)
     * @param model           the model
     * @param frozen          its parameters from {@code ops.createParameters} (what the set does not form); null
     *                        for a replay-only step over an adapter's own buffer ({@link #replayStep} only: a
     *                        trajectory replays without forward passes, so the base need not be on the device)
     * @param trainable       the trainable set and where its values live: for a set of model parameters in
     *                        {@code frozen} itself (the ops' compute type), for adapters a buffer of their own
     *                        (float32, or the compute type)
     * @param optimizerConfig the optimiser
     * @param config          ε, q, strategy, seed, bad-step limit; M = 1 for {@link #submit}; paramDType = the
     *                        trainable buffer's dtype
     */
    public DeviceZoStep(CudaOps ops, LanguageModel model, Parameters frozen, TrainableStorage trainable,
                        ZoOptimizerConfig optimizerConfig, ZoStep.Config config) {
        this(ops, model, frozen, trainable, optimizerConfig, config, NoiseVariant.configured());
    }

    /**
     * As {@link #DeviceZoStep(CudaOps, LanguageModel, Parameters, TrainableStorage, ZoOptimizerConfig,
     * ZoStep.Config)} with the noise variant of its kernels: a run's (key noise), a replay's (its trajectory's). The
     * constructors without one take {@link NoiseVariant#configured()} (tests and benchmarks).
     */
    public DeviceZoStep(CudaOps ops, LanguageModel model, Parameters frozen, TrainableStorage trainable,
                        ZoOptimizerConfig optimizerConfig, ZoStep.Config config, NoiseVariant noise) {
        if (frozen == null && trainable.modelBuffer()) {
            throw new ZotuneException("GPU zeroth-order engine: a set in the model's buffer needs the parameters");
        }
        if (!(trainable.buffer() instanceof CudaParameters) || frozen != null && !(frozen instanceof CudaParameters)) {
            throw new ZotuneException("GPU zeroth-order engine: the parameters are not on the CUDA device");
        }
        this.ops = ops;
        this.model = model;
        this.frozen = frozen;
        this.trainable = trainable;
        this.theta = (CudaParameters) trainable.buffer();
        this.dtype = theta.dtype();
        this.opt = GpuOptimizer.of(optimizerConfig);
        this.config = config;
        this.guard = new BadStepGuard(config.maxBadSteps());
        this.eps = (float) config.eps();
        this.q = config.samples();
        if (q > opt.maxSamples()) {
            throw new ZotuneException(opt.name() + ": q (SPSA samples) must be <= " + opt.maxSamples()
                    + ", got " + q);
        }
        if (config.paramDType() != dtype) {
            throw new ZotuneException("GPU zeroth-order engine: zo step paramDType is " + config.paramDType()
                    + " but the parameters are " + dtype);
        }
        if (trainable.modelBuffer() && dtype != ops.computeType()) {
            throw new ZotuneException("GPU zeroth-order engine: parameters are " + dtype + " but the CUDA ops compute in "
                    + ops.computeType());
        }
        if (!trainable.modelBuffer() && dtype != DType.F32 && dtype != ops.computeType()) {
            // adapters train in float32 whatever the base's dtype (their rules, Ops.loraWeight, read float32); a set
            // whose tensors replace model parameters may live in the compute type
            throw new ZotuneException("GPU zeroth-order engine: a trainable set's own buffer must be float32 or the "
                    + "compute type " + ops.computeType() + ", got " + dtype);
        }
        if (frozen != null && frozen.dtype() != ops.computeType()) {
            throw new ZotuneException("GPU zeroth-order engine: the frozen parameters are " + frozen.dtype()
                    + " but the CUDA ops compute in " + ops.computeType());
        }
        int count = frozen == null ? model.params().size() : frozen.count();
        if (model.params().size() != count || trainable.set().modelParameters() != count) {
            throw new ZotuneException("GPU zeroth-order engine: the model has " + model.params().size()
                    + " parameters, the parameter buffer " + count + ", the trainable set is over "
                    + trainable.set().modelParameters());
        }
        this.table = ChunkTable.of(trainable);
        this.graph = new StepGraph(ops); // holds nothing until its first capture; refuses a bad graph count first
        this.kernels = new ZoKernels(ops.device().multiprocessors() * 8, noise).stateDType(opt.stateDType());
        try {
            CudaStream s = ops.stream();
            ByteBuffer tb = table.toBytes();
            chunkBuffer = DeviceBuffer.allocate(tb.capacity());
            pinned = PinnedBuffer.allocate(Math.max(tb.capacity(), (long) q * ZoScalars.SIZE));
            pinned.slice(0, tb.capacity()).put(tb);
            chunkBuffer.copyFromHost(pinned.pointer(), 0, tb.capacity(), s);
            s.synchronize(); // the pinned buffer is reused for the step's scalars next
            scalars = DeviceBuffer.allocate((long) q * ZoScalars.SIZE);
            scalars.fill(0, (long) q * ZoScalars.SIZE, 0, s);
            pairs = DeviceBuffer.allocate(8L * (config.microBatches() + 1));
            pairs.fill(0, 8L * (config.microBatches() + 1), 0, s);
            state = new OptimizerState(opt, table.stateElements(), s);
            if (config.strategy() == PerturbationStrategy.SHADOW) {
                shadow = new ShadowWeights(ops, kernels, trainable, frozen, state.m(), opt.direction().code);
            }
            done = CudaEvent.create(false);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The noise variant of this step's kernels. */
    public NoiseVariant noise() {
        return kernels.noise();
    }

    /**
     * The model's own parameters, those flagged in {@code trainable} (null = all) training in place in their
     * buffer ({@code parameters}, in the ops' compute type).
     */
    public DeviceZoStep(CudaOps ops, LanguageModel model, Parameters parameters, ZoOptimizerConfig optimizerConfig,
                        ZoStep.Config config, boolean[] trainable) {
        this(ops, model, parameters, inModel(model, parameters, trainable), optimizerConfig, config);
    }

    /** As above with the noise variant of its kernels (a replay's: its trajectory's). */
    public DeviceZoStep(CudaOps ops, LanguageModel model, Parameters parameters, ZoOptimizerConfig optimizerConfig,
                        ZoStep.Config config, boolean[] trainable, NoiseVariant noise) {
        this(ops, model, parameters, inModel(model, parameters, trainable), optimizerConfig, config, noise);
    }

    /** All parameters trainable (full fine-tuning). */
    public DeviceZoStep(CudaOps ops, LanguageModel model, Parameters parameters, ZoOptimizerConfig optimizerConfig,
                        ZoStep.Config config) {
        this(ops, model, parameters, optimizerConfig, config, null);
    }

    private static TrainableStorage inModel(LanguageModel model, Parameters parameters, boolean[] trainable) {
        if (!(parameters instanceof CudaParameters)) {
            throw new ZotuneException("GPU zeroth-order engine: the parameters are not on the CUDA device");
        }
        if (model.params().size() != parameters.count()) {
            throw new ZotuneException("GPU zeroth-order engine: the model has " + model.params().size()
                    + " parameters, the parameter buffer " + parameters.count());
        }
        return TrainableStorage.inModel(TrainableSet.of(model.params(), trainable), model.params(), parameters);
    }

    /**
     * How many captured graphs the step holds at once (one per step shape; default 8, or
     * {@code -Dzotune.train.graphs}): beyond it the least recently replayed is dropped.
     */
    public DeviceZoStep maxGraphs(int n) {
        drainQuietly();
        graph.capacity(n);
        return this;
    }

    /** Graphs captured so far: one per step shape met, again for a shape whose graph was dropped. */
    public long graphCaptures() {
        return graph.captures();
    }

    /** Captured-graph launches so far (every captured step, its graph's first run included). */
    public long graphReplays() {
        return graph.replays();
    }

    /** Captured graphs held now. */
    public int graphsHeld() {
        return graph.size();
    }

    /** Graph capture and replay (default) or eager launches of the same sequence. */
    public DeviceZoStep useGraph(boolean graph) {
        if (graph != useGraph) {
            drainQuietly();
            this.graph.close();
            useGraph = graph;
        }
        return this;
    }

    /**
     * Makes this GPU one rank of a data-parallel step inside the captured graph (ALGORITHMS.md §10): after the passes,
     * the step's loss pairs are all-gathered on the step's stream ({@link DeviceCollective#allGatherFloats}, NCCL,
     * captured with the rest) and added in rank order in double ({@link ZoKernels#lossPairSum}: the host all-reduce's
     * order, so the same bits on every rank and the eager data-parallel step's), then ℓ±, g and the update follow on
     * the device as on one GPU. {@code samples} false: each rank's micro-batches are its shard of the batch, and
     * every micro-batch's pair of every pass and sample is added over the ranks (losses whose pair is a sum:
     * {@link DeviceLoss#additive}); true: every rank has the whole batch and evaluates the SPSA samples k with
     * k mod N = rank only (the in-place strategy still perturbs and restores θ for every sample, so θ stays the same
     * bits on every rank), the others' pairs coming from their owners: the one-GPU step bit for bit. Every rank
     * must submit the same sequence of steps, and re-captures together with the others (the ranks agree on it
     * through one host all-gather per step). Null leaves the group (this GPU alone).
     */
    public DeviceZoStep spreadOver(DeviceCollective collective, boolean samples) {
        drainQuietly();
        graph.close();
        for (DeviceBuffer b : new DeviceBuffer[] {local, gathered, reduced}) {
            if (b != null) {
                b.close();
            }
        }
        local = gathered = reduced = null;
        spread = collective;
        spreadSamples = samples;
        if (collective != null) {
            long bytes = 8L * spreadPairs();
            local = DeviceBuffer.allocate(bytes);
            gathered = DeviceBuffer.allocate(bytes * collective.worldSize());
            reduced = DeviceBuffer.allocate(bytes);
            local.fill(0, bytes, 0, ops.stream()); // the pairs a rank never writes stay (0, 0)
            ops.stream().synchronize();
        }
        return this;
    }

    /**
     * The eager step's SPSA samples spread over data-parallel workers through the host ({@link #stepEager}: this
     * worker evaluates the samples {@code exchange} says, the exchange fills in the others' ℓ±), as
     * {@link ZoStep#setSampleExchange}; null: every sample here.
     */
    public DeviceZoStep spreadSamples(ZoStep.SampleExchange exchange) {
        this.exchange = exchange;
        return this;
    }

    /** The loss pairs of a spread step: per sample and pass (+, −), M micro-batches' (batch split) or their mean. */
    private int spreadPairs() {
        return q * 2 * (spreadSamples ? 1 : config.microBatches());
    }

    /** Whether this rank evaluates sample k (every sample unless the samples are spread). */
    private boolean evaluates(int k) {
        return spread == null || !spreadSamples || k % spread.worldSize() == spread.rank();
    }

    /** The noise layout of the trainable tensors: build a CPU reference optimiser on it. */
    public NoiseLayout layout() {
        return table.layout();
    }

    public ChunkTable chunkTable() {
        return table;
    }

    /** The trainable set and where its values live. */
    public TrainableStorage trainable() {
        return trainable;
    }

    /** Steps submitted so far. */
    public long step() {
        return t;
    }

    /** Steps whose update was skipped for a non-finite loss, among those read back. */
    public long skippedSteps() {
        return guard.skipped();
    }

    /** Non-finite steps in a row at the end of the last step read back. */
    public int badInARow() {
        return guard.badInARow();
    }

    /**
     * Enqueues step t = step() + 1 on {@code batch} with cross-entropy {@code targets} (-1 = ignored) and returns
     * t without waiting for it; the step before it is read back first (its result waits for {@link #drain}).
     */
    public long submit(Batch batch, int[] targets) {
        return submit(List.of(new MicroBatch(batch, new DeviceLoss.TokenCrossEntropy(targets))));
    }

    /** One micro-batch of a captured step: the batch the model's forward reads and the loss of its logits. */
    public record MicroBatch(Batch batch, DeviceLoss loss) {
    }

    /**
     * Enqueues step t = step() + 1 on the step's micro-batches (each pass: every micro-batch's forward and device
     * loss, their mean) and returns t without waiting for it; the step before it is read back first (its result
     * waits for {@link #drain}).
     */
    public long submit(List<MicroBatch> micro) {
        open();
        if (micro.size() != config.microBatches()) {
            throw new ZotuneException("zo step: " + micro.size() + " micro-batches, configured "
                    + config.microBatches());
        }
        for (MicroBatch mb : micro) {
            mb.loss().check(mb.batch());
            if (spread != null && !spreadSamples && !mb.loss().additive()) {
                throw new ZotuneException("zo step: a " + mb.loss().getClass().getSimpleName() + " loss is not a sum "
                        + "over the batch, so it cannot be split over data-parallel ranks inside the step");
            }
        }
        harvestPending(); // the pinned slot is free again
        long step = t + 1;
        CudaStream s = ops.stream();
        copyStepInputs(step);
        // every micro-batch's forward inputs then its loss's inputs, bound in that order
        List<int[]> values = new ArrayList<>();
        List<Integer> shape = new ArrayList<>();
        int[] inputsAt = new int[micro.size()];
        int[] lossAt = new int[micro.size()];
        for (int j = 0; j < micro.size(); j++) {
            MicroBatch mb = micro.get(j);
            inputsAt[j] = values.size();
            values.addAll(InputRecorder.record(model, mb.batch(), frozen(), ops.computeType(), mb.loss().forward()));
            lossAt[j] = values.size();
            values.addAll(mb.loss().ints());
            shape.add(mb.batch().batch());
            shape.add(mb.batch().seq());
            shape.add(lossAt[j] - inputsAt[j]);
            shape.addAll(mb.loss().shape());
        }
        Pass pass = new Pass(micro, inputsAt, lossAt);
        long ranks = 0;
        if (spread != null) {
            if (useGraph) {
                // a launch holding a captured collective pairs with the other ranks' graphs of the same capture: the
                // graphs are keyed by every rank's shape together (one host all-gather of each rank's digest), so the
                // ranks hold, capture, replay and drop their graphs in step; the digests of the graphs each rank
                // holds travel along, and should they ever differ every rank drops its graphs
                long[][] all = spread.allGather(new long[] {StepGraph.digest(shape, values), graph.heldDigest()});
                long joint = 0x9e3779b97f4a7c15L;
                boolean agree = true;
                for (long[] a : all) {
                    joint = joint * 0x100000001b3L ^ a[0];
                    agree &= a[1] == all[0][1];
                }
                if (!agree) {
                    graph.clear();
                }
                ranks = joint == 0 ? 1 : joint;
            }
            pendingLaunch = spread.launched();
        }
        if (useGraph) {
            graph.replay(StepGraph.key(shape, values, ranks), values, bound -> warmPass(pass, bound),
                    bound -> stepBody(pass, bound));
        } else {
            try (Ops.Scope sc = ops.scope()) {
                List<IntTensor> bound = new ArrayList<>();
                for (int[] v : values) {
                    bound.add(ops.ints(v));
                }
                graph.ops().bind(bound);
                try {
                    stepBody(pass, bound);
                } finally {
                    graph.ops().bind(null);
                }
            }
        }
        // the q output blocks (with the inputs of blocks 1 .. q-1 between them, unchanged) in one copy
        scalars.copyToHost(ZoScalars.OUTPUT, at(ZoScalars.OUTPUT),
                (long) (q - 1) * ZoScalars.SIZE + ZoScalars.OUTPUT_BYTES, s);
        done.record(s);
        pendingStep = step;
        t = step;
        return step;
    }

    /** Waits for the submitted step and returns the results not returned before, in step order. */
    public List<ZoStep.Result> drain() {
        open();
        harvestPending();
        return takeReady();
    }

    /** Returns the results of the steps that have finished, without waiting. */
    public List<ZoStep.Result> poll() {
        open();
        if (pendingStep != 0) {
            int rc = cudaEventQuery(done.handle());
            if (rc != cudaErrorNotReady) {
                Cuda.check(rc, "cudaEventQuery");
                harvestPending();
            }
        }
        return takeReady();
    }

    /** Submits one step on {@code targets} and waits for it. */
    public ZoStep.Result step(Batch batch, int[] targets) {
        submit(batch, targets);
        List<ZoStep.Result> r = drain();
        return r.get(r.size() - 1);
    }

    /** The loss of one pass, computed by the caller with {@code weights} = θ ± εu (any objective, any micro-batches). */
    @FunctionalInterface
    public interface PassLoss {
        float loss(WeightSource weights);
    }

    /**
     * Runs step t = step() + 1 eagerly with host-computed losses: the same perturbation and fused update kernels as
     * the captured step, but ℓ± come from {@code loss} (an objective on the ops, against the perturbed weights) and
     * g = (ℓ+ - ℓ-) / (2ε) is formed on the host and written to the scalar block before the update. For
     * non-differentiable objectives and several micro-batches. Waits for the device.
     */
    public ZoStep.Result stepEager(PassLoss loss) {
        open();
        harvestPending();
        long step = t + 1;
        writeStepInputs(step);
        boolean inPlace = config.strategy() == PerturbationStrategy.IN_PLACE;
        WeightSource perturbed = trainable.weights(frozen());
        float[] lp = new float[q];
        float[] lm = new float[q];
        float[] g = new float[q];
        for (int k = 0; k < q; k++) {
            long sk = block(k);
            boolean mine = exchange == null || exchange.evaluates(k);
            if (inPlace) {
                // every worker perturbs and restores θ for every sample (rounding is part of θ), as ZoStep does
                perturbAll(sk, 1f);
                lp[k] = mine ? loss.loss(perturbed) : 0f;
                perturbAll(sk, -2f);
                lm[k] = mine ? loss.loss(perturbed) : 0f;
                if (k < q - 1) {
                    perturbAll(sk, 1f); // the restore; the last one is fused with the update
                }
            } else if (mine) {
                lp[k] = loss.loss(shadow.plus(sk));
                lm[k] = loss.loss(shadow.minus(sk));
            }
        }
        if (exchange != null) {
            exchange.exchange(lp, lm);
        }
        for (int k = 0; k < q; k++) {
            g[k] = (lp[k] - lm[k]) / (2.0f * eps);
        }
        boolean bad = BadStepGuard.nonFinite(lp, lm, g);
        finishHostStep(step, g, bad, inPlace);
        ZoStep.Result r = new ZoStep.Result(step, lp, lm, g, bad);
        guard.record(step, bad, lp[0], lm[0]);
        return r;
    }

    /**
     * Re-applies step t = step() + 1 from a recorded projected gradient, without a forward pass (trajectory replay):
     * for the in-place strategy the perturb passes (+εu, -2εu, and the restores of samples before the last) whose
     * rounding is part of θ, then the same fused (restore +) update as training, or only the restore when the step
     * was skipped. {@code g}: the q samples' projected gradients. Bitwise the weights that
     * training wrote on the same device.
     */
    public void replayStep(float[] g, boolean wasSkipped) {
        open();
        if (g.length != q) {
            throw new ZotuneException("replay step " + (t + 1) + ": " + g.length + " projected gradients, q = " + q);
        }
        harvestPending();
        long step = t + 1;
        writeStepInputs(step);
        boolean inPlace = config.strategy() == PerturbationStrategy.IN_PLACE;
        if (inPlace) {
            for (int k = 0; k < q; k++) {
                perturbAll(block(k), 1f);
                perturbAll(block(k), -2f);
                if (k < q - 1) {
                    perturbAll(block(k), 1f);
                }
            }
        }
        finishHostStep(step, g, wasSkipped, inPlace);
        if (wasSkipped) {
            guard.countSkipped();
        }
    }

    /**
     * Sets the step counter and the optimiser state (a resumed run): the state vectors as per-tensor float32 slices
     * ({@code vectors[which][p]}: noise indices {@code [offsets[p], offsets[p] + sizes[p])}, 0 elsewhere), written
     * slice by slice (no host copy of a whole vector). Synchronises.
     */
    public void restoreState(long steps, long skippedSteps, int badRow, long[] offsets, long[] sizes,
            ByteBuffer[][] vectors) {
        open();
        harvestPending();
        graph.close(); // recaptured on the next submit
        for (int which = 0; which < vectors.length; which++) {
            state.writeSlices(which, offsets, sizes, vectors[which], ops.stream());
        }
        this.t = steps;
        guard.restore(skippedSteps, badRow);
    }

    /**
     * Optimiser state vector {@code which}'s (0 = m, 1 = v) elements {@code [offsets[p], offsets[p] + sizes[p])}
     * (noise indices) as float32 little-endian bytes, one buffer each, without a host copy of the whole vector
     * (synchronises).
     */
    public ByteBuffer[] state(int which, long[] offsets, long[] sizes) {
        open();
        return state.readSlices(which, offsets, sizes, ops.stream());
    }

    /** Step t's input scalars into the q blocks (synchronises). */
    private void writeStepInputs(long step) {
        copyStepInputs(step);
        ops.stream().synchronize();
    }

    /** Writes the q input blocks of step t into the pinned slot and copies them to the device. */
    private void copyStepInputs(long step) {
        long seed = Noise.stepSeed(config.seed(), step);
        for (int k = 0; k < q; k++) {
            long at = (long) k * ZoScalars.SIZE;
            opt.writeInputs(pinned.slice(at, ZoScalars.INPUT_BYTES), step, seed, eps, k, q);
            scalars.copyFromHost(at(at), (long) k * ZoScalars.SIZE, ZoScalars.INPUT_BYTES, ops.stream());
        }
    }

    /** The device address of sample k's scalar block. */
    private long block(int k) {
        return scalars.address() + (long) k * ZoScalars.SIZE;
    }

    /** In place over every chunk: θ = R(θ + c·(ε·u)) with u of the sample whose block is {@code sampleBlock}. */
    private void perturbAll(long sampleBlock, float c) {
        kernels.perturb(dtype, theta.address(), chunkBuffer.address(), table.size(), sampleBlock, state.m(),
                opt.direction().code, c, ops.stream());
    }

    /** Writes each sample's g and the bad flag that the update kernels read, runs the fused (restore +) update, waits. */
    private void finishHostStep(long step, float[] g, boolean bad, boolean inPlace) {
        CudaStream s = ops.stream();
        ByteBuffer b = pinned.slice(0, 8 * q);
        for (int k = 0; k < q; k++) {
            b.putFloat(8 * k, bad ? 0f : g[k]);
            b.putInt(8 * k + 4, bad ? 1 : 0);
            scalars.copyFromHost(at(8L * k), (long) k * ZoScalars.SIZE + ZoScalars.G, 8, s);
        }
        kernels.update(opt, dtype, theta.address(), chunkBuffer.address(), table.size(), scalars.address(),
                state.m(), state.v(), opt.direction().code, inPlace, s);
        s.synchronize();
        t = step;
    }

    private BytePointer at(long offset) {
        return new BytePointer(pinned.pointer()).position(offset);
    }

    private List<ZoStep.Result> takeReady() {
        List<ZoStep.Result> r = new ArrayList<>(ready);
        ready.clear();
        return r;
    }

    /** Waits for the step in flight, if any, and reads its outputs (the guard stops a run of bad steps here). */
    private void harvestPending() {
        if (pendingStep == 0) {
            return;
        }
        long step = pendingStep;
        pendingStep = 0;
        if (spread != null) {
            // the step's collective completes only when every rank has launched its own: wait naming a rank that
            // failed or did not arrive, never forever
            spread.await(pendingLaunch, () -> cudaEventQuery(done.handle()) != cudaErrorNotReady);
        }
        done.synchronize();
        float[] lps = new float[q];
        float[] lms = new float[q];
        float[] gs = new float[q];
        boolean bad = false;
        for (int k = 0; k < q; k++) {
            ZoScalars.Outputs o = ZoScalars.Outputs.read(pinned.slice(
                    (long) k * ZoScalars.SIZE + ZoScalars.OUTPUT, ZoScalars.OUTPUT_BYTES));
            if (o.step() != (int) step) {
                throw new IllegalStateException("zo step " + step + ": the device outputs of sample " + k
                        + " belong to step " + o.step());
            }
            lps[k] = o.lossPlus();
            lms[k] = o.lossMinus();
            gs[k] = o.bad() ? (lps[k] - lms[k]) / (2.0f * eps) : o.g();
            bad |= o.bad();
        }
        ready.add(new ZoStep.Result(step, lps, lms, gs, bad));
        guard.record(step, bad, lps[0], lms[0]);
    }

    /**
     * The step's device work, identical eagerly and under capture. The last - pass is left in the enclosing scope so
     * that, in graph mode, the step's scope keeps the activation memory every pass reuses.
     */
    /** A step's micro-batches and where each one's forward inputs and loss inputs start among the bound tensors. */
    private record Pass(List<MicroBatch> micro, int[] inputsAt, int[] lossAt) {
    }

    private void stepBody(Pass pass, List<IntTensor> bound) {
        CudaStream s = ops.stream();
        boolean inPlace = config.strategy() == PerturbationStrategy.IN_PLACE;
        long th = theta.address();
        long chunks = chunkBuffer.address();
        long sc = scalars.address();
        long mAddr = state.m();
        long vAddr = state.v();
        int n = table.size();
        int dir = opt.direction().code;
        WeightSource perturbed = inPlace ? trainable.weights(frozen()) : null;
        for (int k = 0; k < q; k++) {
            long sk = block(k);
            boolean last = k == q - 1;
            boolean mine = evaluates(k);
            if (inPlace) {
                kernels.perturb(dtype, th, chunks, n, sk, mAddr, dir, 1f, s);
            }
            if (mine) {
                try (Ops.Scope plusScope = ops.scope()) {
                    lossInto(pass, bound, inPlace ? perturbed : shadow.plus(sk), sk + ZoScalars.CE_PLUS,
                            spreadAt(k, 0));
                }
            }
            if (inPlace) {
                kernels.perturb(dtype, th, chunks, n, sk, mAddr, dir, -2f, s);
            }
            if (!mine) {
                // another rank evaluates this sample: nothing to compute here
            } else if (last) {
                lossInto(pass, bound, inPlace ? perturbed : shadow.minus(sk), sk + ZoScalars.CE_MINUS,
                        spreadAt(k, 1));
            } else {
                try (Ops.Scope minusScope = ops.scope()) {
                    lossInto(pass, bound, inPlace ? perturbed : shadow.minus(sk), sk + ZoScalars.CE_MINUS,
                            spreadAt(k, 1));
                }
            }
            if (spread == null) {
                kernels.grad(sk, s);
            }
            if (inPlace && !last) {
                kernels.perturb(dtype, th, chunks, n, sk, mAddr, dir, 1f, s); // restore
            }
        }
        if (spread != null) {
            reduceOverRanks(pass.micro().size());
        }
        kernels.update(opt, dtype, th, chunks, n, sc, mAddr, vAddr, dir, inPlace, s);
    }

    /**
     * Where sample k's pass (0 = +, 1 = −) puts its pairs in a spread step (the M micro-batches' pairs, or with the
     * samples spread their mean), or 0 when the step is not spread.
     */
    private long spreadAt(int k, int sign) {
        if (spread == null) {
            return 0;
        }
        int per = spreadSamples ? 1 : config.microBatches();
        return local.address() + 8L * ((2L * k + sign) * per);
    }

    /**
     * The collective of a spread step: every rank's pairs gathered (NCCL, on the step's stream), added in rank order,
     * then per sample ℓ± into its block (the mean of the M reduced micro-batch pairs, or the reduced mean) and g.
     */
    private void reduceOverRanks(int m) {
        CudaStream s = ops.stream();
        int count = spreadPairs();
        spread.allGatherFloats(local.address(), gathered.address(), 2L * count, s);
        kernels.lossPairSum(gathered.address(), spread.worldSize(), count, reduced.address(), s);
        int per = spreadSamples ? 1 : m;
        for (int k = 0; k < q; k++) {
            long sk = block(k);
            for (int sign = 0; sign < 2; sign++) {
                long from = reduced.address() + 8L * ((2L * k + sign) * per);
                long to = sk + (sign == 0 ? ZoScalars.CE_PLUS : ZoScalars.CE_MINUS);
                if (per == 1) {
                    DeviceBuffer.copy(to, from, 8, s);
                } else {
                    kernels.lossMean(from, per, to, s);
                }
            }
            kernels.grad(sk, s);
        }
    }

    /** One pass on θ itself into the spare pair (the allocations of a pass; nothing else touched). */
    private void warmPass(Pass pass, List<IntTensor> bound) {
        passLoss(pass, bound, trainable.weights(frozen()), pairs.address() + 8L * pass.micro().size(), 0);
    }

    /** The frozen parameters a forward pass reads; a replay-only step has none. */
    private Parameters frozen() {
        if (frozen == null) {
            throw new IllegalStateException("a replay-only DeviceZoStep (no frozen parameters) runs no forward pass");
        }
        return frozen;
    }

    /** A pass's loss into {@code dst}, or in a spread step to {@code spreadAt}. */
    private void lossInto(Pass pass, List<IntTensor> bound, WeightSource weights, long dst, long spreadAt) {
        if (spreadAt == 0) {
            passLoss(pass, bound, weights, dst, 0);
        } else if (spreadSamples) {
            passLoss(pass, bound, weights, spreadAt, 0); // the pass's loss as on one GPU, for the others
        } else {
            passLoss(pass, bound, weights, 0, spreadAt); // each micro-batch's pair, added over the ranks
        }
    }

    /**
     * One pass: every micro-batch's forward and device loss, each but the last in a scope of its own, into the
     * pair at {@code dst}; with M > 1 the M pairs go to {@link #pairs} and their mean (loss_mean) to dst. With
     * {@code pairsAt} (a batch-split spread step) the M pairs go there and nothing to dst: the ranks add them first.
     */
    private void passLoss(Pass pass, List<IntTensor> bound, WeightSource weights, long dst, long pairsAt) {
        int m = pass.micro().size();
        for (int j = 0; j < m; j++) {
            long out = pairsAt != 0 ? pairsAt + 8L * j : m == 1 ? dst : pairs.address() + 8L * j;
            if (j < m - 1) {
                try (Ops.Scope mbScope = ops.scope()) {
                    microLoss(pass, j, bound, weights, out);
                }
            } else {
                microLoss(pass, j, bound, weights, out);
            }
        }
        if (m > 1 && pairsAt == 0) {
            kernels.lossMean(pairs.address(), m, dst, ops.stream());
        }
    }

    private void microLoss(Pass pass, int j, List<IntTensor> bound, WeightSource weights, long out) {
        MicroBatch mb = pass.micro().get(j);
        graph.ops().rewind(pass.inputsAt()[j]);
        Tensor logits = mb.loss().forward().run(graph.ops(), model, weights, mb.batch());
        int from = pass.lossAt()[j];
        mb.loss().compute(ops, kernels, model, weights, logits, bound.subList(from, from + mb.loss().ints().size()),
                out);
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("GPU zeroth-order engine is closed");
        }
    }

    private void drainQuietly() {
        try {
            harvestPending();
        } catch (ZotuneException e) {
            // too many bad steps: reported by the call that harvests them; nothing to undo here
        }
    }

    /** Waits for the step in flight (its result is dropped unless drained before), then frees everything. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            ops.stream().synchronize();
            graph.close();
        } finally {
            for (AutoCloseable c : new AutoCloseable[] {done, chunkBuffer, scalars, pairs, local, gathered, reduced,
                    state, shadow, pinned, kernels}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (Exception e) {
                        // keep freeing the rest
                    }
                }
            }
        }
    }
}
