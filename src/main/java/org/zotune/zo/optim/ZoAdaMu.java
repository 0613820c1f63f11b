package org.zotune.zo.optim;

import java.util.List;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/**
 * ZO-AdaMU (ALGORITHMS.md §5): the perturbation itself carries momentum and its own uncertainty.
 * State m (zero at start) in the configured state dtype (f32 default; bf16 / f16 round u to nearest even when
 * stored: the next step's direction reads the rounded m). Host scalars for step t from the
 * {@link AdaMuSchedule} (double, rounded once to float32): sa = sqrt(α), sb = sqrt(1 - α), β1, omb1 = 1 - β1,
 * β2, omb2 = 1 - β2, and after the losses are known etaG = η_t·g (float32 product of the two floats).
 * Per element i (global index) of a tensor, in float32:
 * <pre>
 *   n0 = Noise(seed, stream 0, i);  n1 = Noise(seed, stream 1, i)
 *   ż  = sa·n0
 *   z̈  = m + sb·n1
 *   u  = β1·ż + omb1·z̈                        (both products first, then the sum)
 *   -- u perturbs θ for ℓ+ and ℓ-; after them, the update with the same u:
 *   v  = β2·(ż·ż) + omb2·(z̈·z̈)
 *   s  = (etaG·u) / sqrt(v + σ)               (σ = 1e-8 by default)
 *   if decays and λ > 0: s = s + etaLambda·θ  (etaLambda = η_t·λ, decoupled weight decay)
 *   θ  = θ - s
 *   m  = R_state(u)
 * </pre>
 * One SPSA sample only (the paper defines no q-sample form: its momentum stores one u). The fused GPU kernel
 * evaluates s as (etaG·u)·rsqrt(v + σ) with the hardware reciprocal square root, within ~2 ulp of this IEEE
 * division and square root (the only step of the GPU updates that is not bitwise this reference's float32 order).
 */
public final class ZoAdaMu extends AbstractZoOptimizer {

    /**
     * @param lr          η_t (sign-like steps: rates do not transfer from MeZO, see ALGORITHMS.md §5)
     * @param schedule    α, β1, β2 annealing
     * @param sigma       σ inside the square root (> 0), default 1e-8
     * @param weightDecay λ (>= 0), decoupled
     */
    public record Config(LrSchedule lr, AdaMuSchedule schedule, double sigma, double weightDecay,
                         DType stateDType) implements ZoOptimizerConfig {
        private static final DeviceRule RULE = new DeviceRule("adamu", "AdaMuParams",
                List.of("eta_lambda", "sa", "sb", "beta1", "omb1", "beta2", "omb2", "sigma"));

        public Config {
            if (lr == null) {
                throw new org.zotune.ZotuneException("zo-adamu: lr is required");
            }
            if (schedule == null) {
                throw new org.zotune.ZotuneException("zo-adamu: schedule is required");
            }
            Check.finitePositive("zo-adamu", "sigma", sigma);
            Check.finiteNonNegative("zo-adamu", "weightDecay", weightDecay);
            stateDType = Check.stateDType("zo-adamu", stateDType);
        }

        /** float32 state. */
        public Config(LrSchedule lr, AdaMuSchedule schedule, double sigma, double weightDecay) {
            this(lr, schedule, sigma, weightDecay, DType.F32);
        }

        public Config(LrSchedule lr, AdaMuSchedule schedule) {
            this(lr, schedule, 1e-8, 0.0);
        }

        /**
         * η = 1e-2, λ = 0.1, float32 state, phases short enough that steps 1-4 cover them all: step 1 warm-up,
         * step 2 the start of the cosine (p = 0), step 3 mid-way, step 4 the end values.
         */
        public static Config example() {
            return new Config(LrSchedule.constant(1e-2), new AdaMuSchedule(2, 4, 5, 0.5, 0.9, 0.01, 1, 0.1, 1.5),
                    1e-8, 0.1, DType.F32);
        }

        @Override
        public String name() {
            return "zo-adamu";
        }

        @Override
        public List<String> stateVectors() {
            return List.of("m");
        }

        @Override
        public Config withStateDType(DType d) {
            return new Config(lr, schedule, sigma, weightDecay, d);
        }

        /** One: the paper defines no q-sample form (its momentum stores one u). */
        @Override
        public int maxSamples() {
            return 1;
        }

        @Override
        public Direction direction() {
            return Direction.ADAMU;
        }

        @Override
        public ZoOptimizer reference(NoiseLayout layout) {
            return new ZoAdaMu(this, layout);
        }

        @Override
        public DeviceRule deviceRule() {
            return RULE;
        }

        /** η_t·λ (decoupled), sqrt(α), sqrt(1 - α), β1, 1 - β1, β2, 1 - β2 from the schedule, and σ. */
        @Override
        public float[] deviceScalars(long t, float eta) {
            double alpha = schedule.alpha(t);
            double b1 = schedule.beta1(t);
            double b2 = schedule.beta2(t);
            return new float[] {eta * (float) weightDecay, (float) Math.sqrt(alpha), (float) Math.sqrt(1.0 - alpha),
                (float) b1, (float) (1.0 - b1), (float) b2, (float) (1.0 - b2), (float) sigma};
        }
    }

    private final Config config;
    private final float sigma;
    private final DType stateDType;
    private final float[][] m;
    private float sa;
    private float sb;
    private float b1;
    private float omb1;
    private float b2;
    private float omb2;
    private float etaLambda;

    public ZoAdaMu(Config config, NoiseLayout layout) {
        super(layout, config.lr());
        this.config = config;
        this.sigma = (float) config.sigma();
        this.stateDType = config.stateDType();
        this.m = new float[layout.count()][];
        for (int p = 0; p < m.length; p++) {
            m[p] = new float[numel(layout, p)];
        }
    }

    @Override
    public Config config() {
        return config;
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public int maxSamples() {
        return config.maxSamples();
    }

    @Override
    public float[] state(int vector, int p) {
        if (vector != 0) {
            throw new IllegalArgumentException(name() + " has no state vector " + vector);
        }
        return m[p];
    }

    /** The perturbation momentum of tensor p (live view). */
    public float[] momentum(int p) {
        return m[p];
    }

    @Override
    public void beginStep(long step, long stepSeed) {
        super.beginStep(step, stepSeed);
        AdaMuSchedule s = config.schedule();
        double alpha = s.alpha(step);
        double beta1 = s.beta1(step);
        double beta2 = s.beta2(step);
        sa = (float) Math.sqrt(alpha);
        sb = (float) Math.sqrt(1.0 - alpha);
        b1 = (float) beta1;
        omb1 = (float) (1.0 - beta1);
        b2 = (float) beta2;
        omb2 = (float) (1.0 - beta2);
        etaLambda = eta * (float) config.weightDecay();
    }

    private void parts(int p, float[] zd, float[] zdd) {
        int n = numel(layout, p);
        long off = layout.offset(p);
        Noise.fill(seed, Noise.STREAM_N0, off, zd, 0, n, Noise.Distribution.GAUSSIAN);
        Noise.fill(seed, Noise.STREAM_N1, off, zdd, 0, n, Noise.Distribution.GAUSSIAN);
        float[] mp = m[p];
        for (int j = 0; j < n; j++) {
            zd[j] = sa * zd[j];
            zdd[j] = mp[j] + sb * zdd[j];
        }
    }

    @Override
    public void direction(int sample, int p, float[] u) {
        if (sample != 0) {
            throw new IllegalArgumentException("zo-adamu defines one SPSA sample, asked for sample " + sample);
        }
        int n = numel(layout, p);
        float[] zd = new float[n];
        float[] zdd = new float[n];
        parts(p, zd, zdd);
        for (int j = 0; j < n; j++) {
            u[j] = b1 * zd[j] + omb1 * zdd[j];
        }
    }

    @Override
    public void update(float[] g, int p, float[] theta) {
        if (g.length != 1) {
            throw new IllegalArgumentException("zo-adamu defines one SPSA sample, got " + g.length);
        }
        int n = numel(layout, p);
        float[] zd = new float[n];
        float[] zdd = new float[n];
        parts(p, zd, zdd);
        float etaG = eta * g[0];
        boolean decays = etaLambda > 0 && layout.spec(p).role().decays();
        float[] mp = m[p];
        for (int j = 0; j < n; j++) {
            float u = b1 * zd[j] + omb1 * zdd[j];
            float v = b2 * (zd[j] * zd[j]) + omb2 * (zdd[j] * zdd[j]);
            float s = (etaG * u) / (float) Math.sqrt(v + sigma);
            if (decays) {
                s = s + etaLambda * theta[j];
            }
            theta[j] = theta[j] - s;
            mp[j] = stateDType.round(u);
        }
    }
}
