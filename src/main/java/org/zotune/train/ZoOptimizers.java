package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.train.config.Optimizer;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoOptimizer;

/** Builds the reference optimisers from a run's config and names their state tensors. */
public final class ZoOptimizers {
    private ZoOptimizers() {
    }

    public static ZoOptimizer create(Optimizer o, long steps, NoiseLayout layout) {
        return o.referenceConfig(steps).reference(layout);
    }

    /** A named live state array of the optimiser. */
    public record StateArray(String name, float[] values) {
    }

    /**
     * The optimiser's state, live: "<vector>/<param>" for each of its state vectors ("m", and "v" for zo-adam) per
     * parameter, in parameter order.
     */
    public static List<StateArray> state(ZoOptimizer opt) {
        NoiseLayout layout = opt.layout();
        List<String> vectors = opt.config().stateVectors();
        List<StateArray> out = new ArrayList<>();
        for (int p = 0; p < layout.count(); p++) {
            String name = layout.spec(p).name();
            for (int i = 0; i < vectors.size(); i++) {
                out.add(new StateArray(vectors.get(i) + "/" + name, opt.state(i, p)));
            }
        }
        return out;
    }
}
