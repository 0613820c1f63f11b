package org.zotune.zo.cuda;

import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaEventQuery;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
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
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaEvent;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ParamSpec;
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
 * perturb(+), forward, loss, perturb(-), forward, loss, projected gradient (on the device), fused update. The
 * whole step is captured once as a CUDA graph per batch shape and replayed; per step the host only writes the
 * step's scalars (seed, η_t, schedule values) and the batch's int inputs asynchronously, and reads the losses
 * back asynchronously through a ring of pinned slots: nothing inside a step waits for the device.
 *
 * <p>Holds: the chunk table over the trainable tensors of the flat {@link CudaParameters}, optimiser state for
 * the trainable elements only (float32, indexed by global noise index), the scalar block, and for the shadow
 * strategy one scratch slot the size of the largest trainable matrix (embeddings included) plus a ring of
 * {@link #VECTOR_SLOTS} small slots the size of the largest trainable vector (biases, norm weights).
 *
 * <p>Shadow weights: {@code weight(i)} materialises R(θ_i ± εu_i) into scratch right before the model uses it:
 * a matrix into the matrix slot (valid until the next matrix), a vector into the next slot of the vector ring
 * (valid for the next {@code VECTOR_SLOTS - 1} vectors). The models use a matrix before asking for the next one,
 * and hold at most one matrix and three vectors at once (a projection with its bias fused with the following
 * norm's weight and bias); {@code ShadowLivenessTest} checks GPT-2, OPT and Llama against this.
 *
 * <p>q SPSA samples (ALGORITHMS.md §2): the scalar block is q blocks, one per sample (its noise stream, losses and
 * g); the step runs the two passes of each sample in turn (in place: perturb, forward, perturb, forward, restore,
 * the last restore fused with the update), and the one fused update averages the q estimates, regenerating each
 * sample's direction (q Philox streams per element, one pass over θ). ZO-AdaMU takes q = 1.
 *
 * <p>Limits: the captured step ({@link #submit}) takes one micro-batch, {@link #stepEager} any number (the caller's
 * loss function averages them); the parameters must be in the ops' compute type. Not thread-safe. The engine opens
 * an activation scope on the ops for the captured graph's activations and inputs: close the engine before scopes
 * opened before it.
 */
public final class DeviceZoStep implements AutoCloseable {
    /** Pinned slots for step inputs/outputs: how many steps may be in flight before the host waits. */
    public static final int RING = 8;
    /** Shadow scratch for matrices: one slot, valid until the next matrix is asked for. */
    public static final int MATRIX_SLOTS = 1;
    /** Shadow scratch for vectors (biases, norm weights): a vector stays valid for the next VECTOR_SLOTS - 1 vectors. */
    public static final int VECTOR_SLOTS = 4;

    private final CudaOps ops;
    private final CausalLM model;
    private final CudaParameters params;
    private final DType dtype;
    private final GpuOptimizer opt;
    private final ZoStep.Config config;
    private final float eps;
    private final int q;
    private final ChunkTable table;
    private final int[] trainableIndex; // model parameter -> trainable tensor k, or -1
    private final ZoKernels kernels;
    private final BoundInputOps boundOps;
    private final ShadowWeights plus;
    private final ShadowWeights minus;

    private DeviceBuffer chunkBuffer;
    private DeviceBuffer scalars;
    private DeviceBuffer m;
    private DeviceBuffer v;
    private DeviceBuffer scratch;
    private long matrixSlotBytes;
    private long vectorSlotBytes;
    private final boolean[] vectorRole; // model parameter -> lives in the vector ring under shadow
    private PinnedBuffer pinned;
    private final CudaEvent[] slotDone = new CudaEvent[RING];
    private final long[] slotStep = new long[RING];
    private final ArrayDeque<Integer> pending = new ArrayDeque<>();
    private final List<ZoStep.Result> ready = new ArrayList<>();

    private boolean useGraph = true;
    private Ops.Scope graphScope;
    private CudaOps.Graph graph;
    private int graphBatch;
    private int graphSeq;
    private List<IntTensor> boundInputs;
    private IntTensor boundTargets;

    private long t;
    private final BadStepGuard guard;
    private boolean closed;

    /**
     * @param ops             the CUDA ops the model runs on (the engine uses its stream)
     * @param model           the model
     * @param parameters      its parameters from {@code ops.createParameters} in the ops' compute type
     * @param optimizerConfig the optimiser
     * @param config          ε, q, strategy, seed, bad-step limit; M = 1 for {@link #submit}; paramDType = the
     *                        parameters' dtype
     * @param trainable       which parameters are trained (null = all)
     */
    public DeviceZoStep(CudaOps ops, CausalLM model, Parameters parameters, ZoOptimizerConfig optimizerConfig,
                       ZoStep.Config config, boolean[] trainable) {
        if (!(parameters instanceof CudaParameters)) {
            throw new ZotuneException("GPU zeroth-order engine: the parameters are not on the CUDA device");
        }
        this.ops = ops;
        this.model = model;
        this.params = (CudaParameters) parameters;
        this.dtype = params.dtype();
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
        if (dtype != ops.computeType()) {
            throw new ZotuneException("GPU zeroth-order engine: parameters are " + dtype + " but the CUDA ops compute in "
                    + ops.computeType());
        }
        if (model.params().size() != params.count()) {
            throw new ZotuneException("GPU zeroth-order engine: the model has " + model.params().size()
                    + " parameters, the parameter buffer " + params.count());
        }
        long[] offsets = new long[params.count()];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = params.offset(i);
        }
        this.table = ChunkTable.build(model.params(), offsets, trainable);
        this.trainableIndex = new int[params.count()];
        java.util.Arrays.fill(trainableIndex, -1);
        long largestMatrix = 0;
        long largestVector = 0;
        this.vectorRole = new boolean[params.count()];
        for (int k = 0; k < table.trainableCount(); k++) {
            int p = table.parameter(k);
            trainableIndex[p] = k;
            vectorRole[p] = isVector(model.params().get(p));
            long bytes = params.weight(p).numel() * dtype.bytes();
            if (vectorRole[p]) {
                largestVector = Math.max(largestVector, bytes);
            } else {
                largestMatrix = Math.max(largestMatrix, bytes);
            }
        }
        this.kernels = new ZoKernels(ops.device().multiprocessors() * 8).stateDType(opt.stateDType());
        this.boundOps = new BoundInputOps(ops);
        this.plus = new ShadowWeights(+1f);
        this.minus = new ShadowWeights(-1f);
        try {
            CudaStream s = ops.stream();
            ByteBuffer tb = table.toBytes();
            chunkBuffer = DeviceBuffer.allocate(tb.capacity());
            pinned = PinnedBuffer.allocate(Math.max(tb.capacity(), (long) RING * q * ZoScalars.SIZE));
            pinned.slice(0, tb.capacity()).put(tb);
            chunkBuffer.copyFromHost(pinned.pointer(), 0, tb.capacity(), s);
            s.synchronize(); // the pinned buffer is reused for step slots next
            scalars = DeviceBuffer.allocate((long) q * ZoScalars.SIZE);
            scalars.fill(0, (long) q * ZoScalars.SIZE, 0, s);
            long stateBytes = opt.stateBytes(table.stateElements());
            if (opt.stateVectors() >= 1) {
                m = DeviceBuffer.allocate(stateBytes);
                m.fill(0, stateBytes, 0, s);
            }
            if (opt.stateVectors() >= 2) {
                v = DeviceBuffer.allocate(stateBytes);
                v.fill(0, stateBytes, 0, s);
            }
            if (config.strategy() == PerturbationStrategy.SHADOW && largestMatrix + largestVector > 0) {
                matrixSlotBytes = (largestMatrix + 255) / 256 * 256;
                vectorSlotBytes = (largestVector + 255) / 256 * 256;
                scratch = DeviceBuffer.allocate(MATRIX_SLOTS * matrixSlotBytes + VECTOR_SLOTS * vectorSlotBytes);
            }
            for (int i = 0; i < RING; i++) {
                slotDone[i] = CudaEvent.create(false);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** All parameters trainable. */
    public DeviceZoStep(CudaOps ops, CausalLM model, Parameters parameters, ZoOptimizerConfig optimizerConfig,
                       ZoStep.Config config) {
        this(ops, model, parameters, optimizerConfig, config, null);
    }

    /** Graph capture and replay (default) or eager launches of the same sequence. */
    public DeviceZoStep useGraph(boolean graph) {
        if (graph != useGraph) {
            drainQuietly();
            closeGraph();
            useGraph = graph;
        }
        return this;
    }

    /** The noise layout of the trainable tensors: build a CPU reference optimiser on it. */
    public NoiseLayout layout() {
        return table.layout();
    }

    public ChunkTable chunkTable() {
        return table;
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
     * t without waiting for the device (unless {@link #RING} steps are already in flight).
     */
    public long submit(Batch batch, int[] targets) {
        open();
        if (config.microBatches() != 1) {
            throw new ZotuneException("zo step: the captured step takes one micro-batch, configured "
                    + config.microBatches() + "; use stepEager");
        }
        if (targets.length != batch.tokens()) {
            throw new ZotuneException("zo step: " + targets.length + " targets for a batch of " + batch.tokens()
                    + " tokens");
        }
        long step = t + 1;
        int slot = (int) (step % RING);
        reclaim(slot);
        CudaStream s = ops.stream();
        long in = (long) slot * q * ZoScalars.SIZE;
        copyStepInputs(in, step);
        if (useGraph) {
            List<int[]> inputs = InputRecorder.record(model, batch, params, ops.computeType());
            ensureGraph(batch, inputs, targets);
            for (int k = 0; k < inputs.size(); k++) {
                ops.write(boundInputs.get(k), inputs.get(k));
            }
            ops.write(boundTargets, targets);
            graph.replay();
        } else {
            try (Ops.Scope sc = ops.scope()) {
                boundOps.bind(null);
                stepBody(batch, ops.ints(targets), false);
            }
        }
        // the q output blocks (with the inputs of blocks 1 .. q-1 between them, unchanged) in one copy
        scalars.copyToHost(ZoScalars.OUTPUT, at(in + ZoScalars.OUTPUT),
                (long) (q - 1) * ZoScalars.SIZE + ZoScalars.OUTPUT_BYTES, s);
        slotDone[slot].record(s);
        slotStep[slot] = step;
        pending.addLast(slot);
        t = step;
        return step;
    }

    /** Waits for every submitted step and returns the results not returned before, in step order. */
    public List<ZoStep.Result> drain() {
        open();
        while (!pending.isEmpty()) {
            harvest(pending.pollFirst());
        }
        return takeReady();
    }

    /** Returns the results of the steps that have finished, without waiting. */
    public List<ZoStep.Result> poll() {
        open();
        while (!pending.isEmpty()) {
            int rc = cudaEventQuery(slotDone[pending.peekFirst()].handle());
            if (rc == cudaErrorNotReady) {
                break;
            }
            Cuda.check(rc, "cudaEventQuery");
            harvest(pending.pollFirst());
        }
        return takeReady();
    }

    /** Submits one step and waits for it (convenient; a training loop should submit ahead and poll). */
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
        drainQuietlyOrThrow();
        long step = t + 1;
        writeStepInputs(step);
        boolean inPlace = config.strategy() == PerturbationStrategy.IN_PLACE;
        float[] lp = new float[q];
        float[] lm = new float[q];
        float[] g = new float[q];
        for (int k = 0; k < q; k++) {
            long sk = block(k);
            if (inPlace) {
                perturbAll(sk, 1f);
                lp[k] = loss.loss(params);
                perturbAll(sk, -2f);
                lm[k] = loss.loss(params);
                if (k < q - 1) {
                    perturbAll(sk, 1f); // the restore; the last one is fused with the update
                }
            } else {
                lp[k] = loss.loss(plus.sample(sk));
                lm[k] = loss.loss(minus.sample(sk));
            }
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
        drainQuietlyOrThrow();
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
     * Sets the step counter and the optimiser state (a resumed run): {@code m} and {@code v} indexed by global noise
     * index as {@link #state(int)} returns them (null when the optimiser has no such vector). Synchronises.
     */
    public void restoreState(long steps, long skippedSteps, int badRow, float[] mValues, float[] vValues) {
        open();
        drainQuietlyOrThrow();
        closeGraph(); // recaptured on the next submit
        writeState(m, mValues, "m");
        writeState(v, vValues, "v");
        this.t = steps;
        guard.restore(skippedSteps, badRow);
        java.util.Arrays.fill(slotStep, 0L);
    }

    private void writeState(DeviceBuffer b, float[] values, String what) {
        if (b == null) {
            if (values != null) {
                throw new ZotuneException(opt.name() + " has no optimiser state " + what);
            }
            return;
        }
        int n = (int) table.stateElements();
        if (values == null || values.length != n) {
            throw new ZotuneException("optimiser state " + what + ": " + (values == null ? 0 : values.length)
                    + " values for " + n + " state elements");
        }
        // values read back by state(i) from a bf16/f16 state are exact in that type, so this round trip is exact
        DType st = opt.stateDType();
        try (PinnedBuffer host = PinnedBuffer.allocate((long) st.bytes() * n)) {
            ByteBuffer h = host.slice(0, st.bytes() * n);
            for (int i = 0; i < n; i++) {
                if (st == DType.F32) {
                    h.putFloat(4 * i, values[i]);
                } else {
                    h.putShort(2 * i, st == DType.BF16 ? DType.floatToBf16(values[i]) : DType.floatToF16(values[i]));
                }
            }
            b.copyFromHost(host.pointer(), 0, (long) st.bytes() * n, ops.stream());
            ops.stream().synchronize();
        }
    }

    /** Step t's input scalars into the q blocks (through pinned slot 0; synchronises). */
    private void writeStepInputs(long step) {
        copyStepInputs(0, step);
        ops.stream().synchronize();
    }

    /** Writes the q input blocks of step t into the pinned slot at {@code in} and copies them to the device. */
    private void copyStepInputs(long in, long step) {
        long seed = Noise.stepSeed(config.seed(), step);
        for (int k = 0; k < q; k++) {
            long at = in + (long) k * ZoScalars.SIZE;
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
        kernels.perturb(dtype, params.address(), chunkBuffer.address(), table.size(), sampleBlock,
                m == null ? 0L : m.address(), opt.direction().code, c, ops.stream());
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
        long mAddr = m == null ? 0L : m.address();
        long vAddr = v == null ? 0L : v.address();
        kernels.update(opt, dtype, params.address(), chunkBuffer.address(), table.size(), scalars.address(),
                mAddr, vAddr, opt.direction().code, inPlace, s);
        s.synchronize();
        t = step;
    }

    /** Harvests the captured steps in flight so that an eager step follows them on the host too. */
    private void drainQuietlyOrThrow() {
        while (!pending.isEmpty()) {
            harvest(pending.pollFirst());
        }
    }

    /** A copy of optimiser state vector {@code which} (0 = m, 1 = v), indexed by global noise index (synchronises). */
    public float[] state(int which) {
        open();
        DeviceBuffer b = which == 0 ? m : which == 1 ? v : null;
        if (b == null) {
            throw new IllegalArgumentException(opt.name() + " has no state vector " + which);
        }
        int n = (int) table.stateElements();
        DType st = opt.stateDType();
        float[] out = new float[n];
        try (PinnedBuffer host = PinnedBuffer.allocate((long) st.bytes() * n)) {
            b.copyToHost(0, host.pointer(), (long) st.bytes() * n, ops.stream());
            ops.stream().synchronize();
            ByteBuffer h = host.slice(0, st.bytes() * n);
            for (int i = 0; i < n; i++) {
                out[i] = st == DType.F32 ? h.getFloat(4 * i)
                        : st == DType.BF16 ? DType.bf16ToFloat(h.getShort(2 * i)) : DType.f16ToFloat(h.getShort(2 * i));
            }
        }
        return out;
    }

    private BytePointer at(long offset) {
        return new BytePointer(pinned.pointer()).position(offset);
    }

    private void reclaim(int slot) {
        if (slotStep[slot] == 0) {
            return;
        }
        long owner = slotStep[slot];
        while (!pending.isEmpty() && slotStep[pending.peekFirst()] <= owner) {
            harvest(pending.pollFirst());
        }
    }

    private List<ZoStep.Result> takeReady() {
        List<ZoStep.Result> r = new ArrayList<>(ready);
        ready.clear();
        return r;
    }

    private void harvest(int slot) {
        slotDone[slot].synchronize();
        long step = slotStep[slot];
        slotStep[slot] = 0;
        float[] lps = new float[q];
        float[] lms = new float[q];
        float[] gs = new float[q];
        boolean bad = false;
        for (int k = 0; k < q; k++) {
            ZoScalars.Outputs o = ZoScalars.Outputs.read(pinned.slice(
                    ((long) slot * q + k) * ZoScalars.SIZE + ZoScalars.OUTPUT, ZoScalars.OUTPUT_BYTES));
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

    private void ensureGraph(Batch batch, List<int[]> inputs, int[] targets) {
        if (graph != null && batch.batch() == graphBatch && batch.seq() == graphSeq
                && sameLengths(inputs, boundInputs) && boundTargets.length() == targets.length) {
            return;
        }
        closeGraph();
        graphScope = ops.scope();
        boolean ok = false;
        try {
            List<IntTensor> b = new ArrayList<>();
            for (int[] values : inputs) {
                b.add(ops.ints(values));
            }
            boundInputs = b;
            boundTargets = ops.ints(targets);
            boundOps.bind(boundInputs);
            // cudaMalloc is refused while a stream captures, so the activation arena must not grow inside the
            // capture: make the two passes' allocations once eagerly (on θ itself, nothing else touched), then
            // release them; the captured passes make the same allocations from the same mark into existing chunks
            try (Ops.Scope warm = ops.scope()) {
                try (Ops.Scope first = ops.scope()) {
                    warmPass(batch, boundTargets);
                }
                warmPass(batch, boundTargets);
            }
            graph = ops.captureGraph(() -> stepBody(batch, boundTargets, true));
            graphBatch = batch.batch();
            graphSeq = batch.seq();
            ok = true;
        } finally {
            if (!ok) {
                closeGraph();
            }
        }
    }

    private static boolean sameLengths(List<int[]> a, List<IntTensor> b) {
        if (b == null || a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i).length != b.get(i).length()) {
                return false;
            }
        }
        return true;
    }

    private void closeGraph() {
        if (graph != null) {
            graph.close();
            graph = null;
        }
        if (graphScope != null) {
            Ops.Scope sc = graphScope;
            graphScope = null;
            sc.close();
        }
        boundInputs = null;
        boundTargets = null;
        boundOps.bind(null);
    }

    /**
     * The step's device work, identical eagerly and under capture. The last - pass is left in the enclosing scope so
     * that, in graph mode, the engine's scope keeps the activation memory every pass reuses.
     */
    private void stepBody(Batch batch, IntTensor targets, boolean graphMode) {
        CudaStream s = ops.stream();
        boolean inPlace = config.strategy() == PerturbationStrategy.IN_PLACE;
        long theta = params.address();
        long chunks = chunkBuffer.address();
        long sc = scalars.address();
        long mAddr = m == null ? 0L : m.address();
        long vAddr = v == null ? 0L : v.address();
        int n = table.size();
        int dir = opt.direction().code;
        for (int k = 0; k < q; k++) {
            long sk = block(k);
            boolean last = k == q - 1;
            if (inPlace) {
                kernels.perturb(dtype, theta, chunks, n, sk, mAddr, dir, 1f, s);
            }
            try (Ops.Scope plusScope = ops.scope()) {
                lossInto(batch, targets, inPlace ? params : plus.sample(sk), sk + ZoScalars.CE_PLUS);
            }
            if (inPlace) {
                kernels.perturb(dtype, theta, chunks, n, sk, mAddr, dir, -2f, s);
            }
            if (last) {
                lossInto(batch, targets, inPlace ? params : minus.sample(sk), sk + ZoScalars.CE_MINUS);
            } else {
                try (Ops.Scope minusScope = ops.scope()) {
                    lossInto(batch, targets, inPlace ? params : minus.sample(sk), sk + ZoScalars.CE_MINUS);
                }
            }
            kernels.grad(sk, s);
            if (inPlace && !last) {
                kernels.perturb(dtype, theta, chunks, n, sk, mAddr, dir, 1f, s); // restore
            }
        }
        kernels.update(opt, dtype, theta, chunks, n, sc, mAddr, vAddr, dir, inPlace, s);
    }

    private void warmPass(Batch batch, IntTensor targets) {
        boundOps.rewind();
        ops.crossEntropy(model.forward(boundOps, params, batch), targets);
    }

    private void lossInto(Batch batch, IntTensor targets, WeightSource weights, long dst) {
        boundOps.rewind();
        plus.ring = 0;
        minus.ring = 0;
        Tensor logits = model.forward(boundOps, weights, batch);
        Tensor ce = ops.crossEntropy(logits, targets);
        DeviceBuffer.copy(dst, CudaTensors.address(ce), 8, ops.stream());
    }

    /** Biases and norm parameters go to the vector ring; matrices and embeddings to the matrix slot. */
    static boolean isVector(ParamSpec spec) {
        return switch (spec.role()) {
            case BIAS, NORM_WEIGHT, NORM_BIAS -> true;
            default -> false;
        };
    }

    /** θ ± εu of trainable tensors, materialised into scratch right before use; frozen ones as they are. */
    private final class ShadowWeights implements WeightSource {
        private final float sign;
        int ring;
        long sampleBlock; // the scalar block of the SPSA sample whose u these weights carry

        ShadowWeights(float sign) {
            this.sign = sign;
        }

        /** These weights for the sample whose scalar block is at {@code block}, from the first vector slot. */
        ShadowWeights sample(long block) {
            sampleBlock = block;
            ring = 0;
            return this;
        }

        @Override
        public Tensor weight(int index) {
            Tensor w = params.weight(index);
            int k = trainableIndex[index];
            if (k < 0) {
                return w;
            }
            long slot;
            if (vectorRole[index]) {
                slot = scratch.address() + MATRIX_SLOTS * matrixSlotBytes + (ring % VECTOR_SLOTS) * vectorSlotBytes;
                ring++;
            } else {
                slot = scratch.address();
            }
            kernels.shadow(dtype, CudaTensors.address(w), slot, w.numel(), table.layout().offset(k),
                    sampleBlock, m == null ? 0L : m.address(), opt.direction().code, sign, ops.stream());
            return CudaTensors.view(slot, w.rows(), w.cols(), dtype);
        }
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("GPU zeroth-order engine is closed");
        }
    }

    private void drainQuietly() {
        while (!pending.isEmpty()) {
            try {
                harvest(pending.pollFirst());
            } catch (ZotuneException e) {
                // too many bad steps: reported by the call that harvests them; nothing to undo here
            }
        }
    }

    /** Waits for the steps in flight (their results are dropped unless drained before), then frees everything. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            ops.stream().synchronize();
            closeGraph();
        } finally {
            for (CudaEvent e : slotDone) {
                if (e != null) {
                    e.close();
                }
            }
            for (AutoCloseable c : new AutoCloseable[] {chunkBuffer, scalars, m, v, scratch, pinned, kernels}) {
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
