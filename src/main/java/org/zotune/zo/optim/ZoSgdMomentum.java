package org.zotune.zo.optim;

import java.util.List;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/**
 * ZO-SGD with momentum (ALGORITHMS.md §4): u = n0 (Gaussian). State m (d values, zero at start), stored in
 * the configured state dtype (f32 default; bf16 / f16 round to nearest even when stored). Per element, in float32:
 * <pre>
 *   ĝ = g·u;  if decays: ĝ = ĝ + λ·θ
 *   m' = μ·m + ĝ
 *   θ = θ - η_t·m'
 *   m = R_state(m')                (the step uses m' unrounded)
 * </pre>
 */
public final class ZoSgdMomentum extends AbstractZoOptimizer {

    /**
     * @param lr          η_t
     * @param momentum    μ in [0, 1]
     * @param weightDecay λ (>= 0), added to the estimate
     */
    public record Config(LrSchedule lr, double momentum, double weightDecay, DType stateDType)
            implements ZoOptimizerConfig {
        private static final DeviceRule RULE = new DeviceRule("mmt", "MmtParams", List.of("lambda", "mu"));

        public Config {
            if (lr == null) {
                throw new org.zotune.ZotuneException("zo-sgd-mmt: lr is required");
            }
            Check.unitInterval("zo-sgd-mmt", "momentum", momentum);
            Check.finiteNonNegative("zo-sgd-mmt", "weightDecay", weightDecay);
            stateDType = Check.stateDType("zo-sgd-mmt", stateDType);
        }

        /** float32 state. */
        public Config(LrSchedule lr, double momentum, double weightDecay) {
            this(lr, momentum, weightDecay, DType.F32);
        }

        /** η = 1e-2, μ = 0.9, λ = 0.05, float32 state. */
        public static Config example() {
            return new Config(LrSchedule.constant(1e-2), 0.9, 0.05, DType.F32);
        }

        @Override
        public String name() {
            return "zo-sgd-mmt";
        }

        @Override
        public List<String> stateVectors() {
            return List.of("m");
        }

        @Override
        public Config withStateDType(DType d) {
            return new Config(lr, momentum, weightDecay, d);
        }

        @Override
        public Direction direction() {
            return Direction.GAUSSIAN;
        }

        @Override
        public ZoOptimizer reference(NoiseLayout layout) {
            return new ZoSgdMomentum(this, layout);
        }

        @Override
        public DeviceRule deviceRule() {
            return RULE;
        }

        @Override
        public float[] deviceScalars(long t, float eta) {
            return new float[] {(float) weightDecay, (float) momentum};
        }
    }

    private final Config config;
    private final float mu;
    private final float lambda;
    private final DType stateDType;
    private final float[][] m;

    public ZoSgdMomentum(Config config, NoiseLayout layout) {
        super(layout, config.lr());
        this.config = config;
        this.mu = (float) config.momentum();
        this.lambda = (float) config.weightDecay();
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
    public float[] state(int vector, int p) {
        if (vector != 0) {
            throw new IllegalArgumentException(name() + " has no state vector " + vector);
        }
        return m[p];
    }

    /** The momentum of tensor p (live view, for tests and checkpoints). */
    public float[] momentum(int p) {
        return m[p];
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
        for (int j = 0; j < ghat.length; j++) {
            float gh = decays ? ghat[j] + lambda * theta[j] : ghat[j];
            float mn = mu * mp[j] + gh;
            theta[j] = theta[j] - eta * mn;
            mp[j] = stateDType.round(mn);
        }
    }
}
