package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.LoadedModel;
import org.zotune.model.ParamSpec;
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
        List<ParamSpec> specs = checkParameters(base, trajectory);
        Cuda.Availability a = Cuda.availability();
        if (!a.usable()) {
            throw new ZotuneException("replay --device cuda: no usable CUDA device (" + a.reason() + "); use "
                    + "--device cpu");
        }
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
        if (trajectory.config().peft().methodKind() != TrainConfig.Peft.Method.FULL) {
            throw new ZotuneException("replay: the trajectory trained " + trajectory.config().peft().method()
                    + " adapters; replaying adapters is not built yet (full fine-tuning runs replay)");
        }
        List<ParamSpec> specs = base.model().params();
        List<String> names = specs.stream().map(ParamSpec::name).toList();
        if (!names.equals(trajectory.parameters())) {
            throw new ZotuneException("the base model's parameters (" + names.size() + ", first " + names.get(0)
                    + ") are not those the trajectory was trained on (" + trajectory.parameters().size() + ")");
        }
        String recorded = trajectory.baseWeights();
        if (recorded != null) {
            String now = Fingerprints.weights(base.parameters());
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

    /** The replayed θ in zotune's layout and parameter order (on the CPU). */
    public static List<HostTensor> run(LoadedModel base, Trajectory.Read trajectory) {
        TrainConfig c = trajectory.config();
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
