package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;

/**
 * LoRA's two paths on the CPU reference, for every decoder family with MeZO's targets (q, v; GPT-2's c_attn) and
 * with every target: the merge path (W' formed per use) and the skinny path (y += s·(x·Aᵀ)·Bᵀ on q, k, v outputs,
 * merge elsewhere) give the loss of an independent definition, the model run on weights merged here in double
 * (W + s·B·A per element), within 1e-5 relative in float32 (where the adapters move the loss by over 1e-3) and 2.5e-2
 * in bf16 (bf16 activations through the whole model; observed up to 1.6e-2 on Llama with every target, where both
 * paths are off alike; the paths round differently: the merge path rounds W' to bf16, the skinny path rounds x·Wᵀ
 * then adds the float32 delta), and each other within the same bounds. The skinny path forms no W' for hooked targets (no slot when every target is hooked).
 */
class LoraPathsTest {
    private static final int R = 4;

    private static Batch batch() {
        return Batch.rightPadded(new int[][] {{1, 5, 7, 2, 9, 4}, {3, 4, 6, 8}}, 0);
    }

    private static List<HostTensor> randomAdapters(Lora l, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : l.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.8 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    /** W + s·B·A per adapted weight, summed in double from the PEFT definition (A [r, in] = Aᵀ transposed). */
    private static List<HostTensor> mergedInDouble(CausalLM m, List<HostTensor> base, Lora l, List<HostTensor> ad) {
        List<HostTensor> out = new ArrayList<>(base);
        double s = 2.0 * R / R;
        for (int k = 0; k < l.targets().size(); k++) {
            Lora.Target t = l.targets().get(k);
            float[] at = ad.get(2 * k).toFloats();
            float[] b = ad.get(2 * k + 1).toFloats();
            float[] w = base.get(t.parameter()).toFloats();
            for (int o = 0; o < t.out(); o++) {
                for (int i = 0; i < t.in(); i++) {
                    double d = 0;
                    for (int j = 0; j < R; j++) {
                        d += b[o * R + j] * (double) at[i * R + j];
                    }
                    w[o * t.in() + i] = (float) (w[o * t.in() + i] + s * d);
                }
            }
            out.set(t.parameter(), HostTensor.ofFloats(base.get(t.parameter()).name(), w,
                    m.params().get(t.parameter()).shape()));
        }
        return out;
    }

    private static double loss(CpuOps ops, CausalLM m, WeightSource w) {
        Batch b = batch();
        float[] l = ops.toHost(ops.crossEntropy(m.forward(ops, w, b), ops.ints(NextTokenTargets.of(b))));
        double sum = 0;
        for (float v : l) {
            sum += v;
        }
        return sum;
    }

    @Test
    void mergeAndSkinnyGiveTheMergedModelsLoss() {
        for (CausalLM m : TinyModels.all()) {
            ModelFamily f = m.config().family();
            List<String> all = new ArrayList<>(new TreeSet<>(f.architecture().adapterModules().keySet()));
            for (List<String> targets : List.of(List.of("q", "v"), all)) {
                Lora l = Lora.of(f.architecture(), f.hfModelType(), m.params(), R, 2.0 * R, targets);
                List<HostTensor> base = TinyModels.randomParameters(m, 3);
                List<HostTensor> ad = randomAdapters(l, 5);
                boolean everyHooked = true;
                for (int k = 0; k < l.targets().size(); k++) {
                    everyHooked &= l.skinny(k);
                }
                assertEquals(targets.size() == 2, everyHooked, f + " " + targets + ": q and v are hooked, o/up/down not");
                for (DType dt : List.of(DType.F32, DType.BF16)) {
                    double tol = dt == DType.F32 ? 1e-5 : 2.5e-2;
                    String what = f + " " + targets + " " + dt;
                    try (CpuOps ops = new CpuOps(dt); CpuOps f32 = new CpuOps(DType.F32);
                         Parameters frozen = ops.createParameters(base, dt);
                         Parameters theta = ops.createParameters(ad, DType.F32);
                         Parameters reference = f32.createParameters(mergedInDouble(m, base, l, ad), DType.F32);
                         Parameters plainF32 = f32.createParameters(base, DType.F32);
                         Lora.Applied merge = l.apply(ops, Lora.Path.MERGE);
                         Lora.Applied skinny = l.apply(ops, Lora.Path.SKINNY)) {
                        double want = loss(f32, m, reference);
                        double plain = loss(f32, m, plainF32);
                        double lm = loss(ops, m, TrainableStorage.own(merge.set(), theta).weights(frozen));
                        double ls = loss(ops, m, TrainableStorage.own(skinny.set(), theta).weights(frozen));
                        System.out.printf("LoRA paths %s: loss merged in double %.6f (base %.6f), merge %.6f "
                                + "(rel %.2e), skinny %.6f (rel %.2e), slots %d / %d%n", what, want, plain, lm,
                                Math.abs(lm - want) / Math.abs(want), ls, Math.abs(ls - want) / Math.abs(want),
                                merge.slotElements(), skinny.slotElements());
                        if (dt == DType.F32) {
                            assertTrue(Math.abs(want - plain) > 100 * tol * Math.abs(want),
                                    what + ": the adapters move the loss far beyond the bound");
                        }
                        assertEquals(want, lm, tol * Math.abs(want), what + ": merge path");
                        assertEquals(want, ls, tol * Math.abs(want), what + ": skinny path");
                        assertEquals(lm, ls, tol * Math.abs(want), what + ": the paths agree");
                        if (everyHooked) {
                            assertEquals(0, skinny.slotElements(), what + ": the skinny path forms no W'");
                        }
                    }
                }
            }
        }
    }

    @Test
    void thePathIsAnInternalSwitch() {
        assertEquals(Lora.Path.MERGE, Lora.Path.parse("auto"), "auto is merge until the paths are timed");
        assertEquals(Lora.Path.SKINNY, Lora.Path.parse("skinny"));
        ZotuneException e = assertThrows(ZotuneException.class, () -> Lora.Path.parse("fast"));
        assertEquals("zotune.lora.path: 'fast' is not one of merge, skinny, auto", e.getMessage());
    }
}
