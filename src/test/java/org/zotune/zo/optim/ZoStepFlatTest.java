package org.zotune.zo.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.NoiseLayout;

/**
 * ZoStep over a flat θ: a frozen tensor between trainable ones, a start step t > 0 and replay, against the
 * per-tensor form over the trainable tensors alone, bitwise, for every registered optimiser.
 */
class ZoStepFlatTest {
    // w (32), frozen f (5), b (5): the noise layout covers w and b only
    static final List<ParamSpec> SET = List.of(
            new ParamSpec("w", new long[] {4, 8}, ParamSpec.Role.MATRIX),
            new ParamSpec("f", new long[] {5}, ParamSpec.Role.NORM_WEIGHT),
            new ParamSpec("b", new long[] {5}, ParamSpec.Role.BIAS));
    static final boolean[] TRAIN = {true, false, true};
    static final long[] OFFSETS = {0, 36, 44}; // padded, as a parameter buffer would be
    static final int FLAT = 52;

    static float[] flat(float[][] th, float[] frozen) {
        float[] f = new float[FLAT];
        System.arraycopy(th[0], 0, f, 0, 32);
        System.arraycopy(frozen, 0, f, 36, 5);
        System.arraycopy(th[1], 0, f, 44, 5);
        return f;
    }

    static float flatLoss(float[] v) {
        return ZoStepBehaviourTest.loss(new float[][] {Arrays.copyOfRange(v, 0, 32), Arrays.copyOfRange(v, 44, 49)})
                + 0.5f * v[36] * v[40];
    }

    @Test
    void flatThetaWithAFrozenTensorIsThePerTensorStep() {
        for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                    ZoStep.Config zc = ZoStep.Config.of(1e-2, 5).withStrategy(s).withParamDType(dt);
                    NoiseLayout layout = new NoiseLayout(List.of(SET.get(0), SET.get(2)));
                    float[][] th = ZoStepBehaviourTest.theta(dt);
                    float[] frozen = {0.5f, -0.25f, 1f, 2f, -1f};
                    float[] values = flat(th, frozen);
                    float[] shadow = values.clone();
                    ZoStep ref = new ZoStep(zc, c.reference(layout), th);
                    ZoStep step = new ZoStep(zc, c.reference(layout), values, OFFSETS, TRAIN,
                            s == PerturbationStrategy.SHADOW ? shadow : null, 0);
                    for (int t = 1; t <= 4; t++) {
                        ZoStep.Result a = ref.step((p, b) -> ZoStepBehaviourTest.loss(p) + 0.5f * frozen[0] * frozen[4]);
                        ZoStep.Result r = step.stepFlat((sh, b) -> flatLoss(sh ? shadow : values));
                        String what = c.name() + " " + s + " " + dt + " step " + t;
                        assertArrayEquals(a.lossPlus(), r.lossPlus(), what);
                        assertArrayEquals(a.lossMinus(), r.lossMinus(), what);
                        assertArrayEquals(flat(th, frozen), values, what);
                    }
                    assertEquals(4, step.step());
                }
            }
        }
    }

    @Test
    void aStepThatStartsLaterContinuesBitwiseAndReplayRepeatsIt() {
        for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                ZoStep.Config zc = ZoStep.Config.of(1e-2, 5).withStrategy(s).withParamDType(DType.BF16);
                NoiseLayout layout = new NoiseLayout(List.of(SET.get(0), SET.get(2)));
                float[] frozen = {0.5f, -0.25f, 1f, 2f, -1f};
                float[] start = flat(ZoStepBehaviourTest.theta(DType.BF16), frozen);
                // four steps in one go
                float[] all = start.clone();
                float[] allShadow = all.clone();
                ZoStep once = new ZoStep(zc, c.reference(layout), all, OFFSETS, TRAIN, allShadow, 0);
                float[][] g = new float[4][];
                for (int t = 0; t < 4; t++) {
                    g[t] = once.stepFlat((sh, b) -> flatLoss(sh ? allShadow : all)).projectedGradient();
                }
                // two steps, then a new step object that starts at t = 2 with the same optimiser (its state)
                ZoOptimizer opt = c.reference(layout);
                float[] resumed = start.clone();
                float[] resumedShadow = resumed.clone();
                ZoStep first = new ZoStep(zc, opt, resumed, OFFSETS, TRAIN, resumedShadow, 0);
                for (int t = 0; t < 2; t++) {
                    first.stepFlat((sh, b) -> flatLoss(sh ? resumedShadow : resumed));
                }
                ZoStep second = new ZoStep(zc, opt, resumed, OFFSETS, TRAIN, resumedShadow, 2);
                for (int t = 0; t < 2; t++) {
                    second.stepFlat((sh, b) -> flatLoss(sh ? resumedShadow : resumed));
                }
                assertEquals(4, second.step());
                assertArrayEquals(all, resumed, c.name() + " " + s + ": resumed at t = 2");
                // replay from the recorded g, without a loss
                float[] replayed = start.clone();
                ZoStep replay = new ZoStep(zc, c.reference(layout), replayed, OFFSETS, TRAIN, null, 0);
                for (int t = 0; t < 4; t++) {
                    replay.replay(t + 1, g[t], false);
                }
                assertArrayEquals(all, replayed, c.name() + " " + s + ": replayed");
            }
        }
    }

    @Test
    void theMaskMustMatchTheOptimiser() {
        NoiseLayout all = new NoiseLayout(SET);
        ZoOptimizer opt = ZoSgd.Config.example().reference(all);
        ZotuneException e = assertThrows(ZotuneException.class, () -> new ZoStep(ZoStep.Config.of(1e-3, 1), opt,
                new float[FLAT], OFFSETS, TRAIN, new float[FLAT], 0));
        assertEquals("zo step: 2 trainable tensors for an optimiser over 3", e.getMessage());
        assertThrows(ZotuneException.class, () -> new ZoStep(ZoStep.Config.of(1e-3, 1), opt, new float[FLAT],
                OFFSETS, null, null, 0).stepFlat((sh, b) -> 0f));
    }
}
