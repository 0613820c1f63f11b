package org.zotune.train.config;

import org.zotune.tensor.DType;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.NonNegative;
import org.zotune.train.config.RecordBinder.Positive;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/**
 * The ZO optimiser (key optimizer).
 *
 * @param name        zo-sgd, zo-sgd-mmt, zo-adam or zo-adamu
 * @param lr          the peak learning rate
 * @param schedule    constant or linear (decay to 0 over the run)
 * @param weightDecay λ
 * @param momentum    zo-sgd-mmt's μ
 * @param beta1       zo-adam's β1
 * @param beta2       zo-adam's β2
 * @param epsilon     zo-adam's ε
 * @param sigma       zo-adamu's σ
 * @param noise       zo-sgd's direction distribution: gaussian or rademacher
 * @param t1          zo-adamu phase boundary T1 (default min(1024, 5% of steps))
 * @param t2          zo-adamu T2 (default 80% of steps)
 * @param t3          zo-adamu T3 (default steps)
 * @param stateDtype  storage of the optimiser state m (and v): f32 (default), bf16 or f16; values are
 *                    computed in float32 and rounded to nearest even when stored (zo-sgd has no state)
 */
public record Optimizer(
        @Default("zo-sgd") @Choice(Name.class) String name,
        @NonNegative Double lr,
        @Default("constant") @Choice(Schedule.class) String schedule,
        @Default("0") @NonNegative Double weightDecay,
        @Default("0.9") @NonNegative Double momentum,
        @Default("0.9") @NonNegative Double beta1,
        @Default("0.999") @NonNegative Double beta2,
        @Default("1.0e-8") @Positive Double epsilon,
        @Default("1.0e-8") @Positive Double sigma,
        @Default("gaussian") @Choice(NoiseKind.class) String noise,
        Long t1,
        Long t2,
        Long t3,
        @Default("f32") @Choice(Precision.class) String stateDtype) {

    /** The optimisers (key optimizer.name). */
    public enum Name { ZO_SGD, ZO_SGD_MMT, ZO_ADAM, ZO_ADAMU }

    /** The learning-rate schedules (key optimizer.schedule). */
    public enum Schedule { CONSTANT, LINEAR }

    /** zo-sgd's direction distributions (key optimizer.noise). */
    public enum NoiseKind {
        GAUSSIAN, RADEMACHER;

        public Noise.Distribution distribution() {
            return this == GAUSSIAN ? Noise.Distribution.GAUSSIAN : Noise.Distribution.RADEMACHER;
        }
    }

    public Optimizer {
        if (lr == null) {
            lr = switch (name) {
                case "zo-adamu" -> 1e-4;
                case "zo-adam" -> 1e-4;
                default -> 1e-6;
            };
        }
    }

    public Name kind() {
        return RecordBinder.choice(Name.class, name);
    }

    public Schedule scheduleKind() {
        return RecordBinder.choice(Schedule.class, schedule);
    }

    public NoiseKind noiseKind() {
        return RecordBinder.choice(NoiseKind.class, noise);
    }

    /** The storage type of the optimiser state. */
    public DType stateDType() {
        return RecordBinder.choice(Precision.class, stateDtype).dtype();
    }

    public LrSchedule lrSchedule(long steps) {
        return scheduleKind() == Schedule.LINEAR ? LrSchedule.linear(lr, steps) : LrSchedule.constant(lr);
    }

    /** The optimiser's validated configuration record. */
    public ZoOptimizerConfig referenceConfig(long steps) {
        LrSchedule s = lrSchedule(steps);
        return switch (name) {
            case "zo-sgd" -> new ZoSgd.Config(s, weightDecay, Noise.Distribution.parse(noise));
            case "zo-sgd-mmt" -> new ZoSgdMomentum.Config(s, momentum, weightDecay, stateDType());
            case "zo-adam" -> new ZoAdam.Config(s, beta1, beta2, epsilon, weightDecay, stateDType());
            case "zo-adamu" -> {
                AdaMuSchedule d = AdaMuSchedule.defaults(steps);
                AdaMuSchedule a = d.withPhases(t1 != null ? t1 : d.t1(), t2 != null ? t2 : d.t2(),
                        t3 != null ? t3 : d.t3());
                yield new ZoAdaMu.Config(s, a, sigma, weightDecay, stateDType());
            }
            default -> throw new AssertionError(name);
        };
    }
}
