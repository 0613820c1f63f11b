package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Adapter;
import org.zotune.peft.TrainableSet;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * The CPU ZO engine: θ is the flat array of {@link CpuOps} parameters, the objective runs through
 * {@link LanguageModel#forward} on {@link CpuOps}, and each step is {@link ZoStep}'s over that flat θ (the one ZO step:
 * directions, perturbation rounding, loss averaging, skip rule and update), started at the engine's step so that a
 * resumed run continues at t > 0.
 * <ul>
 *   <li>shadow: θ ± εu is written into a second parameter buffer that the forward pass reads through the
 *       {@link org.zotune.backend.WeightSource} seam; θ changes only in the update;</li>
 *   <li>in place: θ itself is perturbed, evaluated and restored (MeZO's way).</li>
 * </ul>
 */
public final class CpuZoEngine implements ZoEngine {
    private final CpuOps ops;
    private final LanguageModel model;
    private final Objective objective;
    private final ZoOptimizer optimizer;
    private final LrSchedule lrSchedule;
    private final ZoStep.Config config;
    private final NoiseLayout layout;
    private final Parameters params;
    private final Parameters scratch;
    private final WeightSource weights; // θ as the model sees it
    private final WeightSource shadowWeights; // R(θ ± εu) as the model sees it (shadow strategy)
    private final float[] theta;
    private final float[] shadow;
    private final long[] offsets;
    private final int[] entries; // tensor k of the trainable set is buffer entry entries[k]
    private final DType dtype;
    private final ZoStep zo;
    private final Adapter.Bound adapter; // null: full fine-tuning
    private final Parameters adapters; // the adapter tensors' buffer (θ), or null

    /**
     * Full fine-tuning.
     *
     * @param initial    the model's parameters (any dtype; rounded to {@code config.paramDType()})
     * @param lrSchedule the optimiser's schedule (reported with each step)
     */
    public CpuZoEngine(LanguageModel model, List<HostTensor> initial, Objective objective, ZoOptimizer optimizer,
            LrSchedule lrSchedule, ZoStep.Config config) {
        this(model, initial, null, objective, optimizer, lrSchedule, config);
    }

    /**
     * Over a trainable set: every weight ({@code adapter} null), or an adapter over the frozen model (LoRA, prefix;
     * the optimiser's layout is then {@code adapter.tensors()}; they are float32 and start from {@code config.seed()},
     * the base is read only).
     *
     * @param initial    the model's parameters (any dtype; rounded to {@code config.paramDType()})
     * @param lrSchedule the optimiser's schedule (reported with each step)
     */
    public CpuZoEngine(LanguageModel model, List<HostTensor> initial, Adapter adapter, Objective objective,
            ZoOptimizer optimizer, LrSchedule lrSchedule, ZoStep.Config config) {
        this(model, initial, adapter, null, objective, optimizer, lrSchedule, config);
    }

    /**
     * Over a trainable set: the model's parameters flagged in {@code trainable} (null: all; the optimiser's layout is
     * then over the flagged ones, in the model's order; the rest stays as loaded, e.g. a frozen encoder under a linear
     * probe), or an adapter over the frozen model ({@code trainable} must then be null).
     */
    public CpuZoEngine(LanguageModel model, List<HostTensor> initial, Adapter adapter, boolean[] trainable,
            Objective objective, ZoOptimizer optimizer, LrSchedule lrSchedule, ZoStep.Config config) {
        if (adapter != null && trainable != null) {
            throw new IllegalArgumentException("an adapter trains its own tensors; a mask of model parameters is for "
                    + "sets in the model's buffer");
        }
        this.lrSchedule = lrSchedule;
        this.ops = new CpuOps(config.paramDType());
        this.model = model;
        this.objective = objective;
        this.optimizer = optimizer;
        this.config = config;
        this.layout = optimizer.layout();
        if (config.samples() > optimizer.maxSamples()) {
            throw new ZotuneException(optimizer.name() + ": q (SPSA samples) must be <= " + optimizer.maxSamples()
                    + ", got " + config.samples());
        }
        if (initial.size() != model.params().size()) {
            throw new ZotuneException("engine: " + initial.size() + " tensors for " + model.params().size()
                    + " parameters");
        }
        this.params = ops.createParameters(initial, config.paramDType());
        TrainableStorage storage;
        ZoStep.Config stepConfig = config;
        if (adapter == null) {
            // model parameters train (all, or the flagged ones), in the model's own parameter buffer
            this.adapter = null;
            this.dtype = config.paramDType();
            this.adapters = null;
            TrainableSet set = TrainableSet.of(model.params(), trainable);
            storage = TrainableStorage.inModel(set, model.params(), params);
            if (config.strategy() == PerturbationStrategy.SHADOW) {
                // a second buffer like θ's: the frozen values as they are, the trainable ones overwritten per pass
                this.scratch = ops.createParameters(initial, dtype);
                this.shadowWeights = TrainableStorage.inModel(set, model.params(), scratch).weights(params);
            } else {
                this.scratch = null;
                this.shadowWeights = null;
            }
        } else {
            // adapters: their own float32 buffer (and shadow), the model's buffer frozen
            List<ParamSpec> want = adapter.tensors();
            for (int k = 0; k < Math.max(want.size(), layout.count()); k++) {
                if (k >= want.size() || k >= layout.count() || !layout.spec(k).name().equals(want.get(k).name())
                        || layout.spec(k).numel() != want.get(k).numel()) {
                    throw new IllegalArgumentException("the optimiser's layout is not the " + adapter.method()
                            + " set's");
                }
            }
            this.adapter = adapter.bind(ops, model, params, config.seed());
            this.dtype = DType.F32;
            stepConfig = new ZoStep.Config(config.eps(), config.samples(), config.strategy(), config.microBatches(),
                    config.maxBadSteps(), DType.F32, config.seed());
            List<HostTensor> init = this.adapter.initial();
            this.adapters = ops.createParameters(init, DType.F32);
            storage = TrainableStorage.own(this.adapter.set(), adapters);
            if (config.strategy() == PerturbationStrategy.SHADOW) {
                this.scratch = ops.createParameters(init, DType.F32);
                this.shadowWeights = TrainableStorage.own(this.adapter.set(), scratch).weights(params);
            } else {
                this.scratch = null;
                this.shadowWeights = null;
            }
        }
        this.theta = CpuOps.flatValues(storage.buffer());
        this.offsets = storage.bufferOffsets();
        this.entries = storage.entries();
        this.shadow = scratch == null ? null : CpuOps.flatValues(scratch);
        this.weights = storage.weights(params);
        this.zo = new ZoStep(stepConfig, optimizer, theta, offsets, storage.mask(), shadow, 0);
    }

    @Override
    public String device() {
        return "cpu";
    }

    /** Spreads each step's SPSA samples over data-parallel workers ({@link DataParallelEngine}, split samples). */
    void spreadSamples(ZoStep.SampleExchange exchange) {
        zo.setSampleExchange(exchange);
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
        float lr = lrSchedule.at(step);
        ZoStep.Result r = zo.stepFlat((onShadow, b) -> {
            try (Ops.Scope s = ops.scope()) {
                return objective.loss(ops, model, onShadow ? shadowWeights : weights, microBatches.get(b));
            }
        });
        return StepResult.of(r, seed, lr);
    }

    @Override
    public <R> R evaluate(Evaluation<R> evaluation) {
        return evaluation.run(ops, model, weights);
    }

    /** The trained tensors: the model's parameters, or the adapter's tensors over the frozen base. */
    @Override
    public List<HostTensor> exportParameters() {
        return tensors(theta);
    }

    private List<HostTensor> tensors(float[] flat) {
        List<HostTensor> out = new ArrayList<>(layout.count());
        for (int p = 0; p < layout.count(); p++) {
            ParamSpec spec = layout.spec(p);
            int off = (int) offsets[entries[p]];
            int n = Math.toIntExact(layout.size(p));
            float[] v = java.util.Arrays.copyOfRange(flat, off, off + n);
            out.add(HostTensors.of(spec.name(), v, spec.shape(), dtype));
        }
        return out;
    }

    @Override
    public long skippedSteps() {
        return zo.skippedSteps();
    }

    @Override
    public State state() {
        List<HostTensor> opt = new ArrayList<>();
        for (ZoOptimizers.StateArray s : ZoOptimizers.state(optimizer)) {
            opt.add(HostTensor.ofFloats(s.name(), s.values().clone(), s.values().length));
        }
        return new State(zo.step(), zo.skippedSteps(), zo.badInARow(), exportParameters(), opt);
    }

    @Override
    public void restore(State state) {
        List<HostTensor> ps = state.parameters();
        if (ps.size() != layout.count()) {
            throw new ZotuneException("checkpoint holds " + ps.size() + " parameters, the model has " + layout.count());
        }
        for (int p = 0; p < ps.size(); p++) {
            HostTensor h = ps.get(p);
            ParamSpec spec = layout.spec(p);
            if (!h.name().equals(spec.name()) || h.numel() != spec.numel()) {
                throw new ZotuneException("checkpoint parameter " + p + " is " + h.name() + " with " + h.numel()
                        + " values; the model expects " + spec.name() + " with " + spec.numel());
            }
            float[] v = h.toFloats();
            System.arraycopy(v, 0, theta, (int) offsets[entries[p]], v.length);
        }
        List<ZoOptimizers.StateArray> live = ZoOptimizers.state(optimizer);
        if (live.size() != state.optimizerState().size()) {
            throw new ZotuneException("checkpoint holds " + state.optimizerState().size() + " optimiser state tensors, "
                    + optimizer.name() + " has " + live.size());
        }
        for (int i = 0; i < live.size(); i++) {
            HostTensor h = state.optimizerState().get(i);
            ZoOptimizers.StateArray s = live.get(i);
            if (!h.name().equals(s.name()) || h.numel() != s.values().length) {
                throw new ZotuneException("checkpoint optimiser state " + h.name() + " does not match " + s.name());
            }
            System.arraycopy(h.toFloats(), 0, s.values(), 0, s.values().length);
        }
        if (shadow != null) { // the shadow buffer holds θ's values wherever the step does not overwrite them
            System.arraycopy(theta, 0, shadow, 0, theta.length);
        }
        zo.restore(state.t(), state.skipped(), state.badInARow());
    }

    @Override
    public void close() {
        params.close();
        if (scratch != null) {
            scratch.close();
        }
        if (adapters != null) {
            adapters.close();
            adapter.close();
        }
        ops.close();
    }
}
