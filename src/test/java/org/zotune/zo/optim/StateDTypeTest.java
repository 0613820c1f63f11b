package org.zotune.zo.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;

/**
 * Optimiser state stored in bf16 / f16: each step computes in float32 exactly as with float32 state and rounds the
 * new state to nearest even when it stores it. So after the first step (state zero before it) θ is bitwise the
 * float32-state θ and the state is the float32 state rounded; later steps read the rounded state.
 */
class StateDTypeTest {

    private static Object config(String kind, DType state) {
        LrSchedule lr = LrSchedule.constant(1e-2);
        switch (kind) {
            case "mmt": return new ZoSgdMomentum.Config(lr, 0.9, 0.05, state);
            case "adam": return new ZoAdam.Config(lr, 0.9, 0.999, 1e-8, 0.01, state);
            default: return new ZoAdaMu.Config(lr, new AdaMuSchedule(1, 3, 4, 0.5, 0.9, 0.01, 1, 0.1, 1.5), 1e-8, 0.1,
                    state);
        }
    }

    private static ZoOptimizer create(Object c) {
        if (c instanceof ZoSgdMomentum.Config m) {
            return new ZoSgdMomentum(m, OptimizerStepTest.LAYOUT);
        }
        if (c instanceof ZoAdam.Config a) {
            return new ZoAdam(a, OptimizerStepTest.LAYOUT);
        }
        return new ZoAdaMu((ZoAdaMu.Config) c, OptimizerStepTest.LAYOUT);
    }

    private static float[][] states(ZoOptimizer o, int p) {
        if (o instanceof ZoSgdMomentum m) {
            return new float[][] {m.momentum(p)};
        }
        if (o instanceof ZoAdam a) {
            return new float[][] {a.firstMoment(p), a.secondMoment(p)};
        }
        return new float[][] {((ZoAdaMu) o).momentum(p)};
    }

    @Test
    void firstStepEqualsFloat32ThenRoundedState() {
        for (String kind : new String[] {"mmt", "adam", "adamu"}) {
            for (DType low : new DType[] {DType.BF16, DType.F16}) {
                ZoOptimizer ref = create(config(kind, DType.F32));
                ZoOptimizer opt = create(config(kind, low));
                ZoStep a = new ZoStep(ZoStep.Config.of(OptimizerStepTest.EPS, OptimizerStepTest.MASTER), ref,
                        OptimizerStepTest.theta0());
                ZoStep b = new ZoStep(ZoStep.Config.of(OptimizerStepTest.EPS, OptimizerStepTest.MASTER), opt,
                        OptimizerStepTest.theta0());
                a.step(OptimizerStepTest.LOSS);
                b.step(OptimizerStepTest.LOSS);
                for (int p = 0; p < 2; p++) {
                    for (int j = 0; j < a.theta()[p].length; j++) {
                        assertEquals(Float.floatToRawIntBits(a.theta()[p][j]), Float.floatToRawIntBits(b.theta()[p][j]),
                                kind + " " + low + ": θ after step 1, tensor " + p + " element " + j);
                    }
                    float[][] sf = states(ref, p);
                    float[][] sl = states(opt, p);
                    int nonzero = 0;
                    for (int k = 0; k < sf.length; k++) {
                        for (int j = 0; j < sf[k].length; j++) {
                            assertEquals(Float.floatToRawIntBits(low.round(sf[k][j])), Float.floatToRawIntBits(sl[k][j]),
                                    kind + " " + low + ": state " + k + " of tensor " + p + " element " + j);
                            nonzero += sf[k][j] != low.round(sf[k][j]) ? 1 : 0;
                        }
                    }
                    assertTrue(nonzero > 0, kind + " " + low + ": rounding the state changed nothing (a vacuous test)");
                }
                // later steps keep the state representable in the storage type
                b.step(OptimizerStepTest.LOSS);
                b.step(OptimizerStepTest.LOSS);
                for (int p = 0; p < 2; p++) {
                    for (float[] st : states(opt, p)) {
                        for (float x : st) {
                            assertEquals(Float.floatToRawIntBits(low.round(x)), Float.floatToRawIntBits(x),
                                    kind + " " + low + ": stored state " + x + " is not a " + low + " value");
                        }
                    }
                }
            }
        }
    }

    @Test
    void defaultIsFloat32() {
        assertEquals(DType.F32, new ZoAdam.Config(LrSchedule.constant(1)).stateDType());
        assertEquals(DType.F32, new ZoSgdMomentum.Config(LrSchedule.constant(1), 0.9, 0).stateDType());
        assertEquals(DType.F32, new ZoAdaMu.Config(LrSchedule.constant(1), AdaMuSchedule.defaults(10)).stateDType());
        assertEquals(DType.F32, new ZoAdam.Config(LrSchedule.constant(1), 0.9, 0.999, 1e-8, 0, null).stateDType());
    }

    @Test
    void missingLrIsStillOneLine() {
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> new ZoAdam.Config(null, 0.9, 0.999, 1e-8, 0, DType.BF16));
        assertEquals("zo-adam: lr is required", e.getMessage());
    }
}
