package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableSet;
import org.zotune.peft.TrainableStorage;
import org.zotune.peft.WeightRule;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * LoRA forms each adapted weight W' into one slot reused for every adapted weight of a pass ({@link Lora#apply}):
 * safe only if the models use each adapted weight before asking for the next. This checks it for every decoder
 * family with MeZO's targets (q, v; GPT-2's fused c_attn) and with every target, three ways: a one-slot ring over the
 * adapted weights refuses any use of an evicted W'; the slot's logits equal bitwise those of a W' allocated afresh
 * per use; and a forward that asks for two adapted weights before using the first is caught (the check can fail,
 * and the first W' really is overwritten). BERT takes no LoRA yet: its forward is checked to use every matrix before
 * asking for the next, the property its LoRA will need.
 */
class LoraLivenessTest {
    private static final int R = 3;

    private static Batch batch() {
        return Batch.rightPadded(new int[][] {{1, 5, 7, 2, 9}, {3, 4, 6}}, 0);
    }

    /** MeZO's targets and every target the architecture names. */
    private static List<List<String>> targetSets(ModelFamily f) {
        List<String> all = new ArrayList<>(new java.util.TreeSet<>(f.architecture().adapterModules().keySet()));
        return List.of(List.of("q", "v"), all);
    }

    private static Lora lora(CausalLM m, List<String> targets) {
        ModelFamily f = m.config().family();
        return Lora.of(f.architecture(), f.hfModelType(), m.params(), R, 2.0 * R, targets);
    }

    /** A and B both random and non-zero, so every W' differs from its base and from the others. */
    private static List<HostTensor> randomAdapters(Lora l, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : l.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.2 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    /** The same rule with W' allocated afresh per use (the 4-argument op): nothing is shared between weights. */
    private static TrainableSet fresh(Ops ops, CausalLM m, Lora l) {
        Map<Integer, WeightRule> rules = new LinkedHashMap<>();
        float s = l.scale();
        for (int k = 0; k < l.targets().size(); k++) {
            int a = 2 * k;
            int b = 2 * k + 1;
            rules.put(l.targets().get(k).parameter(), (index, base, trained) ->
                    ops.loraWeight(base.weight(index), trained.tensor(b), trained.tensor(a), s));
        }
        return TrainableSet.adapters(m.params(), l.tensors(), rules);
    }

    private static boolean[] adapted(CausalLM m, Lora l) {
        boolean[] mask = new boolean[m.params().size()];
        for (Lora.Target t : l.targets()) {
            mask[t.parameter()] = true;
        }
        return mask;
    }

    @Test
    void everyDecoderUsesEachAdaptedWeightBeforeTheNext() {
        for (CausalLM m : TinyModels.all()) {
            for (List<String> targets : targetSets(m.config().family())) {
                String what = m.config().family() + " " + targets;
                Lora l = lora(m, targets);
                try (CpuOps cpu = new CpuOps(DType.F32);
                     Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 7), DType.F32);
                     Parameters theta = cpu.createParameters(randomAdapters(l, 11), DType.F32);
                     Lora.Applied applied = l.apply(cpu, Lora.Path.MERGE)) {
                    long largest = l.targets().stream().mapToLong(t -> (long) t.out() * t.in()).max().orElseThrow();
                    assertEquals(largest, applied.slotElements(), what + ": one slot, the largest adapted weight");
                    WeightSource slot = TrainableStorage.own(applied.set(), theta).weights(p);
                    WeightSource perUse = TrainableStorage.own(fresh(cpu, m, l), theta).weights(p);
                    float[] expected = cpu.toHost(m.forward(cpu, perUse, batch()));
                    float[] plain = cpu.toHost(m.forward(cpu, p, batch()));
                    assertFalse(java.util.Arrays.equals(expected, plain), what + ": the adapters change the logits");

                    ShadowLivenessTest.Ring ring = new ShadowLivenessTest.Ring(slot, m.params(), 1, 0, adapted(m, l));
                    float[] actual = cpu.toHost(m.forward(new ShadowLivenessTest.CheckingOps(cpu, ring), ring,
                            batch()));
                    assertArrayEquals(expected, actual, 0f, what + ": the slot's logits equal a fresh W' per use");
                    assertEquals(l.targets().size() - 1, ring.dead.size(),
                            what + ": every adapted weight but the last was evicted, none used after");
                }
            }
        }
    }

    @Test
    void askingForTwoAdaptedWeightsBeforeUsingTheFirstIsCaught() {
        CausalLM opt = TinyModels.all().get(1);
        Lora l = lora(opt, List.of("q", "v"));
        int q = l.targets().get(0).parameter();
        int v = l.targets().get(1).parameter();
        try (CpuOps cpu = new CpuOps(DType.F32);
             Parameters p = cpu.createParameters(TinyModels.randomParameters(opt, 7), DType.F32);
             Parameters theta = cpu.createParameters(randomAdapters(l, 11), DType.F32);
             Lora.Applied applied = l.apply(cpu, Lora.Path.MERGE);
             Parameters xs = cpu.createParameters(List.of(HostTensor.ofFloats("x", new float[2 * 8], 2, 8)),
                     DType.F32)) {
            WeightSource slot = TrainableStorage.own(applied.set(), theta).weights(p);
            ShadowLivenessTest.Ring ring = new ShadowLivenessTest.Ring(slot, opt.params(), 1, 0, adapted(opt, l));
            ShadowLivenessTest.CheckingOps checking = new ShadowLivenessTest.CheckingOps(cpu, ring);
            Tensor wq = ring.weight(q);
            float[] qFirst = cpu.toHost(slot.weight(q));
            ring.weight(v);
            Tensor x = xs.weight(0);
            assertThrows(IllegalStateException.class, () -> checking.linear(x, wq, null), "q used after v was formed");
            // and the hazard is real: the slot now holds v's W', which q's view reads
            Tensor qView = slot.weight(q);
            slot.weight(v);
            assertFalse(java.util.Arrays.equals(qFirst, cpu.toHost(qView)), "q's view was overwritten by v");
        }
    }

    @Test
    void bertUsesEveryMatrixBeforeAskingForTheNext() {
        ModelConfig c = new ModelConfig(ModelFamily.BERT, 40, 8, 2, 2, 2, 4, 16, 16, 1e-12,
                ModelConfig.Activation.GELU, true, false, false, 8, 0, null, true, true, -1, -1, 0,
                new ModelConfig.Encoder(2, 0, true));
        LanguageModel bert = Architectures.createModel(c);
        Random r = new Random(3);
        List<HostTensor> weights = new ArrayList<>();
        for (ParamSpec s : bert.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.3 * r.nextGaussian());
            }
            weights.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        try (CpuOps cpu = new CpuOps(DType.F32); Parameters p = cpu.createParameters(weights, DType.F32)) {
            float[] expected = cpu.toHost(bert.forward(cpu, p, batch()));
            boolean[] matrices = new boolean[bert.params().size()];
            for (int i = 0; i < matrices.length; i++) {
                matrices[i] = !ShadowWeights.isVector(bert.params().get(i));
            }
            ShadowLivenessTest.Ring ring = new ShadowLivenessTest.Ring(p, bert.params(), 1, 0, matrices);
            float[] actual = cpu.toHost(bert.forward(new ShadowLivenessTest.CheckingOps(cpu, ring), ring, batch()));
            assertArrayEquals(expected, actual, 0f, "BERT: same logits through a one-matrix ring");
            assertTrue(ring.dead.size() > 10, "BERT: the ring did evict matrices (" + ring.dead.size() + ")");
        }
    }
}
