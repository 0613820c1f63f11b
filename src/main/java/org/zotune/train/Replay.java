package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Adapter;
import org.zotune.peft.Lora;
import org.zotune.peft.Prefix;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.run.Fingerprints;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * Re-applies a trajectory's updates to the base model without a forward pass: for each recorded step,
 * {@code beginStep(t, s_t)} and, unless it was skipped, the update with the recorded g (through the same step as
 * training, {@link ZoStep#replay} on the CPU and {@link DeviceZoStep#replayStep} on a GPU, so the weights come out
 * bit for bit the same on the same device). For an in-place run it also repeats the perturb / restore passes
 * (θ + εu, θ - 2εu, θ + εu), which are not an exact identity in floating point: they need u, not a forward pass.
 */
public final class Replay {
    private Replay() {
    }

    /**
     * The replayed θ on {@code device}: "cpu" (the CPU engine's update), or "cuda": the GPU engine's fused kernels
     * (bitwise the weights a run trained on the same GPU, any q).
     */
    public static List<HostTensor> run(LoadedModel base, Trajectory.Read trajectory, String device) {
        switch (device) {
            case "cpu":
                return run(base, trajectory);
            case "cuda":
                return runCuda(base, trajectory);
            default:
                throw new ZotuneException("replay: unknown device '" + device + "' (expected cpu or cuda)");
        }
    }

    private static List<HostTensor> runCuda(LoadedModel base, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != TrainConfig.Peft.Method.FULL) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " adapters: replay "
                    + "them as adapters (Replay.runAdapters, Replay.runPrefix)");
        }
        List<ParamSpec> specs = checkParameters(base, trajectory);
        requireCuda();
        DType dtype = c.paramDType();
        try (CudaOps ops = CudaOps.create(dtype);
                Parameters params = ops.createParameters(base.parameters(), dtype);
                CudaTheta theta = new CudaTheta(ops, params);
                DeviceZoStep zo = new DeviceZoStep(ops, base.model(), params, c.optimizer().referenceConfig(c.steps()),
                        ZoEngines.stepConfig(c))) {
            for (Trajectory.Step s : trajectory.steps()) {
                checkStep(c, s);
                if (s.t() != zo.step() + 1) {
                    throw new ZotuneException("trajectory step " + s.t() + " follows step " + zo.step() + "; the GPU "
                            + "replay needs every step from 1");
                }
                zo.replayStep(s.g(), s.skipped());
            }
            return theta.download(specs);
        }
    }

    private static List<ParamSpec> checkParameters(LoadedModel base, Trajectory.Read trajectory) {
        return checkParameters(base.model(), base.parameters(), trajectory);
    }

    private static List<ParamSpec> checkParameters(LanguageModel model, List<HostTensor> parameters,
            Trajectory.Read trajectory) {
        List<ParamSpec> specs = model.params();
        List<String> names = specs.stream().map(ParamSpec::name).toList();
        if (!names.equals(trajectory.parameters())) {
            throw new ZotuneException("the base model's parameters (" + names.size() + ", first " + names.get(0)
                    + ") are not those the trajectory was trained on (" + trajectory.parameters().size() + ")");
        }
        String recorded = trajectory.baseWeights();
        if (recorded != null) {
            String now = Fingerprints.weights(parameters);
            if (!recorded.equals(now)) {
                throw new ZotuneException("the base model's weights are not those the run started from (the "
                        + "trajectory records " + recorded.substring(0, 19) + "…, the model gives "
                        + now.substring(0, 19) + "…); replay onto the run's base model, not another one or its "
                        + "fine-tuned output");
            }
        }
        return specs;
    }

    private static void checkStep(TrainConfig c, Trajectory.Step s) {
        long seed = Noise.stepSeed(c.seed(), s.t());
        if (seed != s.seed()) {
            throw new ZotuneException("trajectory step " + s.t() + ": seed " + s.seed() + " is not the step "
                    + "seed of master seed " + c.seed());
        }
        if (s.g().length != c.q()) {
            throw new ZotuneException("trajectory step " + s.t() + ": " + s.g().length + " projected "
                    + "gradients, q = " + c.q());
        }
    }

    /**
     * A LoRA trajectory replayed on the CPU: A and B from the run seed ({@link Lora#initial}), then every recorded
     * update over the adapters' float32 buffer, as {@link CpuZoEngine} trained them: the adapter bit for bit. The
     * base is not read beyond its parameter names and fingerprint (which must be the run's).
     *
     * @return the LoRA set and its tensors in {@link Lora#tensors()}'s order and layout
     */
    public static Adapters runAdapters(LoadedModel base, Trajectory.Read trajectory) {
        return runAdapters(base, trajectory, "cpu");
    }

    /**
     * A LoRA trajectory replayed on {@code device}: "cpu" as {@link #runAdapters(LoadedModel, Trajectory.Read)}, or
     * "cuda": the same start, then every recorded update through {@link DeviceZoStep#replayStep} over the adapters'
     * float32 device buffer, as {@link CudaZoEngine} trained them (bitwise the adapter a run trained on the same GPU;
     * the frozen base is uploaded in the run's dtype because the step is built over the model).
     */
    public static Adapters runAdapters(LoadedModel base, Trajectory.Read trajectory, String device) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != TrainConfig.Peft.Method.LORA) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " weights, not LoRA "
                    + "adapters");
        }
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("replay: unknown device '" + device + "' (expected cpu or cuda)");
        }
        checkParameters(base, trajectory);
        Lora lora = ZoEngines.lora(c, base.model());
        if (device.equals("cuda")) {
            return new Adapters(lora, runAdaptersCuda(base, trajectory, lora));
        }
        try (CpuOps ops = new CpuOps(c.paramDType());
                Parameters params = ops.createParameters(lora.initial(c.seed()), DType.F32)) {
            return new Adapters(lora, replayOwn(c, lora.tensors(), params, trajectory));
        }
    }

    private static List<HostTensor> runAdaptersCuda(LoadedModel base, Trajectory.Read trajectory, Lora lora) {
        TrainConfig c = trajectory.config();
        requireCuda();
        DType dtype = c.paramDType();
        // no forward pass: the base stays on the host (checkParameters compared its fingerprint); only the adapters'
        // buffer, the optimiser state and the step's kernels are on the device
        try (CudaOps ops = CudaOps.create(dtype);
                Lora.Applied applied = lora.apply(ops);
                Parameters own = ops.createParameters(lora.initial(c.seed()), DType.F32)) {
            return replayOwnCuda(ops, base.model(), null, TrainableStorage.own(applied.set(), own), lora.tensors(),
                    trajectory);
        }
    }

    private static void requireCuda() {
        Cuda.Availability a = Cuda.availability();
        if (!a.usable()) {
            throw new ZotuneException("replay --device cuda: no usable CUDA device (" + a.reason() + "); use "
                    + "--device cpu");
        }
    }

    /**
     * Every recorded update through {@link DeviceZoStep#replayStep} over an adapter's own float32 device buffer
     * ({@code storage}, holding its initial values), as {@link CudaZoEngine} trained it; returns the tensors after the
     * last step. The step is built over the model and its frozen parameters, as training builds it.
     */
    /** @param frozen the base on the device, or null where the set needs no forward pass to replay (LoRA) */
    private static List<HostTensor> replayOwnCuda(CudaOps ops, LanguageModel model, Parameters frozen,
            TrainableStorage storage, List<ParamSpec> specs, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        ZoStep.Config step = ZoEngines.stepConfig(c);
        step = new ZoStep.Config(step.eps(), step.samples(), step.strategy(), step.microBatches(),
                step.maxBadSteps(), DType.F32, step.seed()); // adapters are float32 whatever the base's dtype
        try (CudaTheta theta = new CudaTheta(ops, storage.buffer());
                DeviceZoStep zo = new DeviceZoStep(ops, model, frozen, storage,
                        c.optimizer().referenceConfig(c.steps()), step)) {
            for (Trajectory.Step s : trajectory.steps()) {
                checkStep(c, s);
                if (s.t() != zo.step() + 1) {
                    throw new ZotuneException("trajectory step " + s.t() + " follows step " + zo.step() + "; the GPU "
                            + "replay needs every step from 1");
                }
                zo.replayStep(s.g(), s.skipped());
            }
            return theta.download(specs);
        }
    }

    /**
     * Every recorded update over an adapter's own float32 buffer {@code params} (its initial values), as
     * {@link CpuZoEngine} trained it; returns the tensors after the last step.
     */
    private static List<HostTensor> replayOwn(TrainConfig c, List<ParamSpec> specs, Parameters params,
            Trajectory.Read trajectory) {
        ZoOptimizer opt = ZoOptimizers.create(c.optimizer(), c.steps(), new NoiseLayout(specs));
        ZoStep.Config step = ZoEngines.stepConfig(c);
        step = new ZoStep.Config(step.eps(), step.samples(), step.strategy(), step.microBatches(),
                step.maxBadSteps(), DType.F32, step.seed()); // adapters are float32 whatever the base's dtype
        float[] flat = CpuOps.flatValues(params);
        long[] offsets = new long[specs.size()];
        for (int p = 0; p < offsets.length; p++) {
            offsets[p] = params.offset(p);
        }
        ZoStep zo = new ZoStep(step, opt, flat, offsets, null, null, 0);
        for (Trajectory.Step s : trajectory.steps()) {
            checkStep(c, s);
            zo.replay(s.t(), s.g(), s.skipped());
        }
        List<HostTensor> out = new ArrayList<>(specs.size());
        for (int p = 0; p < specs.size(); p++) {
            int off = (int) offsets[p];
            int n = Math.toIntExact(specs.get(p).numel());
            out.add(HostTensor.ofFloats(specs.get(p).name(), java.util.Arrays.copyOfRange(flat, off, off + n),
                    specs.get(p).shape()));
        }
        return out;
    }

    /**
     * A prefix trajectory replayed on the CPU: the prefix's initial keys and values from the frozen base and the run
     * seed ({@link Prefix#bind}: one forward over the seed's tokens, in the run's dtype, as the run computed them),
     * then every recorded update over the prefix's float32 buffer, as {@link CpuZoEngine} trained it: the prefix bit
     * for bit. The base must be the run's (parameter names and fingerprint); decoders and encoders alike.
     *
     * @return the prefix and its tensors in {@link Prefix#tensors()}'s order
     */
    public static Prefixes runPrefix(LoadedLanguageModel base, Trajectory.Read trajectory) {
        return runPrefix(base, trajectory, "cpu");
    }

    /**
     * A prefix trajectory replayed on {@code device}: "cpu" as {@link #runPrefix(LoadedLanguageModel,
     * Trajectory.Read)}, or "cuda": the initial keys and values from the frozen base's forward on the GPU (in the
     * run's dtype, as {@link CudaZoEngine} bound them), then every recorded update through
     * {@link DeviceZoStep#replayStep} over the prefix's float32 device buffer: bitwise the prefix a run trained on the
     * same GPU. A prefix's start depends on the device that computed it, so replay on the device the run trained on.
     */
    public static Prefixes runPrefix(LoadedLanguageModel base, Trajectory.Read trajectory, String device) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != TrainConfig.Peft.Method.PREFIX) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " weights, not a "
                    + "prefix");
        }
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("replay: unknown device '" + device + "' (expected cpu or cuda)");
        }
        checkParameters(base.model(), base.parameters(), trajectory);
        Prefix prefix = (Prefix) ZoEngines.adapter(c, base.model());
        DType dtype = c.paramDType();
        if (device.equals("cuda")) {
            requireCuda();
            try (CudaOps ops = CudaOps.create(dtype);
                    Parameters frozen = ops.createParameters(base.parameters(), dtype);
                    Adapter.Bound bound = prefix.bind(ops, base.model(), frozen, c.seed());
                    Parameters own = ops.createParameters(bound.initial(), DType.F32)) {
                return new Prefixes(prefix, replayOwnCuda(ops, base.model(), frozen,
                        TrainableStorage.own(bound.set(), own), prefix.tensors(), trajectory));
            }
        }
        try (CpuOps ops = new CpuOps(dtype);
                Parameters frozen = ops.createParameters(base.parameters(), dtype);
                Adapter.Bound bound = prefix.bind(ops, base.model(), frozen, c.seed());
                Parameters params = ops.createParameters(bound.initial(), DType.F32)) {
            return new Prefixes(prefix, replayOwn(c, prefix.tensors(), params, trajectory));
        }
    }

    /** A replayed prefix: the prefix and its tensors (per layer its keys, then its values). */
    public record Prefixes(Prefix prefix, List<HostTensor> tensors) {
    }

    /** A replayed LoRA adapter: its set and its tensors (Aᵀ, B per target). */
    public record Adapters(Lora lora, List<HostTensor> tensors) {
    }

    /** The replayed θ in zotune's layout and parameter order (on the CPU). */
    public static List<HostTensor> run(LoadedModel base, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != TrainConfig.Peft.Method.FULL) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " adapters: replay "
                    + "them as adapters (Replay.runAdapters)");
        }
        List<ParamSpec> specs = checkParameters(base, trajectory);
        DType dtype = c.paramDType();
        ZoOptimizer opt = c.optimizer().referenceConfig(c.steps()).reference(new NoiseLayout(specs));
        try (CpuOps ops = new CpuOps(dtype); Parameters params = ops.createParameters(base.parameters(), dtype)) {
            float[] flat = CpuOps.flatValues(params);
            long[] offsets = new long[specs.size()];
            for (int p = 0; p < offsets.length; p++) {
                offsets[p] = params.offset(p);
            }
            ZoStep zo = new ZoStep(ZoEngines.stepConfig(c), opt, flat, offsets, null, null, 0);
            for (Trajectory.Step s : trajectory.steps()) {
                checkStep(c, s);
                zo.replay(s.t(), s.g(), s.skipped());
            }
            List<HostTensor> out = new ArrayList<>(specs.size());
            for (int p = 0; p < specs.size(); p++) {
                int off = (int) offsets[p];
                int n = Math.toIntExact(specs.get(p).numel());
                out.add(HostTensors.of(specs.get(p).name(), java.util.Arrays.copyOfRange(flat, off, off + n),
                        specs.get(p).shape(), dtype));
            }
            return out;
        }
    }
}
