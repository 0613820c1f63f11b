package org.zotune.zo.optim;

import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/**
 * ZO-SGD (MeZO, ALGORITHMS.md §3): u = n0 (stream 0; Gaussian, or Rademacher on request). Per element j of
 * tensor p, in float32:
 * <pre>
 *   ĝ = g·u                                  (q samples: the average of §{@link AbstractZoOptimizer#estimate})
 *   d = decays(p) ? ĝ + λ·θ : ĝ              (λθ computed first, then added)
 *   θ = θ - η_t·d                            (η_t·d computed first)
 * </pre>
 * decays(p) = {@code ParamSpec.Role.decays()}: biases and norm weights are not decayed.
 */
public final class ZoSgd extends AbstractZoOptimizer {

    /**
     * @param lr          η_t
     * @param weightDecay λ (>= 0)
     * @param noise       the distribution of u
     */
    public record Config(LrSchedule lr, double weightDecay, Noise.Distribution noise) {
        public Config {
            if (lr == null) {
                throw new org.zotune.ZotuneException("zo-sgd: lr is required");
            }
            Check.finiteNonNegative("zo-sgd", "weightDecay", weightDecay);
            if (noise == null) {
                noise = Noise.Distribution.GAUSSIAN;
            }
        }

        public Config(LrSchedule lr) {
            this(lr, 0.0, Noise.Distribution.GAUSSIAN);
        }
    }

    private final Config config;
    private final float lambda;

    public ZoSgd(Config config, NoiseLayout layout) {
        super(layout, config.lr());
        this.config = config;
        this.lambda = (float) config.weightDecay();
    }

    public Config config() {
        return config;
    }

    @Override
    public String name() {
        return "zo-sgd";
    }

    @Override
    public void direction(int sample, int p, float[] u) {
        noiseDirection(sample, p, u, config.noise());
    }

    @Override
    public void update(float[] g, int p, float[] theta) {
        float[] ghat = estimate(g, p, config.noise());
        boolean decays = layout.spec(p).role().decays();
        for (int j = 0; j < ghat.length; j++) {
            float d = decays ? ghat[j] + lambda * theta[j] : ghat[j];
            theta[j] = theta[j] - eta * d;
        }
    }
}
