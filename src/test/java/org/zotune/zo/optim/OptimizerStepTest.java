package org.zotune.zo.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/**
 * One or a few steps of each optimiser on a tiny θ (a 3-element matrix that decays, a 2-element bias that
 * does not), checked against the formulas of ALGORITHMS.md worked out here from the Noise values.
 */
class OptimizerStepTest {
    static final long MASTER = 20240607L;
    static final float EPS = 1e-3f;
    // matrix "w" at global offsets 0..2, bias "b" at 4..5 (offsets rounded up to 4)
    static final NoiseLayout LAYOUT = new NoiseLayout(List.of(
            new ParamSpec("w", new long[] {3}, ParamSpec.Role.MATRIX),
            new ParamSpec("b", new long[] {2}, ParamSpec.Role.BIAS)));
    static final long[] GLOBAL = {0, 1, 2, 4, 5};
    static final boolean[] DECAYS = {true, true, true, false, false};
    static final float[] A = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f};
    static final float[] C = {0.25f, -0.5f, 1.0f, 0.75f, -1.0f};

    /** L(θ) = Σ a_i (θ_i - c_i)² over the flattened (w, b), in float32. */
    static float quad(float[] flat) {
        float s = 0f;
        for (int i = 0; i < flat.length; i++) {
            float d = flat[i] - C[i];
            s += A[i] * d * d;
        }
        return s;
    }

    static final ZoLoss LOSS = (th, mb) -> quad(flatten(th));

    static float[] flatten(float[][] th) {
        return new float[] {th[0][0], th[0][1], th[0][2], th[1][0], th[1][1]};
    }

    static float[][] theta0() {
        return new float[][] {{0.5f, -1.25f, 2.0f}, {0.125f, 0.4f}};
    }

    static float[] noise(long seed, int stream) {
        float[] n = new float[GLOBAL.length];
        for (int i = 0; i < n.length; i++) {
            n[i] = Noise.gaussian(seed, stream, GLOBAL[i]);
        }
        return n;
    }

    static float[] plus(float[] th, float[] u, float s) {
        float[] o = new float[th.length];
        for (int i = 0; i < th.length; i++) {
            o[i] = th[i] + s * EPS * u[i];
        }
        return o;
    }

    /** g = (L(θ + εu) - L(θ - εu)) / (2ε). */
    static float projected(float[] th, float[] u) {
        return (quad(plus(th, u, 1)) - quad(plus(th, u, -1))) / (2 * EPS);
    }

    static void assertClose(float[] want, float[][] got, String what) {
        float[] g = flatten(got);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], g[i], 1e-6f + 1e-6f * Math.abs(want[i]), what + " element " + i);
        }
    }

    @Test
    void zoSgdWithWeightDecayMask() {
        float lr = 0.01f;
        float lambda = 0.1f;
        float[][] th = theta0();
        ZoStep step = new ZoStep(ZoStep.Config.of(EPS, MASTER),
                new ZoSgd(new ZoSgd.Config(LrSchedule.constant(lr), lambda, Noise.Distribution.GAUSSIAN), LAYOUT), th);
        ZoStep.Result r = step.step(LOSS);

        float[] t0 = flatten(theta0());
        float[] n = noise(Noise.stepSeed(MASTER, 1), 0);
        float g = projected(t0, n);
        assertEquals(g, r.projectedGradient()[0], 1e-6f * Math.abs(g));
        float[] want = new float[5];
        for (int i = 0; i < 5; i++) {
            want[i] = t0[i] - lr * (g * n[i] + (DECAYS[i] ? lambda * t0[i] : 0f));
        }
        assertClose(want, th, "zo-sgd");
    }

    @Test
    void zoSgdRademacher() {
        float lr = 0.01f;
        float[][] th = theta0();
        new ZoStep(ZoStep.Config.of(EPS, MASTER),
                new ZoSgd(new ZoSgd.Config(LrSchedule.constant(lr), 0, Noise.Distribution.RADEMACHER), LAYOUT), th)
                .step(LOSS);
        long s = Noise.stepSeed(MASTER, 1);
        float[] t0 = flatten(theta0());
        float[] u = new float[5];
        for (int i = 0; i < 5; i++) {
            u[i] = Noise.word(s, 0, GLOBAL[i]) < 0 ? -1f : 1f;
        }
        float g = projected(t0, u);
        float[] want = new float[5];
        for (int i = 0; i < 5; i++) {
            want[i] = t0[i] - lr * g * u[i];
        }
        assertClose(want, th, "zo-sgd rademacher");
    }

    @Test
    void zoSgdTwoSamplesAndMicroBatches() {
        float lr = 0.02f;
        float[][] th = theta0();
        // micro-batch b scales the loss by (1 + b): ℓ± = mean over the two micro-batches
        ZoLoss loss = (p, mb) -> (1 + mb) * quad(flatten(p));
        new ZoStep(ZoStep.Config.of(EPS, MASTER).withSamples(2).withMicroBatches(2),
                new ZoSgd(new ZoSgd.Config(LrSchedule.constant(lr)), LAYOUT), th).step(loss);
        long s = Noise.stepSeed(MASTER, 1);
        float[] t0 = flatten(theta0());
        float[] u0 = noise(s, 0);
        float[] u1 = noise(s, 4); // sample 1 -> stream 3 + 1
        float g0 = 1.5f * projected(t0, u0);
        float g1 = 1.5f * projected(t0, u1);
        float[] want = new float[5];
        for (int i = 0; i < 5; i++) {
            want[i] = t0[i] - lr * (g0 * u0[i] + g1 * u1[i]) / 2;
        }
        // the mean of the micro-batch losses rounds differently from 1.5·L: allow a few ulp of g
        float[] got = flatten(th);
        for (int i = 0; i < 5; i++) {
            assertEquals(want[i], got[i], 1e-5f, "element " + i);
        }
    }

    @Test
    void zoSgdMomentumTwoSteps() {
        float lr = 0.01f;
        float mu = 0.9f;
        float[][] th = theta0();
        ZoStep step = new ZoStep(ZoStep.Config.of(EPS, MASTER),
                new ZoSgdMomentum(new ZoSgdMomentum.Config(LrSchedule.constant(lr), mu, 0), LAYOUT), th);
        step.step(LOSS);
        step.step(LOSS);

        float[] t = flatten(theta0());
        float[] m = new float[5];
        for (int k = 1; k <= 2; k++) {
            float[] n = noise(Noise.stepSeed(MASTER, k), 0);
            float g = projected(t, n);
            for (int i = 0; i < 5; i++) {
                m[i] = mu * m[i] + g * n[i];
                t[i] = t[i] - lr * m[i];
            }
        }
        assertClose(t, th, "zo-sgd-mmt");
    }

    @Test
    void zoAdamTwoStepsBiasCorrected() {
        float lr = 0.05f;
        double b1 = 0.9;
        double b2 = 0.999;
        float[][] th = theta0();
        ZoStep step = new ZoStep(ZoStep.Config.of(EPS, MASTER),
                new ZoAdam(new ZoAdam.Config(LrSchedule.constant(lr), b1, b2, 1e-8, 0), LAYOUT), th);
        step.step(LOSS);
        step.step(LOSS);

        float[] t = flatten(theta0());
        double[] m = new double[5];
        double[] v = new double[5];
        for (int k = 1; k <= 2; k++) {
            float[] n = noise(Noise.stepSeed(MASTER, k), 0);
            float g = projected(t, n);
            for (int i = 0; i < 5; i++) {
                double gh = (double) g * n[i];
                m[i] = b1 * m[i] + (1 - b1) * gh;
                v[i] = b2 * v[i] + (1 - b2) * gh * gh;
                double mh = m[i] / (1 - Math.pow(b1, k));
                double vh = v[i] / (1 - Math.pow(b2, k));
                t[i] = (float) (t[i] - lr * mh / (Math.sqrt(vh) + 1e-8));
            }
        }
        float[] got = flatten(th);
        for (int i = 0; i < 5; i++) {
            assertEquals(t[i], got[i], 2e-6f, "zo-adam element " + i);
        }
        // after step 1 Adam moves each coordinate by about lr (sign step): a coarse independent check
        float[][] one = theta0();
        new ZoStep(ZoStep.Config.of(EPS, MASTER),
                new ZoAdam(new ZoAdam.Config(LrSchedule.constant(lr), b1, b2, 1e-8, 0), LAYOUT), one).step(LOSS);
        float[] d0 = flatten(theta0());
        float[] d1 = flatten(one);
        for (int i = 0; i < 5; i++) {
            assertEquals(lr, Math.abs(d1[i] - d0[i]), 1e-5f);
        }
    }

    @Test
    void zoAdaMuThreeStepsThroughTheSchedule() {
        float lr = 0.01f;
        // T1 = 1, T2 = 3: step 1 at p = 0 (all 1), step 2 at p = 1/2, step 3 at the end values
        AdaMuSchedule sched = AdaMuSchedule.defaults(100).withPhases(1, 3, 4);
        float[][] th = theta0();
        ZoAdaMu opt = new ZoAdaMu(new ZoAdaMu.Config(LrSchedule.constant(lr), sched), LAYOUT);
        ZoStep step = new ZoStep(ZoStep.Config.of(EPS, MASTER), opt, th);
        for (int k = 0; k < 3; k++) {
            step.step(LOSS);
        }

        double[] alpha = {1, 0.5 + 0.5 * 0.5 * (1 + Math.cos(Math.PI * 0.5)), 0.5};
        double[] beta1 = {1, 0.9 + 0.1 * 0.5 * (1 + Math.cos(Math.PI * Math.pow(0.5, 0.1))), 0.9};
        double[] beta2 = {1, 0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * Math.pow(0.5, 1.5))), 0.01};
        float[] t = flatten(theta0());
        float[] m = new float[5];
        for (int k = 1; k <= 3; k++) {
            long s = Noise.stepSeed(MASTER, k);
            float[] n0 = noise(s, 0);
            float[] n1 = noise(s, 1);
            float[] zd = new float[5];
            float[] zdd = new float[5];
            float[] u = new float[5];
            for (int i = 0; i < 5; i++) {
                zd[i] = (float) Math.sqrt(alpha[k - 1]) * n0[i];
                zdd[i] = m[i] + (float) Math.sqrt(1 - alpha[k - 1]) * n1[i];
                u[i] = (float) beta1[k - 1] * zd[i] + (float) (1 - beta1[k - 1]) * zdd[i];
            }
            float g = projected(t, u);
            for (int i = 0; i < 5; i++) {
                float v = (float) beta2[k - 1] * zd[i] * zd[i] + (float) (1 - beta2[k - 1]) * zdd[i] * zdd[i];
                t[i] = t[i] - lr * g * u[i] / (float) Math.sqrt(v + 1e-8f);
                m[i] = u[i];
            }
        }
        assertClose(t, th, "zo-adamu");
        assertClose(new float[] {m[0], m[1], m[2], m[3], m[4]},
                new float[][] {opt.momentum(0), opt.momentum(1)}, "zo-adamu momentum");
    }

    @Test
    void inPlaceEqualsShadowInFloat32ToRounding() {
        for (PerturbationStrategy s : PerturbationStrategy.values()) {
            float[][] th = theta0();
            new ZoStep(ZoStep.Config.of(EPS, MASTER).withStrategy(s),
                    new ZoSgd(new ZoSgd.Config(LrSchedule.constant(0.01)), LAYOUT), th).step(LOSS);
            float[] t0 = flatten(theta0());
            float[] n = noise(Noise.stepSeed(MASTER, 1), 0);
            float g = projected(t0, n);
            float[] want = new float[5];
            for (int i = 0; i < 5; i++) {
                want[i] = t0[i] - 0.01f * g * n[i];
            }
            // in place, θ+εu-2εu+εu leaves float32 rounding drift (~1 ulp of θ) and shifts g slightly
            float[] got = flatten(th);
            for (int i = 0; i < 5; i++) {
                assertEquals(want[i], got[i], 1e-5f, s + " element " + i);
            }
        }
    }

    @Test
    void bf16ParametersAreStochasticallyRounded() {
        float[][] th = {{DType.BF16.round(0.5f), DType.BF16.round(-1.25f), DType.BF16.round(2.0f)},
                {DType.BF16.round(0.125f), DType.BF16.round(0.4f)}};
        new ZoStep(ZoStep.Config.of(EPS, MASTER).withParamDType(DType.BF16),
                new ZoSgd(new ZoSgd.Config(LrSchedule.constant(0.01)), LAYOUT), th).step(LOSS);
        for (float[] p : th) {
            for (float x : p) {
                assertEquals(x, DType.BF16.round(x), "every value stays representable in bf16");
            }
        }
    }
}
