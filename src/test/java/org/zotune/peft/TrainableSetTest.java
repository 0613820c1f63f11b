package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.cuda.ChunkTable;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoStep;

/**
 * Trainable sets and the weight composition: full fine-tuning is exactly the model's parameter order, noise layout
 * and chunk table over its own buffer; a subset keeps the frozen tensors as they are; an adapter (tensors of their
 * own, combined with the frozen base by a rule) trains through ZoStep over its own buffer with the model code and
 * the frozen weights untouched.
 */
class TrainableSetTest {
    private static final CausalLM MODEL = Architectures.create(new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4,
            32, 16, 1e-5, ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1));
    private static final List<ParamSpec> SPECS = MODEL.params();

    private static List<HostTensor> parameters() {
        Random r = new Random(3);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : SPECS) {
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

    private static float loss(Ops ops, WeightSource w, Batch b) {
        return ops.toHost(ops.crossEntropy(MODEL.forward(ops, w, b), ops.ints(NextTokenTargets.of(b))))[0];
    }

    @Test
    void fullFineTuningIsEveryWeightInTheModelsOwnBuffer() {
        TrainableSet set = TrainableSet.full(SPECS);
        assertEquals(SPECS, set.specs());
        assertTrue(set.inModel());
        assertNull(set.modelMask());
        NoiseLayout all = new NoiseLayout(SPECS);
        assertEquals(all.totalElements(), set.layout().totalElements());
        for (int k = 0; k < set.count(); k++) {
            assertEquals(k, set.modelParameter(k));
            assertEquals(all.offset(k), set.layout().offset(k), "noise offset of " + SPECS.get(k).name());
        }
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(parameters(), DType.F32)) {
            TrainableStorage st = TrainableStorage.inModel(set, SPECS, p);
            assertTrue(st.modelBuffer());
            assertSame(p, st.weights(p), "θ as the model sees it is the model's own parameters");
            for (int k = 0; k < set.count(); k++) {
                assertSame(p.weight(k), st.tensor(k));
            }
            long[] offsets = new long[SPECS.size()];
            for (int i = 0; i < offsets.length; i++) {
                offsets[i] = p.offset(i);
            }
            assertEquals(ChunkTable.build(SPECS, offsets, null).chunks(), ChunkTable.of(st).chunks());
        }
    }

    @Test
    void aSubsetFreezesTheRest() {
        boolean[] mask = new boolean[SPECS.size()];
        mask[1] = true;
        mask[4] = true;
        TrainableSet set = TrainableSet.of(SPECS, mask);
        assertEquals(List.of(SPECS.get(1), SPECS.get(4)), set.specs());
        assertArrayEquals(mask, set.modelMask());
        assertNull(set.rule(0));
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(parameters(), DType.F32);
             Parameters other = ops.createParameters(parameters(), DType.F32)) {
            TrainableStorage st = TrainableStorage.inModel(set, SPECS, p);
            assertArrayEquals(mask, st.mask());
            WeightSource w = new ComposedWeights(other, set, st);
            for (int i = 0; i < SPECS.size(); i++) {
                assertSame(mask[i] ? p.weight(i) : other.weight(i), w.weight(i), "parameter " + i);
            }
        }
        ZotuneException e = assertThrows(ZotuneException.class, () -> TrainableSet.of(SPECS, new boolean[2]));
        assertEquals("trainable set: 2 trainable flags for " + SPECS.size() + " parameters", e.getMessage());
    }

    /** An additive adapter on the final norm's bias: W' = W + δ, δ a trainable tensor of its own, zero at first. */
    @Test
    void anAdapterTrainsOverTheFrozenBaseWithoutTouchingIt() {
        int adapted = -1;
        for (int i = 0; i < SPECS.size(); i++) {
            if (SPECS.get(i).role() == ParamSpec.Role.NORM_BIAS) {
                adapted = i; // the last one: the final LayerNorm's bias
            }
        }
        ParamSpec base = SPECS.get(adapted);
        ParamSpec deltaSpec = new ParamSpec("adapter.delta", base.shape(), ParamSpec.Role.BIAS);
        Batch b = batch();
        try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(parameters(), DType.F32);
             Parameters merged = ops.createParameters(List.of(HostTensor.ofFloats("merged",
                     new float[(int) base.numel()], base.shape())), DType.F32)) {
            WeightRule add = (index, w, trained) -> {
                Tensor out = merged.weight(0);
                ops.copy(out, w.weight(index));
                ops.addInPlace(out, trained.tensor(0));
                return out;
            };
            TrainableSet set = TrainableSet.adapters(SPECS, List.of(deltaSpec), Map.of(adapted, add));
            assertFalse(set.inModel());
            assertEquals(List.of(deltaSpec), set.layout().specs());
            List<HostTensor> zero = List.of(HostTensor.ofFloats(deltaSpec.name(), new float[(int) base.numel()],
                    base.shape()));
            float[] frozenBefore = CpuOps.flatValues(frozen).clone();
            try (Parameters theta = ops.createParameters(zero, DType.F32);
                 Parameters shadow = ops.createParameters(zero, DType.F32)) {
                TrainableStorage st = TrainableStorage.own(set, theta);
                TrainableStorage sh = TrainableStorage.own(set, shadow);
                assertEquals(loss(ops, frozen, b), loss(ops, st.weights(frozen), b), "δ = 0: the pretrained model");

                ZoStep.Config c = new ZoStep.Config(1e-2, 1, PerturbationStrategy.SHADOW, 1, 5, DType.F32, 7);
                ZoStep zo = new ZoStep(c, new ZoSgd.Config(LrSchedule.constant(1e-1)).reference(set.layout()),
                        CpuOps.flatValues(theta), st.bufferOffsets(), st.mask(), CpuOps.flatValues(shadow), 0);
                for (int t = 0; t < 3; t++) {
                    ZoStep.Result r = zo.stepFlat((onShadow, mb) ->
                            loss(ops, (onShadow ? sh : st).weights(frozen), b));
                    assertFalse(r.skipped());
                    assertTrue(r.lossPlus()[0] != r.lossMinus()[0], "δ's perturbation reaches the loss");
                }
                assertArrayEquals(frozenBefore, CpuOps.flatValues(frozen), "the frozen weights are untouched");
                float[] delta = ops.toHost(theta.weight(0));
                assertTrue(delta[0] != 0f, "the adapter trained");

                // the composition equals the model on merged weights W + δ
                List<HostTensor> mergedHost = new ArrayList<>(parameters());
                float[] w = mergedHost.get(adapted).toFloats();
                for (int i = 0; i < w.length; i++) {
                    w[i] += delta[i];
                }
                mergedHost.set(adapted, HostTensor.ofFloats(base.name(), w, base.shape()));
                try (Parameters full = ops.createParameters(mergedHost, DType.F32)) {
                    assertEquals(loss(ops, full, b), loss(ops, st.weights(frozen), b));
                }
            }
        }
    }
}
