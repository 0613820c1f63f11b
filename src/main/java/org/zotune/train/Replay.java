package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ParamSpec;
import org.zotune.model.SequenceClassifier;
import org.zotune.peft.Adapter;
import org.zotune.peft.Lora;
import org.zotune.peft.Prefix;
import org.zotune.peft.TrainableSet;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Peft;
import org.zotune.train.run.Fingerprints;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.cuda.NoiseVariant;
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
        return full(any(base), trajectory, device).tensors();
    }

    /**
     * A full fine-tuning trajectory of any model replayed on {@code device} ("cpu" or "cuda", as
     * {@link #run(LoadedModel, Trajectory.Read, String)}): a decoder's or an encoder's weights, and with objective
     * head the classifier the run trained beside them (its labels from the trajectory, its start the base folder's
     * classifier or zero, as the run started it; a linear probe's body as the run held it, in its dtype).
     */
    public static Weights full(LoadedLanguageModel base, Trajectory.Read trajectory, String device) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != Peft.Method.FULL) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " adapters: replay "
                    + "them as adapters (Replay.runAdapters, Replay.runPrefix)");
        }
        requireDevice(device);
        noise(trajectory, device);
        Target target = target(base, trajectory);
        List<HostTensor> theta = device.equals("cuda") ? runCuda(target, trajectory) : runCpu(target, trajectory);
        return new Weights(theta, target.head() == null ? null : target.head().labels(),
                target.head() == null ? null : target.head().options().pooling());
    }

    /**
     * A replayed full fine-tune: every tensor of the model in its parameter order and the run's dtype (with objective
     * head the body's, then classifier.weight and classifier.bias).
     *
     * @param labels  objective head's labels in class order (config.json's id2label), else null
     * @param pooling objective head's pooling (config.json's zotune_pooling), else null
     */
    public record Weights(List<HostTensor> tensors, List<String> labels, String pooling) {
    }

    private static LoadedLanguageModel any(LoadedModel base) {
        return new LoadedLanguageModel(base.checkpoint(), base.model(), base.parameters());
    }

    /**
     * The noise variant a trajectory replays with on {@code device}: the one its header's config records (a header
     * without key noise was written before it, with the exact noise; a header holding auto, which no run writes, as a
     * run would resolve it there). The fast noise is the CUDA engine's alone: a fast-noise trajectory replayed on the
     * CPU is a one-line error. An exact-noise trajectory replays on either device (bit for bit on the one it trained
     * on).
     */
    static NoiseVariant noise(Trajectory.Read trajectory, String device) {
        TrainConfig c = trajectory.config();
        boolean cuda = device.equals("cuda");
        if (!cuda && c.noiseSetting() == TrainConfig.NoiseSetting.FAST) {
            throw new ZotuneException("replay: " + trajectory.where() + " was recorded with the fast noise (noise "
                    + "fast), which only the CUDA engine regenerates: replay of a fast-noise trajectory needs CUDA "
                    + "(--device cuda)");
        }
        return c.noiseVariant(cuda);
    }

    private static void requireDevice(String device) {
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("replay: unknown device '" + device + "' (expected cpu or cuda)");
        }
    }

    /**
     * What a trajectory's trainable set is over, rebuilt from the base without a forward pass: the loaded model, or
     * for objective head the encoder with the run's classifier.
     *
     * @param initial   the model's parameters as the run started from them
     * @param trainable which of them trained in place (null: all; a linear probe: the head's two)
     * @param head      objective head's classifier, else null
     */
    private record Target(LanguageModel model, List<HostTensor> initial, boolean[] trainable,
            EncoderObjectives.Head head) {
    }

    /**
     * The base checked against the trajectory (its parameter names and its weights' fingerprint, the file named
     * when they differ) and, for objective head, the classifier rebuilt from the labels the trajectory records: the
     * base must be an encoder, and its classifier start (zero, or the base folder's) the one the run started from.
     */
    private static Target target(LoadedLanguageModel base, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        if (c.objectiveKind() != TrainConfig.ObjectiveKind.HEAD) {
            checkParameters(base.model(), base.parameters(), trajectory);
            return new Target(base.model(), base.parameters(), null, null);
        }
        Trajectory.Head recorded = trajectory.head();
        if (recorded == null) {
            throw new ZotuneException(trajectory.where() + " trained objective head and records no head (labels and "
                    + "start): it was written by an older zotune; retrain to replay it");
        }
        if (!(base.model() instanceof EncoderModel encoder)) {
            throw new ZotuneException(trajectory.where() + " trained a classification head on an encoder; the base "
                    + base.checkpoint().source() + " is a " + base.config().family() + " decoder: replay onto the "
                    + "run's base model");
        }
        SequenceClassifier model = new SequenceClassifier(encoder, recorded.labels().size());
        checkParameters(model, base.parameters(), trajectory); // the body's fingerprint, as the run records it
        EncoderObjectives.Head head = EncoderObjectives.Head.of(model, recorded.labels(), c.head(),
                base.parameters(), base.checkpoint());
        String start = Fingerprints.weights(head.start());
        if (!start.equals(recorded.startWeights())) {
            throw new ZotuneException(trajectory.where() + ": the classifier the run started from is not the one "
                    + "the base " + base.checkpoint().source() + " gives (the trajectory records "
                    + recorded.startWeights().substring(0, 19) + "…, the base gives " + start.substring(0, 19)
                    + "…; a zero head unless the base folder holds classifier weights): replay onto the run's base "
                    + "model");
        }
        return new Target(model, head.initial(), head.trainable(), head);
    }

    private static List<HostTensor> runCuda(Target target, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        List<ParamSpec> specs = target.model().params();
        requireCuda();
        DType dtype = c.paramDType();
        try (CudaOps ops = CudaOps.create(dtype);
                Parameters params = ops.createParameters(target.initial(), dtype);
                CudaTheta theta = new CudaTheta(ops, params);
                DeviceZoStep zo = new DeviceZoStep(ops, target.model(), params,
                        c.optimizer().referenceConfig(c.steps()), ZoEngines.stepConfig(c), target.trainable(),
                        noise(trajectory, "cuda"))) {
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

    private static List<ParamSpec> checkParameters(LanguageModel model, List<HostTensor> parameters,
            Trajectory.Read trajectory) {
        List<ParamSpec> specs = model.params();
        List<String> names = specs.stream().map(ParamSpec::name).toList();
        if (!names.equals(trajectory.parameters())) {
            String first = firstDifference(names, trajectory.parameters());
            throw new ZotuneException("the base model's parameters (" + names.size() + ", first " + names.get(0)
                    + ") are not those the trajectory was trained on (" + trajectory.parameters().size()
                    + (trajectory.file() == null ? "" : ", " + trajectory.where()) + "; " + first + "): replay onto "
                    + "the run's base model");
        }
        String recorded = trajectory.baseWeights();
        if (recorded != null) {
            String now = Fingerprints.weights(parameters);
            if (!recorded.equals(now)) {
                throw new ZotuneException("the base model's weights are not those the run started from (the "
                        + "trajectory records " + recorded.substring(0, 19) + "…, the model gives "
                        + now.substring(0, 19) + "…); replay onto the run's base model, not another one or its "
                        + "fine-tuned output" + (trajectory.file() == null ? "" : " (" + trajectory.where() + ")"));
            }
        }
        return specs;
    }

    /** Where two parameter lists first part, for a refusal. */
    private static String firstDifference(List<String> base, List<String> recorded) {
        for (int i = 0; i < Math.min(base.size(), recorded.size()); i++) {
            if (!base.get(i).equals(recorded.get(i))) {
                return "parameter " + i + " is " + base.get(i) + " in the base, " + recorded.get(i) + " in the "
                        + "trajectory";
            }
        }
        return base.size() > recorded.size() ? "the base has " + base.get(recorded.size()) + " beyond them"
                : "the trajectory has " + recorded.get(base.size()) + " beyond the base's";
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
     * the frozen base stays on the host: no forward pass).
     */
    public static Adapters runAdapters(LoadedModel base, Trajectory.Read trajectory, String device) {
        return runAdapters(any(base), trajectory, device);
    }

    /**
     * As {@link #runAdapters(LoadedModel, Trajectory.Read, String)} for a model of any kind: a decoder's or an
     * encoder's LoRA set, and with objective head the classifier trained in full beside A and B (PEFT's
     * modules_to_save), starting from the run's classifier start (zero, or the base folder's) in the run's dtype.
     */
    public static Adapters runAdapters(LoadedLanguageModel base, Trajectory.Read trajectory, String device) {
        TrainConfig c = trajectory.config();
        if (c.peft().methodKind() != Peft.Method.LORA) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " weights, not LoRA "
                    + "adapters");
        }
        requireDevice(device);
        noise(trajectory, device);
        Target target = target(base, trajectory);
        Lora lora = ZoEngines.lora(c, target.model());
        if (target.head() != null) { // as the run made it: the classifier trains in full beside the adapters
            SequenceClassifier sc = target.head().model();
            lora = lora.withSaved(sc.headWeight(), sc.headBias());
        }
        if (device.equals("cuda")) {
            requireCuda();
            return new Adapters(lora, runAdaptersCuda(target, trajectory, lora));
        }
        try (CpuOps ops = new CpuOps(c.paramDType());
                Parameters params = ops.createParameters(adapterStart(ops, c, lora, target), DType.F32)) {
            return new Adapters(lora, replayOwn(c, lora.tensors(), params, trajectory));
        }
    }

    /**
     * The set's initial tensors as {@link Lora#bind} gives them: A and B from the run seed, then each saved parameter
     * as the engine held it (its start in the run's dtype on {@code ops}, read back as float32), without the rest of
     * the model on the device.
     */
    private static List<HostTensor> adapterStart(org.zotune.backend.Ops ops, TrainConfig c, Lora lora,
            Target target) {
        List<HostTensor> init = new ArrayList<>(lora.initial(c.seed()));
        int[] saved = lora.saved();
        if (saved.length == 0) {
            return init;
        }
        List<HostTensor> start = new ArrayList<>(saved.length);
        for (int p : saved) {
            start.add(target.initial().get(p));
        }
        try (Parameters held = ops.createParameters(start, c.paramDType())) {
            for (int i = 0; i < saved.length; i++) {
                ParamSpec s = lora.tensors().get(2 * lora.targets().size() + i);
                init.add(HostTensor.ofFloats(s.name(), ops.toHost(held.weight(i)), s.shape()));
            }
        }
        return init;
    }

    private static List<HostTensor> runAdaptersCuda(Target target, Trajectory.Read trajectory, Lora lora) {
        TrainConfig c = trajectory.config();
        DType dtype = c.paramDType();
        // no forward pass: the base stays on the host (checkParameters compared its fingerprint); only the adapters'
        // buffer (and a saved classifier's start, read back in the run's dtype), the optimiser state and the step's
        // kernels are on the device
        try (CudaOps ops = CudaOps.create(dtype);
                Lora.Applied applied = lora.apply(ops);
                Parameters own = ops.createParameters(adapterStart(ops, c, lora, target), DType.F32)) {
            return replayOwnCuda(ops, target.model(), null, TrainableStorage.own(applied.set(), own), lora.tensors(),
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
                        c.optimizer().referenceConfig(c.steps()), step, noise(trajectory, "cuda"))) {
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
     * for bit. The base must be the run's (parameter names and fingerprint); decoders and encoders alike; with
     * objective head the classifier trained beside the prefix (PEFT's modules_to_save), from the run's start.
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
        if (c.peft().methodKind() != Peft.Method.PREFIX) {
            throw new ZotuneException("replay: the trajectory trained " + c.peft().method() + " weights, not a "
                    + "prefix");
        }
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("replay: unknown device '" + device + "' (expected cpu or cuda)");
        }
        noise(trajectory, device);
        Target target = target(base, trajectory); // with objective head: the classifier over the base, as the run
        Prefix prefix = (Prefix) ZoEngines.adapter(c, target.model());
        if (target.head() != null) { // as the run made it: the classifier trains in full beside the prefix
            SequenceClassifier sc = target.head().model();
            prefix = prefix.withSaved(sc.params(), sc.headWeight(), sc.headBias());
        }
        DType dtype = c.paramDType();
        if (device.equals("cuda")) {
            requireCuda();
            try (CudaOps ops = CudaOps.create(dtype);
                    Parameters frozen = ops.createParameters(target.initial(), dtype);
                    Adapter.Bound bound = prefix.bind(ops, target.model(), frozen, c.seed());
                    Parameters own = ops.createParameters(bound.initial(), DType.F32)) {
                return new Prefixes(prefix, replayOwnCuda(ops, target.model(), frozen,
                        TrainableStorage.own(bound.set(), own), prefix.tensors(), trajectory));
            }
        }
        try (CpuOps ops = new CpuOps(dtype);
                Parameters frozen = ops.createParameters(target.initial(), dtype);
                Adapter.Bound bound = prefix.bind(ops, target.model(), frozen, c.seed());
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
        return run(base, trajectory, "cpu");
    }

    /**
     * The CPU engine's update over the model's own buffer (every parameter, or a linear probe's head under the mask),
     * as {@link CpuZoEngine} holds it; returns every parameter in the run's dtype.
     */
    private static List<HostTensor> runCpu(Target target, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
        List<ParamSpec> specs = target.model().params();
        DType dtype = c.paramDType();
        TrainableSet set = TrainableSet.of(specs, target.trainable());
        ZoOptimizer opt = c.optimizer().referenceConfig(c.steps()).reference(new NoiseLayout(set.specs()));
        try (CpuOps ops = new CpuOps(dtype); Parameters params = ops.createParameters(target.initial(), dtype)) {
            TrainableStorage storage = TrainableStorage.inModel(set, specs, params);
            float[] flat = CpuOps.flatValues(params);
            long[] offsets = storage.bufferOffsets();
            ZoStep zo = new ZoStep(ZoEngines.stepConfig(c), opt, flat, offsets, storage.mask(), null, 0);
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
