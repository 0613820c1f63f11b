package org.zotune.train;

import java.util.ArrayList;
import java.util.List;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/** Builds the reference optimisers from a run's config and names their state tensors. */
public final class ZoOptimizers {
    private ZoOptimizers() {
    }

    public static ZoOptimizer create(TrainConfig.Optimizer o, long steps, NoiseLayout layout) {
        Object c = o.referenceConfig(steps);
        if (c instanceof ZoSgd.Config s) {
            return new ZoSgd(s, layout);
        }
        if (c instanceof ZoSgdMomentum.Config s) {
            return new ZoSgdMomentum(s, layout);
        }
        if (c instanceof ZoAdam.Config s) {
            return new ZoAdam(s, layout);
        }
        if (c instanceof ZoAdaMu.Config s) {
            return new ZoAdaMu(s, layout);
        }
        throw new AssertionError(c);
    }

    /** A named live state array of the optimiser. */
    public record StateArray(String name, float[] values) {
    }

    /** The optimiser's state, live: "m/<param>" (and "v/<param>" for zo-adam), in parameter order. */
    public static List<StateArray> state(ZoOptimizer opt) {
        NoiseLayout layout = opt.layout();
        List<StateArray> out = new ArrayList<>();
        for (int p = 0; p < layout.count(); p++) {
            String name = layout.spec(p).name();
            if (opt instanceof ZoSgdMomentum m) {
                out.add(new StateArray("m/" + name, m.momentum(p)));
            } else if (opt instanceof ZoAdaMu m) {
                out.add(new StateArray("m/" + name, m.momentum(p)));
            } else if (opt instanceof ZoAdam a) {
                out.add(new StateArray("m/" + name, a.firstMoment(p)));
                out.add(new StateArray("v/" + name, a.secondMoment(p)));
            }
        }
        return out;
    }
}
