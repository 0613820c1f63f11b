package org.zotune.zo.optim;

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
    public record Config(LrSchedule lr, double momentum, double weightDecay, DType stateDType) {
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
    public String name() {
        return "zo-sgd-mmt";
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
