package org.zotune.zo.optim;

import java.util.Arrays;
import java.util.List;
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
 *
 * <p>θ is either one array per tensor (all trainable) or a flat buffer over a set of tensors with a trainable mask:
 * tensor k of the optimiser's {@link NoiseLayout} is the k-th trainable tensor of the set, its noise indices are
 * the layout's; a frozen tensor is neither perturbed nor updated and draws no noise. The step counter may start at
 * t > 0 (a resumed run). The CPU engine, trajectory replay and the reference tests all run this one step; the GPU
 * counterpart is {@code org.zotune.zo.cuda.DeviceZoStep}.
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
     * What one step did ({@link EvaluatedStep}'s accessors give ℓ+, ℓ-, g per sample and the reported loss).
     *
     * @param t           the step index (from 1)
     * @param evaluations its SPSA samples (stream k, ℓ±_k, g_k) in stream order
     * @param skipped     true when a non-finite loss skipped the update
     */
    public record Result(long t, List<StepEvaluation> evaluations, boolean skipped) implements EvaluatedStep {
        public Result {
            evaluations = List.copyOf(evaluations);
        }

        /** Two-point SPSA's result from ℓ+, ℓ- and g per sample (sample k is noise stream k). */
        public Result(long t, float[] lossPlus, float[] lossMinus, float[] projectedGradient, boolean skipped) {
            this(t, StepEvaluation.SpsaSample.of(lossPlus, lossMinus, projectedGradient), skipped);
        }
    }

    /**
     * The loss of one pass over a flat θ: micro-batch {@code microBatch} evaluated at θ itself ({@code shadow}
     * false: unperturbed, or perturbed in place) or at the step's shadow buffer R(θ ± εu) ({@code shadow} true).
     */
    @FunctionalInterface
    public interface PassLoss {
        float evaluate(boolean shadow, int microBatch);
    }

    private final Config config;
    private final ZoOptimizer optimizer;
    private final NoiseLayout layout;
    private final float eps;
    // tensor k of the layout is thetaAt[k][thetaStart[k] .. + size_k); likewise the shadow copy
    private final float[][] thetaAt;
    private final int[] thetaStart;
    private final float[][] shadowAt;
    private final int[] shadowStart;
    private final float[][] theta;        // the per-tensor form's arrays (null for a flat θ)
    private final float[][] shadowTensors; // the per-tensor form's shadow arrays
    private final BadStepGuard guard;
    private long t;

    /**
     * θ as one array per tensor of the optimiser's layout, every tensor trainable, from step 0.
     *
     * @param theta the parameters, one array per tensor of the optimiser's layout; updated in place
     */
    public ZoStep(Config config, ZoOptimizer optimizer, float[][] theta) {
        this.config = config;
        this.optimizer = optimizer;
        this.layout = optimizer.layout();
        this.eps = (float) config.eps();
        checkSamples(config, optimizer);
        if (theta.length != layout.count()) {
            throw new ZotuneException("zo step: " + theta.length + " parameter arrays for " + layout.count() + " tensors");
        }
        for (int p = 0; p < theta.length; p++) {
            if (theta[p].length != layout.size(p)) {
                throw new ZotuneException("zo step: parameter " + layout.spec(p).name() + " has " + theta[p].length
                        + " values, its shape " + Arrays.toString(layout.spec(p).shape()) + " needs " + layout.size(p));
            }
        }
        this.theta = theta;
        this.thetaAt = theta.clone();
        this.thetaStart = new int[theta.length];
        if (config.strategy() == PerturbationStrategy.SHADOW) {
            this.shadowTensors = new float[theta.length][];
            for (int p = 0; p < theta.length; p++) {
                shadowTensors[p] = new float[theta[p].length];
            }
            this.shadowAt = shadowTensors.clone();
            this.shadowStart = new int[theta.length];
        } else {
            this.shadowTensors = null;
            this.shadowAt = null;
            this.shadowStart = null;
        }
        this.guard = new BadStepGuard(config.maxBadSteps());
    }

    /**
     * θ as a flat buffer over a set of tensors, of which those in {@code trainable} train.
     *
     * @param theta     the flat values of every tensor of the set; the trainable ones are updated in place
     * @param offsets   where tensor i of the set starts in {@code theta}
     * @param trainable which tensors of the set train (null: all); the optimiser's layout is over these, in order
     * @param shadow    SHADOW only: a buffer like {@code theta} that holds θ's values on the frozen tensors; the
     *                  step overwrites its trainable tensors before each pass (null for IN_PLACE, or to replay)
     * @param startStep the steps already done (0, or t of a resumed run: the next step is startStep + 1)
     */
    public ZoStep(Config config, ZoOptimizer optimizer, float[] theta, long[] offsets, boolean[] trainable,
                  float[] shadow, long startStep) {
        this.config = config;
        this.optimizer = optimizer;
        this.layout = optimizer.layout();
        this.eps = (float) config.eps();
        checkSamples(config, optimizer);
        if (trainable != null && trainable.length != offsets.length) {
            throw new ZotuneException("zo step: " + trainable.length + " trainable flags for " + offsets.length
                    + " tensors");
        }
        int[] index = new int[offsets.length];
        int count = 0;
        for (int i = 0; i < offsets.length; i++) {
            if (trainable == null || trainable[i]) {
                index[count++] = i;
            }
        }
        if (count != layout.count()) {
            throw new ZotuneException("zo step: " + count + " trainable tensors for an optimiser over "
                    + layout.count());
        }
        boolean shadowed = config.strategy() == PerturbationStrategy.SHADOW && shadow != null;
        if (shadowed && shadow.length != theta.length) {
            throw new ZotuneException("zo step: the shadow strategy needs a shadow buffer of " + theta.length
                    + " values");
        }
        if (startStep < 0) {
            throw new ZotuneException("zo step: the start step must be >= 0, got " + startStep);
        }
        this.theta = null;
        this.shadowTensors = null;
        this.thetaAt = new float[count][];
        this.thetaStart = new int[count];
        this.shadowAt = shadowed ? new float[count][] : null;
        this.shadowStart = shadowed ? new int[count] : null;
        for (int k = 0; k < count; k++) {
            long off = offsets[index[k]];
            if (off < 0 || off + layout.size(k) > theta.length) {
                throw new ZotuneException("zo step: parameter " + layout.spec(k).name() + " at " + off + " ("
                        + layout.size(k) + " values) lies outside the flat buffer of " + theta.length);
            }
            thetaAt[k] = theta;
            thetaStart[k] = (int) off;
            if (shadowed) {
                shadowAt[k] = shadow;
                shadowStart[k] = (int) off;
            }
        }
        this.guard = new BadStepGuard(config.maxBadSteps());
        this.t = startStep;
    }

    private static void checkSamples(Config config, ZoOptimizer optimizer) {
        if (config.samples() > optimizer.maxSamples()) {
            throw new ZotuneException(optimizer.name() + ": q (SPSA samples) must be <= " + optimizer.maxSamples()
                    + ", got " + config.samples());
        }
    }

    /**
     * SPSA samples spread over data-parallel workers (ALGORITHMS.md §10): this worker evaluates only the samples it
     * {@link #evaluates}; {@link #exchange} then fills in the others' ℓ± from the workers that evaluated them, so
     * every worker forms the same g and applies the same update (each regenerates every sample's direction).
     */
    public interface SampleExchange {
        boolean evaluates(int sample);

        /** Replaces the entries of the samples this worker did not evaluate by their evaluators' values. */
        void exchange(float[] lossPlus, float[] lossMinus);
    }

    private SampleExchange exchange;

    /** Spreads the step's SPSA samples over workers (null: this step evaluates every sample itself). */
    public void setSampleExchange(SampleExchange exchange) {
        this.exchange = exchange;
    }

    /** Steps done (the last step's index t). */
    public long step() {
        return t;
    }

    public long skippedSteps() {
        return guard.skipped();
    }

    /** Non-finite steps in a row at the end of the last step. */
    public int badInARow() {
        return guard.badInARow();
    }

    /** Sets the counters of a resumed run (steps done, skipped so far, bad steps in a row). */
    public void restore(long steps, long skippedSteps, int badRow) {
        this.t = steps;
        guard.restore(skippedSteps, badRow);
    }

    /** The per-tensor form's θ (null for a flat θ). */
    public float[][] theta() {
        return theta;
    }

    public ZoOptimizer optimizer() {
        return optimizer;
    }

    /** Runs one ZO step on the per-tensor θ; throws ZotuneException after too many non-finite steps in a row. */
    public Result step(ZoLoss loss) {
        if (theta == null) {
            throw new IllegalStateException("zo step over a flat θ: use stepFlat(PassLoss)");
        }
        return stepFlat((shadow, b) -> loss.evaluate(shadow ? shadowTensors : theta, b));
    }

    /** Runs step t + 1; throws ZotuneException after too many non-finite steps in a row. */
    public Result stepFlat(PassLoss loss) {
        if (config.strategy() == PerturbationStrategy.SHADOW && shadowAt == null) {
            throw new ZotuneException("zo step: the shadow strategy needs a shadow buffer");
        }
        long step = t + 1;
        long seed = Noise.stepSeed(config.seed(), step);
        optimizer.beginStep(step, seed);
        int q = config.samples();
        float[] lp = new float[q];
        float[] lm = new float[q];
        float[] g = new float[q];
        for (int k = 0; k < q; k++) {
            boolean mine = exchange == null || exchange.evaluates(k);
            float[][] u = directions(k);
            if (config.strategy() == PerturbationStrategy.SHADOW) {
                if (mine) {
                    shift(u, +1);
                    lp[k] = evaluate(loss, true);
                    shift(u, -1);
                    lm[k] = evaluate(loss, true);
                }
            } else {
                // every worker perturbs and restores (not an exact identity in floating point), so θ stays the same
                perturbInPlace(u, 1.0f);
                lp[k] = mine ? evaluate(loss, false) : 0f;
                perturbInPlace(u, -2.0f);
                lm[k] = mine ? evaluate(loss, false) : 0f;
                perturbInPlace(u, 1.0f); // restore: fused with the update on a GPU
            }
        }
        if (exchange != null) {
            exchange.exchange(lp, lm);
        }
        for (int k = 0; k < q; k++) {
            g[k] = (lp[k] - lm[k]) / (2.0f * eps);
        }
        boolean bad = BadStepGuard.nonFinite(lp, lm, g);
        t = step;
        guard.record(step, bad, lp[0], lm[0]);
        if (!bad) {
            update(seed, g);
        }
        return new Result(step, lp, lm, g, bad);
    }

    /**
     * Re-applies step {@code step} from its recorded projected gradients without a forward pass (trajectory replay):
     * in place, the perturb / restore passes (θ + εu, θ - 2εu, θ + εu per sample, not an exact identity in floating
     * point), then the update unless the step was skipped. Bitwise what {@link #step} wrote.
     */
    public void replay(long step, float[] g, boolean skipped) {
        if (g.length != config.samples()) {
            throw new ZotuneException("replay step " + step + ": " + g.length + " projected gradients, q = "
                    + config.samples());
        }
        long seed = Noise.stepSeed(config.seed(), step);
        optimizer.beginStep(step, seed);
        if (config.strategy() == PerturbationStrategy.IN_PLACE) {
            for (int k = 0; k < config.samples(); k++) {
                float[][] u = directions(k);
                perturbInPlace(u, 1.0f);
                perturbInPlace(u, -2.0f);
                perturbInPlace(u, 1.0f);
            }
        }
        t = step;
        if (skipped) {
            guard.countSkipped();
        } else {
            update(seed, g);
        }
    }

    /** The optimiser's update of every trainable tensor (float32; stochastic rounding for bf16/f16 θ). */
    private void update(long seed, float[] g) {
        DType dt = config.paramDType();
        for (int p = 0; p < thetaAt.length; p++) {
            float[] arr = thetaAt[p];
            int off = thetaStart[p];
            int n = Math.toIntExact(layout.size(p));
            float[] th = Arrays.copyOfRange(arr, off, off + n);
            if (dt == DType.F32) {
                optimizer.update(g, p, th);
            } else {
                float[] upd = th.clone();
                optimizer.update(g, p, upd);
                int[] words = new int[n];
                StochasticRounding.fillBits(seed, layout.offset(p), words, 0, n);
                for (int j = 0; j < n; j++) {
                    th[j] = StochasticRounding.round(upd[j], words[j], dt);
                }
            }
            System.arraycopy(th, 0, arr, off, n);
        }
    }

    private float[][] directions(int k) {
        float[][] u = new float[thetaAt.length][];
        for (int p = 0; p < u.length; p++) {
            u[p] = new float[Math.toIntExact(layout.size(p))];
            optimizer.direction(k, p, u[p]);
        }
        return u;
    }

    /** shadow = R(θ ± ε·u) on the trainable tensors, θ untouched. */
    private void shift(float[][] u, int sign) {
        DType dt = config.paramDType();
        for (int p = 0; p < u.length; p++) {
            float[] th = thetaAt[p];
            int a = thetaStart[p];
            float[] o = shadowAt[p];
            int b = shadowStart[p];
            float[] up = u[p];
            for (int j = 0; j < up.length; j++) {
                float d = eps * up[j];
                o[b + j] = dt.round(sign > 0 ? th[a + j] + d : th[a + j] - d);
            }
        }
    }

    /** θ = R(θ + c·(ε·u)) with c in {1, -2}: scaling by 2 is exact, so this is θ - 2·d for c = -2. */
    private void perturbInPlace(float[][] u, float c) {
        DType dt = config.paramDType();
        for (int p = 0; p < u.length; p++) {
            float[] th = thetaAt[p];
            int a = thetaStart[p];
            float[] up = u[p];
            for (int j = 0; j < up.length; j++) {
                float d = eps * up[j];
                th[a + j] = dt.round(th[a + j] + c * d);
            }
        }
    }

    /** The mean of the micro-batches' losses, summed in float32 in micro-batch order (the sum itself for one). */
    private float evaluate(PassLoss loss, boolean shadow) {
        float sum = 0f;
        for (int b = 0; b < config.microBatches(); b++) {
            sum += loss.evaluate(shadow, b);
        }
        return config.microBatches() == 1 ? sum : sum / config.microBatches();
    }
}
