package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;

/**
 * The shadow strategy materialises each matrix into one scratch slot ({@link ShadowWeights#MATRIX_SLOTS}), so a matrix
 * view is overwritten once another matrix is asked for; each vector (bias, norm weight) has a slot of its own. This
 * checks, for every model family, that no op receives a weight (or a row view of one) after it would have been
 * overwritten. That the check can fail: a ring of fewer vector slots than a model holds vectors at once (the fused
 * residual + norm holds three) is caught.
 */
class ShadowLivenessTest {

    /** A weight handed out by the ring; dead once evicted. Row views share their parent's fate. */
    record Handle(Tensor inner, Handle root, int index) implements Tensor {
        @Override
        public int rows() {
            return inner.rows();
        }

        @Override
        public int cols() {
            return inner.cols();
        }

        @Override
        public DType dtype() {
            return inner.dtype();
        }
    }

    static final class Ring implements WeightSource {
        final WeightSource base;
        final List<ParamSpec> specs;
        final int matrixSlots;
        final int vectorSlots;
        final List<Handle> liveMatrices = new ArrayList<>();
        final List<Handle> liveVectors = new ArrayList<>();
        final Set<Handle> dead = Collections.newSetFromMap(new IdentityHashMap<>());
        final boolean[] tracked; // the parameters that go through the ring; null: all

        Ring(WeightSource base, List<ParamSpec> specs, int matrixSlots, int vectorSlots) {
            this(base, specs, matrixSlots, vectorSlots, null);
        }

        Ring(WeightSource base, List<ParamSpec> specs, int matrixSlots, int vectorSlots, boolean[] tracked) {
            this.base = base;
            this.specs = specs;
            this.matrixSlots = matrixSlots;
            this.vectorSlots = vectorSlots;
            this.tracked = tracked;
        }

        @Override
        public Tensor weight(int index) {
            if (tracked != null && !tracked[index]) {
                return base.weight(index);
            }
            Handle h = new Handle(base.weight(index), null, index);
            boolean vector = ShadowWeights.isVector(specs.get(index));
            List<Handle> live = vector ? liveVectors : liveMatrices;
            live.add(h);
            if (live.size() > (vector ? vectorSlots : matrixSlots)) {
                dead.add(live.remove(0));
            }
            return h;
        }
    }

    /** CPU ops that refuse dead weights: every op that takes a tensor checks it (fused ops included). */
    static final class CheckingOps extends ForwardingOps {
        final Ring ring;

        CheckingOps(Ops ops, Ring ring) {
            super(ops);
            this.ring = ring;
        }

        Tensor in(Tensor t) {
            if (t instanceof Handle h) {
                Handle root = h.root() == null ? h : h.root();
                if (ring.dead.contains(root)) {
                    throw new IllegalStateException("weight " + root.index() + " used after its scratch slot was reused");
                }
                return h.inner();
            }
            return t;
        }

        Tensor opt(Tensor t) {
            return t == null ? null : in(t);
        }

        @Override
        public String name() {
            return "checking";
        }

        @Override
        public Tensor embedding(IntTensor ids, Tensor table) {
            return delegate().embedding(ids, in(table));
        }

        @Override
        public void addInPlace(Tensor x, Tensor y) {
            delegate().addInPlace(in(x), in(y));
        }

        @Override
        public void copy(Tensor dst, Tensor src) {
            delegate().copy(in(dst), in(src));
        }

        @Override
        public Tensor linear(Tensor x, Tensor w, Tensor bias) {
            return delegate().linear(in(x), in(w), opt(bias));
        }

        @Override
        public Tensor logits(Tensor x, Tensor w) {
            return delegate().logits(in(x), in(w));
        }

        @Override
        public Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
            return delegate().linearGeluTanh(in(x), in(w), opt(bias));
        }

        @Override
        public Tensor linearGeluErf(Tensor x, Tensor w, Tensor bias) {
            return delegate().linearGeluErf(in(x), in(w), opt(bias));
        }

        @Override
        public Tensor linearRelu(Tensor x, Tensor w, Tensor bias) {
            return delegate().linearRelu(in(x), in(w), opt(bias));
        }

        @Override
        public void addLinearInPlace(Tensor residual, Tensor x, Tensor w, Tensor bias) {
            delegate().addLinearInPlace(in(residual), in(x), in(w), opt(bias));
        }

        // through this wrapper's own ops (the interface's meaning), so that both matrices' uses are checked
        @Override
        public Tensor addGeluErfMlpLayerNorm(Tensor residual, Tensor x, Tensor up, Tensor upBias,
                                             java.util.function.Supplier<Tensor> down, Tensor downBias,
                                             Tensor normWeight, Tensor normBias, float eps, Tensor out) {
            Tensor h = linearGeluErf(x, up, upBias);
            return addLinearLayerNorm(residual, h, down.get(), downBias, normWeight, normBias, eps, out);
        }

        @Override
        public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                         Tensor normBias, float eps) {
            return delegate().addLinearLayerNorm(in(residual), in(x), in(w), opt(bias), in(normWeight), opt(normBias),
                    eps);
        }

        @Override
        public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                         Tensor normBias, float eps, Tensor out) {
            return delegate().addLinearLayerNorm(in(residual), in(x), in(w), opt(bias), in(normWeight), opt(normBias),
                    eps, opt(out));
        }

        @Override
        public Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                       float eps) {
            return delegate().addLinearRmsNorm(in(residual), in(x), in(w), opt(bias), in(normWeight), eps);
        }

        @Override
        public Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps,
                                       Tensor out) {
            return delegate().addLinearRmsNorm(in(residual), in(x), in(w), opt(bias), in(normWeight), eps, opt(out));
        }

        @Override
        public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
            return delegate().layerNorm(in(x), in(weight), opt(bias), eps);
        }

        @Override
        public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
            return delegate().rmsNorm(in(x), in(weight), eps);
        }

        @Override
        public void geluTanhInPlace(Tensor x) {
            delegate().geluTanhInPlace(in(x));
        }

        @Override
        public void geluErfInPlace(Tensor x) {
            delegate().geluErfInPlace(in(x));
        }

        @Override
        public void tanhInPlace(Tensor x) {
            delegate().tanhInPlace(in(x));
        }

        @Override
        public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s) {
            return delegate().loraWeight(in(w), in(b), in(at), s);
        }

        @Override
        public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot) {
            return delegate().loraWeight(in(w), in(b), in(at), s, in(slot));
        }

        @Override
        public void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y) {
            delegate().loraDelta(in(x), in(at), in(b), s, in(y));
        }

        @Override
        public void reluInPlace(Tensor x) {
            delegate().reluInPlace(in(x));
        }

        @Override
        public Tensor siluMul(Tensor gate, Tensor up) {
            return delegate().siluMul(in(gate), in(up));
        }

        @Override
        public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec s) {
            return delegate().attention(in(q), in(k), in(v), mask, positions, s);
        }

        @Override
        public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec s) {
            return delegate().attentionPacked(in(qkv), opt(bias), mask, positions, s);
        }

        @Override
        public Tensor crossEntropy(Tensor logits, IntTensor targets) {
            return delegate().crossEntropy(in(logits), targets);
        }

        @Override
        public float[] toHost(Tensor t) {
            return delegate().toHost(in(t));
        }

        @Override
        public Tensor rows(Tensor t, int from, int to) {
            if (t instanceof Handle h) {
                in(h); // taking a view of a dead weight is a use too
                return new Handle(delegate().rows(h.inner(), from, to), h.root() == null ? h : h.root(), h.index());
            }
            return delegate().rows(t, from, to);
        }
    }

    private static Batch batch() {
        return Batch.rightPadded(new int[][] {{1, 5, 7, 2, 9}, {3, 4, 6}}, 0);
    }

    @Test
    void everyModelFamilyUsesEachShadowWeightWithinTheRing() {
        for (CausalLM m : TinyModels.all()) {
            try (CpuOps cpu = new CpuOps(DType.F32);
                 Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 7), DType.F32)) {
                float[] expected = cpu.toHost(m.forward(cpu, p, batch()));
                Ring ring = new Ring(p, m.params(), ShadowWeights.MATRIX_SLOTS, Integer.MAX_VALUE); // a slot per vector
                float[] actual = cpu.toHost(m.forward(new CheckingOps(cpu, ring), ring, batch()));
                assertArrayEquals(expected, actual, 0f, m.config().family() + ": same logits through the ring");
                assertTrue(ring.dead.size() > 5,
                        m.config().family() + ": the matrix slot was reused (" + ring.dead.size() + ")");
            }
        }
    }

    @Test
    void theCheckCatchesAVectorRingSmallerThanTheVectorsHeldAtOnce() {
        List<CausalLM> all = TinyModels.all();
        // GPT-2 and OPT (two variants): a projection's bias with the following LayerNorm's weight and bias
        for (CausalLM m : all.subList(0, 3)) {
            assertOverwritten(m, 2, " holds three vectors at once");
        }
        // Llama with biases: a projection's bias with the following RMSNorm's weight
        assertOverwritten(all.get(3), 1, " holds two vectors at once");
        // a bias-free Llama holds one vector at a time: one vector slot would do there
        CausalLM llama = all.get(4);
        try (CpuOps cpu = new CpuOps(DType.F32);
             Parameters p = cpu.createParameters(TinyModels.randomParameters(llama, 7), DType.F32)) {
            Ring ring = new Ring(p, llama.params(), ShadowWeights.MATRIX_SLOTS, 1);
            llama.forward(new CheckingOps(cpu, ring), ring, batch());
        }
    }

    private static void assertOverwritten(CausalLM m, int vectorSlots, String why) {
        try (CpuOps cpu = new CpuOps(DType.F32);
             Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 7), DType.F32)) {
            Ring ring = new Ring(p, m.params(), ShadowWeights.MATRIX_SLOTS, vectorSlots);
            assertThrows(IllegalStateException.class, () -> m.forward(new CheckingOps(cpu, ring), ring, batch()),
                    m.config().family() + why);
        }
    }
}
