package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.CpuZoEngine;
import org.zotune.train.ZoEngine;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * LoRA as a trainable set: targets resolved per architecture, a fresh adapter is exactly the base model, the
 * composed forward equals the model on W + (α/r)·B·A merged independently (in double, here), and ZO steps over the
 * adapters change A and B only and resume bitwise.
 */
class LoraTest {
    private static final CausalLM GPT2 = Architectures.create(new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4,
            32, 16, 1e-5, ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1));
    private static final CausalLM LLAMA = Architectures.create(new ModelConfig(ModelFamily.LLAMA, 11, 8, 2, 2, 1, 4,
            16, 32, 1e-6, ModelConfig.Activation.SILU, false, true, true, 8, 500.0, null, true, true, 1, 2, -1));

    private static final Objective LM = Objective.named("lm");

    private static List<HostTensor> parameters(List<ParamSpec> specs, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : specs) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.3 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    private static Batch batch() {
        return Batch.rightPadded(new int[][] {{1, 4, 2, 9, 3, 7}, {5, 0, 8, 6, 10, 2}}, 0);
    }

    private static float loss(Ops ops, CausalLM model, WeightSource w, Batch b) {
        return ops.toHost(ops.crossEntropy(model.forward(ops, w, b), ops.ints(NextTokenTargets.of(b))))[0];
    }

    private static Lora lora(CausalLM model, ModelFamily family, List<String> targets) {
        return Lora.of(family.architecture(), family.hfModelType(), model.params(), 2, 6.0, targets);
    }

    /** W + (α/r)·B·A in double from the tensors as zotune holds them (Aᵀ [in, r], B [out, r]), rounded once. */
    private static List<HostTensor> merged(List<HostTensor> base, Lora lora, List<HostTensor> adapters) {
        List<HostTensor> out = new ArrayList<>(base);
        double s = lora.alpha() / lora.r();
        for (int k = 0; k < lora.targets().size(); k++) {
            Lora.Target g = lora.targets().get(k);
            float[] at = adapters.get(2 * k).toFloats();
            float[] b = adapters.get(2 * k + 1).toFloats();
            HostTensor w = base.get(g.parameter());
            float[] v = w.toFloats();
            for (int o = 0; o < g.out(); o++) {
                for (int i = 0; i < g.in(); i++) {
                    double d = 0;
                    for (int j = 0; j < lora.r(); j++) {
                        d += (double) b[o * lora.r() + j] * at[i * lora.r() + j];
                    }
                    v[o * g.in() + i] = (float) (v[o * g.in() + i] + s * d);
                }
            }
            out.set(g.parameter(), HostTensor.ofFloats(w.name(), v, w.shape()));
        }
        return out;
    }

    private static List<HostTensor> randomAdapters(Lora lora, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : lora.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.2 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    @Test
    void targetsResolvePerArchitecture() {
        Lora g = lora(GPT2, ModelFamily.GPT2, List.of("q", "v"));
        assertEquals(List.of("transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"),
                g.targets().stream().map(Lora.Target::module).toList(), "q and v share GPT-2's fused c_attn");
        assertEquals(List.of("c_attn"), g.targetModules());
        assertEquals(List.of(new ParamSpec("transformer.h.0.attn.c_attn.lora_A.weight", new long[] {8, 2},
                ParamSpec.Role.MATRIX).toString(), new ParamSpec("transformer.h.0.attn.c_attn.lora_B.weight",
                new long[] {24, 2}, ParamSpec.Role.MATRIX).toString()),
                g.tensors().subList(0, 2).stream().map(ParamSpec::toString).toList());

        Lora l = lora(LLAMA, ModelFamily.LLAMA, List.of("v_proj", "q", "self_attn.o_proj"));
        assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                "model.layers.0.self_attn.o_proj", "model.layers.1.self_attn.q_proj",
                "model.layers.1.self_attn.v_proj", "model.layers.1.self_attn.o_proj"),
                l.targets().stream().map(Lora.Target::module).toList(), "model order, whatever the targets' order");
        assertEquals(List.of("v_proj", "q_proj", "o_proj"), l.targetModules());
        Lora.Target v = l.targets().get(1);
        assertEquals(4, v.out(), "one kv head of 4");
        assertEquals(8, v.in());

        ZotuneException e = assertThrows(ZotuneException.class, () -> lora(LLAMA, ModelFamily.LLAMA, List.of("fc1")));
        assertEquals("key 'peft.targets': unknown target 'fc1' for llama; valid: down, gate, k, o, q, up, v or the "
                + "modules mlp.down_proj, mlp.gate_proj, mlp.up_proj, self_attn.k_proj, self_attn.o_proj, "
                + "self_attn.q_proj, self_attn.v_proj", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Lora.of(ModelFamily.GPT2.architecture(), "gpt2",
                GPT2.params(), 0, 16, List.of("q")));
        assertEquals("key 'peft.r' must be >= 1, got 0", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Lora.of(ModelFamily.GPT2.architecture(), "gpt2",
                GPT2.params(), 8, -1, List.of("q")));
        assertEquals("key 'peft.alpha' must be a finite number > 0, got -1.0", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Lora.of(ModelFamily.BERT.architecture(), "bert",
                GPT2.params(), 8, 16, List.of("q")));
        assertEquals("key 'peft.targets': the model has no module attention.self.query (bert)", e.getMessage(),
                "BERT's targets (LoraEncoderTest) are not a GPT-2's modules");
    }

    /** PEFT's kaiming_uniform_(a = √5) on A [r, in]: U(−1/√in, 1/√in); B = 0; a function of the seed only. */
    @Test
    void initialAdapterIsKaimingUniformAndZero() {
        Lora l = lora(LLAMA, ModelFamily.LLAMA, List.of("q", "v"));
        List<HostTensor> init = l.initial(42);
        assertEquals(l.tensors().size(), init.size());
        double bound = 1 / Math.sqrt(8);
        float max = 0;
        for (int k = 0; k < init.size(); k += 2) {
            for (float a : init.get(k).toFloats()) {
                assertTrue(Math.abs(a) < bound, "A within ±1/√in: " + a);
                max = Math.max(max, Math.abs(a));
            }
            for (float b : init.get(k + 1).toFloats()) {
                assertEquals(0f, b);
            }
        }
        assertTrue(max > 0.5 * bound, "A spreads over its range: " + max);
        assertArrayEquals(init.get(0).toFloats(), l.initial(42).get(0).toFloats());
        assertFalse(java.util.Arrays.equals(init.get(0).toFloats(), l.initial(43).get(0).toFloats()));
        assertFalse(java.util.Arrays.equals(init.get(0).toFloats(), init.get(2).toFloats()), "targets differ");
    }

    @Test
    void freshAdapterIsExactlyTheBaseModel() {
        for (CausalLM model : List.of(GPT2, LLAMA)) {
            ModelFamily f = model.config().family();
            Lora l = lora(model, f, List.of("q", "v"));
            try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(parameters(model.params(), 3),
                    DType.F32); Lora.Applied a = l.apply(ops);
                 Parameters theta = ops.createParameters(l.initial(7), DType.F32)) {
                WeightSource w = TrainableStorage.own(a.set(), theta).weights(frozen);
                assertEquals(loss(ops, model, frozen, batch()), loss(ops, model, w, batch()), f + ": B = 0");
            }
        }
    }

    @Test
    void composedForwardEqualsTheModelOnMergedWeights() {
        for (CausalLM model : List.of(GPT2, LLAMA)) {
            ModelFamily f = model.config().family();
            Lora l = lora(model, f, List.of("q", "v", "o", "up"));
            List<HostTensor> base = parameters(model.params(), 5);
            List<HostTensor> adapters = randomAdapters(l, 9);
            try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(base, DType.F32);
                 Lora.Applied a = l.apply(ops); Parameters theta = ops.createParameters(adapters, DType.F32);
                 Parameters merged = ops.createParameters(merged(base, l, adapters), DType.F32)) {
                WeightSource w = TrainableStorage.own(a.set(), theta).weights(frozen);
                float[] got = ops.toHost(model.forward(ops, w, batch()));
                float[] want = ops.toHost(model.forward(ops, merged, batch()));
                float[] plain = ops.toHost(model.forward(ops, frozen, batch()));
                double moved = 0;
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]), f + " logit " + i);
                    moved = Math.max(moved, Math.abs(want[i] - plain[i]));
                }
                assertTrue(moved > 1e-2, f + ": the adapter changes the logits (" + moved + ")");
            }
        }
    }

    private static ZoEngine engine(Lora l, List<HostTensor> base, PerturbationStrategy strategy) {
        ZoOptimizer opt = new ZoAdam.Config(LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 0.0, DType.F32)
                .reference(new NoiseLayout(l.tensors()));
        ZoStep.Config c = new ZoStep.Config(1e-2, 1, strategy, 1, 5, DType.F32, 11);
        return new CpuZoEngine(LLAMA, base, l, LM, opt,
                LrSchedule.constant(1e-2), c);
    }

    @Test
    void zoStepsTrainTheAdaptersOnlyAndResumeBitwise() {
        Lora l = lora(LLAMA, ModelFamily.LLAMA, List.of("q", "v"));
        List<HostTensor> base = parameters(LLAMA.params(), 5);
        PromptBatch pb = PromptBatch.ofChunks(List.of(new int[] {1, 4, 2, 9, 3, 7}, new int[] {5, 3, 8, 6, 10, 2}), 0);
        List<PromptBatch> mb = List.of(pb);
        for (PerturbationStrategy strategy : PerturbationStrategy.values()) {
            List<HostTensor> after;
            float[] losses = new float[4];
            try (ZoEngine e = engine(l, base, strategy)) {
                float before = e.evaluate((ops, m, w) -> LM.loss(ops, LLAMA, w, pb));
                try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(base, DType.F32)) {
                    assertEquals(LM.loss(ops, LLAMA, frozen, pb), before, "step 0 is the base model");
                }
                for (int t = 0; t < 4; t++) {
                    ZoEngine.StepResult r = e.step(mb);
                    losses[t] = r.loss();
                }
                after = e.exportParameters();
                assertEquals(l.tensors().size(), after.size(), "the engine's θ is the adapters");
                List<HostTensor> init = l.initial(11);
                for (int k = 0; k < after.size(); k++) {
                    assertFalse(java.util.Arrays.equals(init.get(k).toFloats(), after.get(k).toFloats()),
                            strategy + ": " + after.get(k).name() + " trained");
                }
                // the engine's composed forward is the one over the untouched base and the trained adapters
                float trained = e.evaluate((ops, m, w) -> {
                    java.util.Set<Integer> adapted = new java.util.HashSet<>();
                    l.targets().forEach(g -> adapted.add(g.parameter()));
                    for (int p = 0; p < LLAMA.params().size(); p++) {
                        if (!adapted.contains(p)) {
                            assertArrayEquals(base.get(p).toFloats(), ops.toHost(w.weight(p)), "frozen " + p);
                        }
                    }
                    return LM.loss(ops, LLAMA, w, pb);
                });
                try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(base, DType.F32);
                     Lora.Applied a = l.apply(ops); Parameters theta = ops.createParameters(after, DType.F32)) {
                    assertEquals(LM.loss(ops, LLAMA, TrainableStorage.own(a.set(), theta).weights(frozen), pb),
                            trained, strategy + ": base bitwise unchanged");
                }
            }
            // resume after 2 steps: the same adapters and losses bit for bit
            ZoEngine.State mid;
            try (ZoEngine e = engine(l, base, strategy)) {
                e.step(mb);
                e.step(mb);
                mid = e.state();
            }
            try (ZoEngine e = engine(l, base, strategy)) {
                e.restore(mid);
                assertEquals(losses[2], e.step(mb).loss());
                assertEquals(losses[3], e.step(mb).loss());
                List<HostTensor> resumed = e.exportParameters();
                for (int k = 0; k < after.size(); k++) {
                    assertArrayEquals(after.get(k).toFloats(), resumed.get(k).toFloats(), after.get(k).name());
                }
                long state = mid.optimizerState().stream().mapToLong(HostTensor::numel).sum();
                assertEquals(2 * new NoiseLayout(l.tensors()).totalElements(), state,
                        "ZO-Adam's m and v, over the adapters only");
            }
        }
    }

    /** PEFT's layout: A back to [r, in] (element [j, i] = Aᵀ[i, j]), B as is, names under base_model.model. */
    @Test
    void peftTensorsHavePeftNamesAndLayouts() {
        Lora l = lora(GPT2, ModelFamily.GPT2, List.of("q", "fc2"));
        List<HostTensor> ours = randomAdapters(l, 4);
        List<HostTensor> peft = l.toPeft(ours);
        assertEquals(List.of("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
                "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
                "base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight",
                "base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight"),
                peft.subList(0, 4).stream().map(HostTensor::name).toList());
        assertArrayEquals(new long[] {2, 32}, peft.get(2).shape(), "c_proj's A [r, in = inner 32]");
        assertArrayEquals(new long[] {8, 2}, peft.get(3).shape(), "c_proj's B [out = 8, r]");
        float[] at = ours.get(2).toFloats();
        float[] a = peft.get(2).toFloats();
        for (int i = 0; i < 32; i++) {
            for (int j = 0; j < 2; j++) {
                assertEquals(at[i * 2 + j], a[j * 32 + i]);
            }
        }
        assertArrayEquals(ours.get(3).toFloats(), peft.get(3).toFloats());
    }
}
