package org.zotune.zo.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.NoiseLayout;

class ZoStepBehaviourTest {
    static final NoiseLayout LAYOUT = new NoiseLayout(List.of(
            new ParamSpec("w", new long[] {4, 8}, ParamSpec.Role.MATRIX),
            new ParamSpec("b", new long[] {5}, ParamSpec.Role.BIAS)));

    static float[][] theta(DType dt) {
        float[][] th = {new float[32], new float[5]};
        for (int p = 0; p < 2; p++) {
            for (int j = 0; j < th[p].length; j++) {
                th[p][j] = dt.round((float) Math.sin(1.7 * j + p) * 0.05f + 0.01f * (j + 1));
            }
        }
        return th;
    }

    static float loss(float[][] th) {
        float s = 0;
        for (float[] p : th) {
            for (int j = 0; j < p.length; j++) {
                float d = p[j] - 0.3f;
                s += (1 + 0.1f * j) * d * d;
            }
        }
        return s;
    }

    static final ZoLoss LOSS = (th, b) -> loss(th);

    static List<Function<LrSchedule, ZoOptimizer>> optimizers() {
        return List.of(
                lr -> new ZoSgd(new ZoSgd.Config(lr, 0.1, null), LAYOUT),
                lr -> new ZoSgdMomentum(new ZoSgdMomentum.Config(lr, 0.9, 0.1), LAYOUT),
                lr -> new ZoAdam(new ZoAdam.Config(lr, 0.9, 0.999, 1e-8, 0.1), LAYOUT),
                lr -> new ZoAdaMu(new ZoAdaMu.Config(lr, AdaMuSchedule.defaults(20).withPhases(2, 10, 20), 1e-8, 0.1),
                        LAYOUT));
    }

    @Test
    void scheduleBoundaries() {
        AdaMuSchedule d = AdaMuSchedule.defaults(1000);
        assertEquals(50, d.t1());
        assertEquals(800, d.t2());
        assertEquals(1000, d.t3());
        assertEquals(1024, AdaMuSchedule.defaults(100_000).t1());
        for (long t : new long[] {1, 49, 50}) { // warm-up, and T1 itself where p = 0, cos 0 = 1
            assertEquals(1.0, d.alpha(t), 0);
            assertEquals(1.0, d.beta1(t), 0);
            assertEquals(1.0, d.beta2(t), 0);
        }
        for (long t : new long[] {800, 801, 1000, 5000}) {
            assertEquals(0.5, d.alpha(t), 0);
            assertEquals(0.9, d.beta1(t), 0);
            assertEquals(0.01, d.beta2(t), 0);
        }
        // p = 1/2 at t = 425: α is halfway (φ = 1); β1 (φ = 0.1) is nearly at its end; β2 (φ = 1.5) past halfway
        assertEquals(0.75, d.alpha(425), 1e-12);
        assertEquals(0.9 + 0.1 * 0.5 * (1 + Math.cos(Math.PI * Math.pow(0.5, 0.1))), d.beta1(425), 1e-12);
        assertTrue(d.beta1(425) < 0.902);
        assertEquals(0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * Math.pow(0.5, 1.5))), d.beta2(425), 1e-12);
        assertTrue(d.beta2(799) < 0.0101 && d.beta2(799) > 0.01);
        // monotone decrease through phase 2
        for (long t = 51; t < 800; t++) {
            assertTrue(d.alpha(t) <= d.alpha(t - 1) && d.beta1(t) <= d.beta1(t - 1) && d.beta2(t) <= d.beta2(t - 1));
        }
        // tiny runs: T1 >= 1 and T2 >= T1
        AdaMuSchedule tiny = AdaMuSchedule.defaults(3);
        assertEquals(1, tiny.t1());
        assertEquals(2, tiny.t2());
    }

    @Test
    void lrSchedules() {
        assertEquals(0.5f, LrSchedule.constant(0.5).at(1000));
        LrSchedule lin = LrSchedule.linear(1.0, 4);
        assertEquals(1.0f, lin.at(1));
        assertEquals(0.25f, lin.at(4));
        assertEquals(0.0f, lin.at(5));
    }

    @Test
    void shadowWithZeroLearningRateLeavesThetaBitwiseUnchanged() {
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (Function<LrSchedule, ZoOptimizer> make : optimizers()) {
                float[][] th = theta(dt);
                float[][] before = theta(dt);
                ZoOptimizer opt = make.apply(LrSchedule.constant(0));
                ZoStep step = new ZoStep(ZoStep.Config.of(1e-2, 5).withParamDType(dt), opt, th);
                for (int k = 0; k < 12; k++) {
                    step.step(LOSS);
                }
                for (int p = 0; p < 2; p++) {
                    for (int j = 0; j < th[p].length; j++) {
                        assertEquals(Float.floatToRawIntBits(before[p][j]), Float.floatToRawIntBits(th[p][j]),
                                opt.name() + " " + dt + " tensor " + p + " element " + j);
                    }
                }
            }
        }
    }

    @Test
    void inPlaceDriftsInBf16WhereShadowDoesNot() {
        // MeZO's θ+εu, θ-2εu, θ+εu in bf16 rounds after each move: with lr 0, θ still changes
        float[][] th = theta(DType.BF16);
        float[][] before = theta(DType.BF16);
        ZoStep step = new ZoStep(ZoStep.Config.of(1e-2, 5).withParamDType(DType.BF16)
                .withStrategy(PerturbationStrategy.IN_PLACE),
                new ZoSgd(new ZoSgd.Config(LrSchedule.constant(0)), LAYOUT), th);
        for (int k = 0; k < 12; k++) {
            step.step(LOSS);
        }
        int changed = 0;
        for (int p = 0; p < 2; p++) {
            for (int j = 0; j < th[p].length; j++) {
                changed += before[p][j] != th[p][j] ? 1 : 0;
            }
        }
        assertTrue(changed > 0, "in-place bf16 drift expected");
    }

    private static List<Float> run(Function<LrSchedule, ZoOptimizer> make, long seed, PerturbationStrategy s, DType dt) {
        float[][] th = theta(dt);
        ZoStep step = new ZoStep(ZoStep.Config.of(1e-3, seed).withStrategy(s).withParamDType(dt),
                make.apply(LrSchedule.constant(1e-3)), th);
        List<Float> losses = new ArrayList<>();
        for (int k = 0; k < 20; k++) {
            ZoStep.Result r = step.step(LOSS);
            losses.add(r.lossPlus()[0]);
            losses.add(r.lossMinus()[0]);
        }
        return losses;
    }

    @Test
    void sameSeedGivesIdenticalLosses() {
        for (Function<LrSchedule, ZoOptimizer> make : optimizers()) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                    List<Float> a = run(make, 77, s, dt);
                    assertEquals(a, run(make, 77, s, dt)); // Float.equals compares bits
                    assertNotEquals(a, run(make, 78, s, dt));
                }
            }
        }
    }

    @Test
    void lossDecreases() {
        for (Function<LrSchedule, ZoOptimizer> make : optimizers()) {
            float[][] th = theta(DType.F32);
            ZoOptimizer opt = make.apply(LrSchedule.constant(opt0(make)));
            ZoStep step = new ZoStep(ZoStep.Config.of(1e-3, 3), opt, th);
            float first = loss(th);
            for (int k = 0; k < 300; k++) {
                step.step(LOSS);
            }
            assertTrue(loss(th) < 0.5f * first, opt.name() + ": " + first + " -> " + loss(th));
        }
    }

    private static double opt0(Function<LrSchedule, ZoOptimizer> make) {
        String name = make.apply(LrSchedule.constant(0)).name();
        // ZO-AdaMU's step is η·g times an O(1) (up to ~β1/sqrt(β2_end) = 9) factor per element: smaller η
        return name.equals("zo-adam") ? 1e-2 : 1e-3;
    }

    @Test
    void nonFiniteLossesSkipAndThenStop() {
        for (PerturbationStrategy s : PerturbationStrategy.values()) {
            float[][] th = theta(DType.F32);
            ZoAdam opt = new ZoAdam(new ZoAdam.Config(LrSchedule.constant(0.01)), LAYOUT);
            ZoStep step = new ZoStep(ZoStep.Config.of(1e-3, 9).withStrategy(s).withMaxBadSteps(3), opt, th);
            int[] calls = {0};
            boolean[] poison = {false};
            ZoLoss loss = (p, b) -> {
                calls[0]++;
                return poison[0] && calls[0] % 2 == 0 ? Float.NaN : loss(p);
            };
            step.step(loss);
            float[][] good = {th[0].clone(), th[1].clone()};
            float[] m = opt.firstMoment(0).clone();
            poison[0] = true;
            ZoStep.Result r = step.step(loss);
            assertTrue(r.skipped());
            assertEquals(1, step.skippedSteps());
            assertArrayEquals(m, opt.firstMoment(0), "optimiser state untouched by a skipped step");
            for (int p = 0; p < 2; p++) {
                for (int j = 0; j < th[p].length; j++) {
                    assertTrue(Float.isFinite(th[p][j]));
                    if (s == PerturbationStrategy.SHADOW) {
                        assertEquals(good[p][j], th[p][j], 0f);
                    } else { // restored up to float32 rounding of θ + εu - 2εu + εu
                        assertEquals(good[p][j], th[p][j], 1e-7f);
                    }
                }
            }
            poison[0] = false;
            assertFalse(step.step(loss).skipped()); // a good step resets the run of bad ones
            poison[0] = true;
            step.step(loss);
            step.step(loss);
            ZotuneException e = assertThrows(ZotuneException.class, () -> step.step(loss));
            assertTrue(e.getMessage().contains("NaN or infinite in 3 steps in a row"), e.getMessage());
            assertEquals(4, step.skippedSteps());
        }
    }

    private static void rejects(String field, Runnable r) {
        ZotuneException e = assertThrows(ZotuneException.class, r::run);
        assertTrue(e.getMessage().contains(field), () -> "message should name " + field + ": " + e.getMessage());
    }

    @Test
    void validationNamesTheField() {
        rejects("eps", () -> ZoStep.Config.of(0, 1));
        rejects("eps", () -> ZoStep.Config.of(-1e-3, 1));
        rejects("eps", () -> ZoStep.Config.of(Double.NaN, 1));
        rejects("q (SPSA samples)", () -> ZoStep.Config.of(1e-3, 1).withSamples(0));
        rejects("microBatches", () -> ZoStep.Config.of(1e-3, 1).withMicroBatches(0));
        rejects("lr", () -> LrSchedule.constant(Double.NaN));
        rejects("lr", () -> LrSchedule.constant(Double.POSITIVE_INFINITY));
        rejects("lr", () -> LrSchedule.constant(-1e-3));
        rejects("T1 (900) > T2 (800)", () -> AdaMuSchedule.defaults(1000).withPhases(900, 800, 1000));
        rejects("T2 (800) > T3 (700)", () -> AdaMuSchedule.defaults(1000).withPhases(10, 800, 700));
        rejects("beta1", () -> new ZoAdam.Config(LrSchedule.constant(1), 1.5, 0.999, 1e-8, 0));
        rejects("beta2", () -> new ZoAdam.Config(LrSchedule.constant(1), 0.9, -0.1, 1e-8, 0));
        rejects("beta2", () -> new ZoAdam.Config(LrSchedule.constant(1), 0.9, Double.NaN, 1e-8, 0));
        rejects("momentum", () -> new ZoSgdMomentum.Config(LrSchedule.constant(1), 1.01, 0));
        rejects("beta1End", () -> new AdaMuSchedule(1, 2, 3, 0.5, 1.2, 0.01, 1, 0.1, 1.5));
        rejects("weightDecay", () -> new ZoSgd.Config(LrSchedule.constant(1), -0.1, null));
        ZoAdaMu adamu = new ZoAdaMu(new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(10)), LAYOUT);
        rejects("q (SPSA samples) must be <= 1", () -> new ZoStep(ZoStep.Config.of(1e-3, 1).withSamples(2), adamu,
                theta(DType.F32)));
        rejects("parameter w has 3 values", () -> new ZoStep(ZoStep.Config.of(1e-3, 1), adamu,
                new float[][] {new float[3], new float[5]}));
    }
}
