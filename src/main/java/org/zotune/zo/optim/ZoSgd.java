package org.zotune.zo.optim;

import java.util.List;
import org.zotune.tensor.DType;
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
    public record Config(LrSchedule lr, double weightDecay, Noise.Distribution noise) implements ZoOptimizerConfig {
        private static final DeviceRule RULE = new DeviceRule("sgd", "SgdParams", List.of("lambda"));

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

        /** Linear decay over 10 steps, λ = 0.1, Gaussian. */
        public static Config example() {
            return new Config(LrSchedule.linear(2e-2, 10), 0.1, Noise.Distribution.GAUSSIAN);
        }

        @Override
        public String name() {
            return "zo-sgd";
        }

        @Override
        public List<String> stateVectors() {
            return List.of();
        }

        @Override
        public DType stateDType() {
            return DType.F32;
        }

        @Override
        public Config withStateDType(DType d) {
            return this;
        }

        @Override
        public Direction direction() {
            return noise == Noise.Distribution.RADEMACHER ? Direction.RADEMACHER : Direction.GAUSSIAN;
        }

        @Override
        public ZoOptimizer reference(NoiseLayout layout) {
            return new ZoSgd(this, layout);
        }

        @Override
        public DeviceRule deviceRule() {
            return RULE;
        }

        @Override
        public float[] deviceScalars(long t, float eta) {
            return new float[] {(float) weightDecay};
        }
    }

    private final Config config;
    private final float lambda;

    public ZoSgd(Config config, NoiseLayout layout) {
        super(layout, config.lr());
        this.config = config;
        this.lambda = (float) config.weightDecay();
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
