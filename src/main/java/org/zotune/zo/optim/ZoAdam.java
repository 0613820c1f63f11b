package org.zotune.zo.optim;

import java.util.List;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/**
 * ZO-Adam (ZO-AdaMM, ALGORITHMS.md §4): Adam on the estimate ĝ = g·u, u = n0 (Gaussian). State m, v
 * (zero at start) stored in the configured state dtype (f32 default; bf16 / f16 round to nearest even when
 * stored, after the step has used the float32 values). Host scalars per step: c1 = 1 - β1^t, c2 = 1 - β2^t (double, then float32),
 * omb1 = 1 - β1, omb2 = 1 - β2 (float32). Per element, in float32:
 * <pre>
 *   ĝ = g·u;  if decays: ĝ = ĝ + λ·θ           (L2 regularisation inside the moments)
 *   m' = β1·m + omb1·ĝ
 *   v' = β2·v + omb2·(ĝ·ĝ)
 *   m̂ = m' / c1;  v̂ = v' / c2
 *   θ = θ - (η_t·m̂) / (sqrt(v̂) + ε_adam)
 *   m = R_state(m');  v = R_state(v')
 * </pre>
 * t is the step index (a skipped step still advances it).
 */
public final class ZoAdam extends AbstractZoOptimizer {

    /**
     * @param lr          η_t
     * @param beta1       β1 in [0, 1)
     * @param beta2       β2 in [0, 1)
     * @param epsilon     Adam's ε (> 0), default 1e-8
     * @param weightDecay λ (>= 0)
     */
    public record Config(LrSchedule lr, double beta1, double beta2, double epsilon, double weightDecay,
                         DType stateDType) implements ZoOptimizerConfig {
        private static final DeviceRule RULE = new DeviceRule("adam", "AdamParams",
                List.of("lambda", "beta1", "beta2", "omb1", "omb2", "c1", "c2", "eps"));

        public Config {
            if (lr == null) {
                throw new org.zotune.ZotuneException("zo-adam: lr is required");
            }
            Check.unitInterval("zo-adam", "beta1", beta1);
            Check.unitInterval("zo-adam", "beta2", beta2);
            if (beta1 == 1 || beta2 == 1) {
                throw new org.zotune.ZotuneException("zo-adam: beta1 and beta2 must be < 1 (bias correction divides by 1 - beta^t)");
            }
            Check.finitePositive("zo-adam", "epsilon", epsilon);
            Check.finiteNonNegative("zo-adam", "weightDecay", weightDecay);
            stateDType = Check.stateDType("zo-adam", stateDType);
        }

        /** float32 state. */
        public Config(LrSchedule lr, double beta1, double beta2, double epsilon, double weightDecay) {
            this(lr, beta1, beta2, epsilon, weightDecay, DType.F32);
        }

        public Config(LrSchedule lr) {
            this(lr, 0.9, 0.999, 1e-8, 0.0);
        }

        /** η = 1e-2, β = (0.9, 0.999), ε = 1e-8, λ = 0.01, float32 state. */
        public static Config example() {
            return new Config(LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 0.01, DType.F32);
        }

        @Override
        public String name() {
            return "zo-adam";
        }

        @Override
        public List<String> stateVectors() {
            return List.of("m", "v");
        }

        @Override
        public Config withStateDType(DType d) {
            return new Config(lr, beta1, beta2, epsilon, weightDecay, d);
        }

        @Override
        public Direction direction() {
            return Direction.GAUSSIAN;
        }

        @Override
        public ZoOptimizer reference(NoiseLayout layout) {
            return new ZoAdam(this, layout);
        }

        @Override
        public DeviceRule deviceRule() {
            return RULE;
        }

        /** λ, β1, β2, 1 - β1, 1 - β2, the bias corrections c1 = 1 - β1^t, c2 = 1 - β2^t, and ε_adam. */
        @Override
        public float[] deviceScalars(long t, float eta) {
            return new float[] {(float) weightDecay, (float) beta1, (float) beta2, (float) (1.0 - beta1),
                (float) (1.0 - beta2), (float) (1.0 - Math.pow(beta1, t)), (float) (1.0 - Math.pow(beta2, t)),
                (float) epsilon};
        }
    }

    private final Config config;
    private final float b1;
    private final float b2;
    private final float omb1;
    private final float omb2;
    private final float eps;
    private final float lambda;
    private final DType stateDType;
    private final float[][] m;
    private final float[][] v;
    private float c1;
    private float c2;

    public ZoAdam(Config config, NoiseLayout layout) {
        super(layout, config.lr());
        this.config = config;
        this.b1 = (float) config.beta1();
        this.b2 = (float) config.beta2();
        this.omb1 = (float) (1.0 - config.beta1());
        this.omb2 = (float) (1.0 - config.beta2());
        this.eps = (float) config.epsilon();
        this.lambda = (float) config.weightDecay();
        this.stateDType = config.stateDType();
        this.m = new float[layout.count()][];
        this.v = new float[layout.count()][];
        for (int p = 0; p < m.length; p++) {
            m[p] = new float[numel(layout, p)];
            v[p] = new float[numel(layout, p)];
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
    public float[] state(int vector, int p) {
        if (vector == 0) {
            return m[p];
        }
        if (vector == 1) {
            return v[p];
        }
        throw new IllegalArgumentException(name() + " has no state vector " + vector);
    }

    @Override
    public void beginStep(long step, long stepSeed) {
        super.beginStep(step, stepSeed);
        c1 = (float) (1.0 - Math.pow(config.beta1(), step));
        c2 = (float) (1.0 - Math.pow(config.beta2(), step));
    }

    public float[] firstMoment(int p) {
        return m[p];
    }

    public float[] secondMoment(int p) {
        return v[p];
    }

    @Override
    public void direction(int sample, int p, float[] u) {
        noiseDirection(sample, p, u, Noise.Distribution.GAUSSIAN);
    }

    @Override
    public void update(float[] g, int p, float[] theta) {
        float[] ghat = estimate(g, p, Noise.Distribution.GAUSSIAN);
        boolean decays = layout.spec(p).role().decays();
        float[] mp = m[p];
        float[] vp = v[p];
        for (int j = 0; j < ghat.length; j++) {
            float gh = decays ? ghat[j] + lambda * theta[j] : ghat[j];
            float mn = b1 * mp[j] + omb1 * gh;
            float vn = b2 * vp[j] + omb2 * (gh * gh);
            mp[j] = stateDType.round(mn);
            vp[j] = stateDType.round(vn);
            float mh = mn / c1;
            float vh = vn / c2;
            theta[j] = theta[j] - (eta * mh) / ((float) Math.sqrt(vh) + eps);
        }
    }
}
