package org.zotune.train;

import java.io.PrintWriter;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelFamily;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableSet;
import org.zotune.tensor.HostTensor;
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

    private ZoEngines() {
    }

    /** The ZoStep settings of a run. */
    public static ZoStep.Config stepConfig(TrainConfig c) {
        return new ZoStep.Config(c.eps(), c.q(), c.strategy(), c.gradAccumulation(), c.maxBadSteps(), c.paramDType(),
                c.seed());
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
        TrainConfig.Peft p = c.peft();
        if (p.methodKind() != TrainConfig.Peft.Method.LORA) {
            return null;
        }
        ModelFamily f = model.config().family();
        return Lora.of(f.architecture(), f.hfModelType(), model.params(), p.r(), p.alpha(), p.targets());
    }

    /** Fails with one line when the run's device has no engine for its trainable set (before any file is written). */
    public static void requireEngine(TrainConfig c, Lora lora) {
        boolean gpu = c.device().equals("cuda") || (c.device().equals("auto") && Cuda.availability().usable());
        if (lora != null && gpu) {
            // the CUDA engine does not take a trainable set of adapters yet
            throw new ZotuneException("peft.method lora: only the CPU engine trains adapters so far; use --device cpu "
                    + "(device " + c.device() + " would train on CUDA)");
        }
    }

    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Objective objective,
            PrintWriter log) {
        return create(c, model, initial, lora(c, model), objective, log);
    }

    /** @param lora the run's LoRA set ({@link #lora}), or null for full fine-tuning */
    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Lora lora,
            Objective objective, PrintWriter log) {
        return create(c, model, initial, lora, null, objective, log);
    }

    /**
     * @param lora      the run's LoRA set ({@link #lora}), or null
     * @param trainable without LoRA, which model parameters train (null: all); a part trains on the CPU engine only
     */
    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Lora lora,
            boolean[] trainable, Objective objective, PrintWriter log) {
        requireEngine(c, lora);
        if (lora != null || trainable != null) {
            return cpu(c, model, initial, lora, trainable, objective);
        }
        switch (c.device()) {
            case "cuda": {
                requireDevice("cuda");
                log.println("device cuda: " + Cuda.availability());
                return cuda(c, model, initial, objective);
            }
            case "auto": {
                Cuda.Availability a = Cuda.availability();
                if (a.usable()) {
                    log.println("device auto: training on CUDA device " + a);
                    return cuda(c, model, initial, objective);
                }
                log.println("device auto: training on the CPU engine (no usable CUDA device: " + a.reason() + ")");
                return cpu(c, model, initial, null, null, objective);
            }
            default:
                return cpu(c, model, initial, null, null, objective);
        }
    }

    private static ZoEngine cpu(TrainConfig c, LanguageModel model, List<HostTensor> initial, Lora lora,
            boolean[] trainable, Objective objective) {
        ZoOptimizer opt = ZoOptimizers.create(c.optimizer(), c.steps(), new NoiseLayout(lora != null ? lora.tensors()
                : TrainableSet.of(model.params(), trainable).specs()));
        return new CpuZoEngine(model, initial, lora, trainable, objective, opt, c.optimizer().lrSchedule(c.steps()),
                stepConfig(c));
    }

    private static ZoEngine cuda(TrainConfig c, LanguageModel model, List<HostTensor> initial, Objective objective) {
        CudaOps ops = CudaOps.create(c.paramDType());
        try {
            boolean graph = !"false".equals(System.getProperty(GRAPH_PROPERTY));
            return new CudaZoEngine(ops, model, initial, objective, c.optimizer().referenceConfig(c.steps()),
                    c.optimizer().lrSchedule(c.steps()), stepConfig(c), graph);
        } catch (RuntimeException e) {
            ops.close(); // idempotent: the engine may have closed it already
            throw e;
        }
    }
}
