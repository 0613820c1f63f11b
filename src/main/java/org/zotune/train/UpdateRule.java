package org.zotune.train;

import java.util.Arrays;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.noise.StochasticRounding;
import org.zotune.zo.optim.ZoOptimizer;

/**
 * The optimiser update of one step over θ in a flat array, shared by the CPU engine and trajectory replay so that
 * both compute the same bits: per tensor, exactly {@link org.zotune.zo.optim.ZoStep}'s update (float32 update;
 * stochastic rounding from the step's stream-2 bits for bf16/f16 parameters).
 */
final class UpdateRule {
    private UpdateRule() {
    }

    /**
     * Applies step t's update (the caller has called {@code opt.beginStep(t, seed)}).
     *
     * @param offsets where tensor p starts in {@code flat}
     */
    static void apply(ZoOptimizer opt, long seed, float[] g, DType dtype, float[] flat, long[] offsets) {
        NoiseLayout layout = opt.layout();
        for (int p = 0; p < layout.count(); p++) {
            int off = Math.toIntExact(offsets[p]);
            int n = Math.toIntExact(layout.size(p));
            float[] th = Arrays.copyOfRange(flat, off, off + n);
            if (dtype == DType.F32) {
                opt.update(g, p, th);
            } else {
                float[] upd = th.clone();
                opt.update(g, p, upd);
                int[] words = new int[n];
                StochasticRounding.fillBits(seed, layout.offset(p), words, 0, n);
                for (int j = 0; j < n; j++) {
                    th[j] = StochasticRounding.round(upd[j], words[j], dtype);
                }
            }
            System.arraycopy(th, 0, flat, off, n);
        }
    }

    /** The directions u of SPSA sample k, one array per tensor (the caller has called beginStep). */
    static float[][] directions(ZoOptimizer opt, int k) {
        NoiseLayout layout = opt.layout();
        float[][] u = new float[layout.count()][];
        for (int p = 0; p < u.length; p++) {
            u[p] = new float[Math.toIntExact(layout.size(p))];
            opt.direction(k, p, u[p]);
        }
        return u;
    }

    /**
     * In-place perturbation θ = R(θ + c·(ε·u)), c in {1, -2} (scaling by 2 is exact). The sequence +1, -2, +1 does
     * not restore θ exactly in floating point, so replay repeats it too.
     */
    static void perturb(float[][] u, float c, float eps, DType dtype, float[] flat, long[] offsets) {
        for (int p = 0; p < u.length; p++) {
            int off = (int) offsets[p];
            float[] up = u[p];
            for (int j = 0; j < up.length; j++) {
                float d = eps * up[j];
                flat[off + j] = dtype.round(flat[off + j] + c * d);
            }
        }
    }
}
