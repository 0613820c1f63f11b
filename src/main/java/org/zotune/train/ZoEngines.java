package org.zotune.train;

import java.io.PrintWriter;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.LanguageModel;
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

    public static ZoEngine create(TrainConfig c, LanguageModel model, List<HostTensor> initial, Objective objective,
            PrintWriter log) {
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
                return cpu(c, model, initial, objective);
            }
            default:
                return cpu(c, model, initial, objective);
        }
    }

    private static ZoEngine cpu(TrainConfig c, LanguageModel model, List<HostTensor> initial, Objective objective) {
        ZoOptimizer opt = ZoOptimizers.create(c.optimizer(), c.steps(), new NoiseLayout(model.params()));
        return new CpuZoEngine(model, initial, objective, opt, c.optimizer().lrSchedule(c.steps()), stepConfig(c));
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
