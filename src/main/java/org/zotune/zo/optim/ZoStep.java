package org.zotune.zo.optim;

import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.noise.StochasticRounding;

/**
 * The two-point SPSA step on the CPU (ALGORITHMS.md §2), the reference for the fused GPU step. Step t:
 * <ol>
 *   <li>s_t = {@link Noise#stepSeed}(master seed, t); the optimiser prepares its scalars.</li>
 *   <li>For each SPSA sample k (0 … q-1) with direction u_k (regenerated per use):
 *       ℓ±_k = (Σ_b L(θ ± εu_k; micro-batch b)) / M, summed in float32 in micro-batch order, then divided
 *       by the number of micro-batches M (the mean, so learning rates do not depend on M; M = 1 is the plain sum);
 *       g_k = (ℓ+_k - ℓ-_k) / (2ε) in float32: (ℓ+ - ℓ-) first, then divided by (2ε).</li>
 *   <li>If any ℓ± or g is NaN or ±inf the update is skipped (θ and optimiser state untouched, apart from the
 *       in-place restore), the skip is counted, and after {@code maxBadSteps} skipped steps in a row the run
 *       stops with a {@link ZotuneException}. Otherwise the optimiser updates θ once.</li>
 * </ol>
 * Per element, with d = ε·u (float32):
 * <ul>
 *   <li>SHADOW: the forward passes see R(θ + d) and R(θ - d) in scratch copies; θ is not touched.</li>
 *   <li>IN_PLACE: θ = R(θ + d); forward; θ = R(θ - 2·d); forward; θ = R(θ + d) (the restore), for each
 *       sample in turn; the last restore and the update form one pass on a GPU (same values).</li>
 * </ul>
 * R is round-to-nearest-even to the parameter dtype (identity for F32). For BF16/F16 parameters the update is
 * computed in float32 and written back with {@link StochasticRounding} from the step's stream-2 bits.
 */
public final class ZoStep {

    /**
     * @param eps            ε (> 0)
     * @param samples        q (>= 1)
     * @param strategy       in-place or shadow
     * @param microBatches   M micro-batches per step (>= 1), same u for all
     * @param maxBadSteps    stop after this many consecutive non-finite steps (>= 1)
     * @param paramDType     what θ's values are representable in (F32, or BF16/F16 with stochastic rounding)
     * @param seed           the run's master seed
     */
    public record Config(double eps, int samples, PerturbationStrategy strategy, int microBatches,
                         int maxBadSteps, DType paramDType, long seed) {
        public Config {
            if (!Double.isFinite(eps) || eps <= 0 || (float) eps <= 0) {
                throw new ZotuneException("zo step: eps must be a finite number > 0, got " + eps);
            }
            if (samples < 1) {
                throw new ZotuneException("zo step: q (SPSA samples) must be >= 1, got " + samples);
            }
            if (strategy == null) {
                throw new ZotuneException("zo step: strategy must be in-place or shadow");
            }
            if (microBatches < 1) {
                throw new ZotuneException("zo step: microBatches must be >= 1, got " + microBatches);
            }
            if (maxBadSteps < 1) {
                throw new ZotuneException("zo step: maxBadSteps must be >= 1, got " + maxBadSteps);
            }
            if (paramDType == null) {
                paramDType = DType.F32;
            }
        }

        /** ε, shadow strategy, one sample and micro-batch, stop after 5 bad steps in a row, float32. */
        public static Config of(double eps, long seed) {
            return new Config(eps, 1, PerturbationStrategy.SHADOW, 1, 5, DType.F32, seed);
        }

        public Config withStrategy(PerturbationStrategy s) {
            return new Config(eps, samples, s, microBatches, maxBadSteps, paramDType, seed);
        }

        public Config withSamples(int q) {
            return new Config(eps, q, strategy, microBatches, maxBadSteps, paramDType, seed);
        }

        public Config withMicroBatches(int m) {
            return new Config(eps, samples, strategy, m, maxBadSteps, paramDType, seed);
        }

        public Config withMaxBadSteps(int n) {
            return new Config(eps, samples, strategy, microBatches, n, paramDType, seed);
        }

        public Config withParamDType(DType d) {
            return new Config(eps, samples, strategy, microBatches, maxBadSteps, d, seed);
        }
    }

    /**
     * What one step did.
     *
     * @param t         the step index (from 1)
     * @param lossPlus  ℓ+ per sample
     * @param lossMinus ℓ- per sample
     * @param projectedGradient g per sample
     * @param skipped   true when a non-finite loss skipped the update
     */
    public record Result(long t, float[] lossPlus, float[] lossMinus, float[] projectedGradient, boolean skipped) {
        /** The mean of ℓ+ and ℓ- of sample 0 (the usual "training loss" of a ZO step). */
        public float loss() {
            return 0.5f * (lossPlus[0] + lossMinus[0]);
        }
    }

    private final Config config;
    private final ZoOptimizer optimizer;
    private final NoiseLayout layout;
    private final float[][] theta;
    private final float eps;
    private long t;
    private long skippedTotal;
    private int badInARow;

    /**
     * @param theta the parameters, one array per tensor of the optimiser's layout; updated in place
     */
    public ZoStep(Config config, ZoOptimizer optimizer, float[][] theta) {
        this.config = config;
        this.optimizer = optimizer;
        this.layout = optimizer.layout();
        this.theta = theta;
        this.eps = (float) config.eps();
        if (config.samples() > optimizer.maxSamples()) {
            throw new ZotuneException(optimizer.name() + ": q (SPSA samples) must be <= " + optimizer.maxSamples()
                    + ", got " + config.samples());
        }
        if (theta.length != layout.count()) {
            throw new ZotuneException("zo step: " + theta.length + " parameter arrays for " + layout.count() + " tensors");
        }
        for (int p = 0; p < theta.length; p++) {
            if (theta[p].length != layout.size(p)) {
                throw new ZotuneException("zo step: parameter " + layout.spec(p).name() + " has " + theta[p].length
                        + " values, its shape " + Arrays.toString(layout.spec(p).shape()) + " needs " + layout.size(p));
            }
        }
    }

    public long step() {
        return t;
    }

    public long skippedSteps() {
        return skippedTotal;
    }

    public float[][] theta() {
        return theta;
    }

    /** Runs one ZO step and returns its losses; throws ZotuneException after too many non-finite steps in a row. */
    public Result step(ZoLoss loss) {
        long step = t + 1;
        long seed = Noise.stepSeed(config.seed(), step);
        optimizer.beginStep(step, seed);
        int q = config.samples();
        float[] lp = new float[q];
        float[] lm = new float[q];
        float[] g = new float[q];
        boolean bad = false;
        for (int k = 0; k < q; k++) {
            float[][] u = directions(k);
            if (config.strategy() == PerturbationStrategy.SHADOW) {
                lp[k] = evaluate(loss, shifted(u, +1));
                lm[k] = evaluate(loss, shifted(u, -1));
            } else {
                perturbInPlace(u, 1.0f);
                lp[k] = evaluate(loss, theta);
                perturbInPlace(u, -2.0f);
                lm[k] = evaluate(loss, theta);
                perturbInPlace(u, 1.0f); // restore: fused with the update on a GPU
            }
            g[k] = (lp[k] - lm[k]) / (2.0f * eps);
            bad |= !Float.isFinite(lp[k]) || !Float.isFinite(lm[k]) || !Float.isFinite(g[k]);
        }
        t = step;
        if (bad) {
            skippedTotal++;
            badInARow++;
            if (badInARow >= config.maxBadSteps()) {
                throw new ZotuneException("zo step " + step + ": the loss was NaN or infinite in " + badInARow
                        + " steps in a row (last: l+ = " + lp[0] + ", l- = " + lm[0] + "); parameters are unchanged"
                        + " since the last good step; lower the learning rate or eps, or check the data");
            }
            return new Result(step, lp, lm, g, true);
        }
        badInARow = 0;
        for (int p = 0; p < theta.length; p++) {
            if (config.paramDType() == DType.F32) {
                optimizer.update(g, p, theta[p]);
            } else {
                float[] upd = theta[p].clone();
                optimizer.update(g, p, upd);
                long off = layout.offset(p);
                int[] words = new int[upd.length];
                StochasticRounding.fillBits(seed, off, words, 0, upd.length);
                for (int j = 0; j < upd.length; j++) {
                    theta[p][j] = StochasticRounding.round(upd[j], words[j], config.paramDType());
                }
            }
        }
        return new Result(step, lp, lm, g, false);
    }

    private float[][] directions(int k) {
        float[][] u = new float[theta.length][];
        for (int p = 0; p < theta.length; p++) {
            u[p] = new float[theta[p].length];
            optimizer.direction(k, p, u[p]);
        }
        return u;
    }

    /** Scratch copies R(θ ± ε·u), θ untouched. */
    private float[][] shifted(float[][] u, int sign) {
        DType dt = config.paramDType();
        float[][] out = new float[theta.length][];
        for (int p = 0; p < theta.length; p++) {
            float[] th = theta[p];
            float[] o = new float[th.length];
            for (int j = 0; j < th.length; j++) {
                float d = eps * u[p][j];
                o[j] = dt.round(sign > 0 ? th[j] + d : th[j] - d);
            }
            out[p] = o;
        }
        return out;
    }

    /** θ = R(θ + c·(ε·u)) with c in {1, -2}: scaling by 2 is exact, so this is θ - 2·d for c = -2. */
    private void perturbInPlace(float[][] u, float c) {
        DType dt = config.paramDType();
        for (int p = 0; p < theta.length; p++) {
            float[] th = theta[p];
            for (int j = 0; j < th.length; j++) {
                float d = eps * u[p][j];
                th[j] = dt.round(th[j] + c * d);
            }
        }
    }

    private float evaluate(ZoLoss loss, float[][] params) {
        float sum = 0f;
        for (int b = 0; b < config.microBatches(); b++) {
            sum += loss.evaluate(params, b);
        }
        return config.microBatches() == 1 ? sum : sum / config.microBatches();
    }
}
