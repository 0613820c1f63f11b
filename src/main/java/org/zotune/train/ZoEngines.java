package org.zotune.train;

import java.io.PrintWriter;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.CausalLM;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * Picks the engine for a run's {@code device}. Today only the CPU engine exists; the CUDA engine (package
 * org.zotune.zo.cuda) plugs in here: {@code device: cuda} will construct it, {@code auto} will prefer it when a
 * device is usable.
 */
public final class ZoEngines {
    private ZoEngines() {
    }

    /** The ZoStep settings of a run. */
    public static ZoStep.Config stepConfig(TrainConfig c) {
        return new ZoStep.Config(c.eps(), c.q(), c.strategy(), c.gradAccumulation(), c.maxBadSteps(), c.paramDType(),
                c.seed());
    }

    public static ZoEngine create(TrainConfig c, CausalLM model, List<HostTensor> initial, Objective objective,
            PrintWriter log) {
        switch (c.device()) {
            case "cuda":
                throw new ZotuneException("device cuda: the GPU ZO engine is not part of this build yet; use "
                        + "--device cpu (or auto)");
            case "auto":
                log.println("device auto: training on the CPU engine (the GPU ZO engine is not part of this build yet)");
                break;
            default:
                break;
        }
        ZoOptimizer opt = ZoOptimizers.create(c.optimizer(), c.steps(), new NoiseLayout(model.params()));
        return new CpuZoEngine(model, initial, objective, opt, c.optimizer().lrSchedule(c.steps()), stepConfig(c));
    }
}
