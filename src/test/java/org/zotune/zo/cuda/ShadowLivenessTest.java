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
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The shadow strategy materialises each weight into a ring of {@link GpuZoEngine#SHADOW_SLOTS} scratch slots, so a
 * weight view is overwritten SHADOW_SLOTS calls of weight() later. This checks, for every model family, that no op
 * receives a weight (or a row view of one) after it would have been overwritten; and that one slot would not do
 * (the models do hold two weights at a time), so the check can fail.
 */
class ShadowLivenessTest {

    /** A weight handed out by the ring; dead once evicted. Row views share their parent's fate. */
    private record Handle(Tensor inner, Handle root, int index) implements Tensor {
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

    private static final class Ring implements WeightSource {
        final WeightSource base;
        final int slots;
        final List<Handle> live = new ArrayList<>();
        final Set<Handle> dead = Collections.newSetFromMap(new IdentityHashMap<>());

        Ring(WeightSource base, int slots) {
            this.base = base;
            this.slots = slots;
        }

        @Override
        public Tensor weight(int index) {
            Handle h = new Handle(base.weight(index), null, index);
            live.add(h);
            if (live.size() > slots) {
                dead.add(live.remove(0));
            }
            return h;
        }
    }

    /** CPU ops that refuse dead weights. */
    private static final class CheckingOps implements Ops {
        final Ops ops;
        final Ring ring;

        CheckingOps(Ops ops, Ring ring) {
            this.ops = ops;
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

        @Override
        public String name() {
            return "checking";
        }

        @Override
        public DType computeType() {
            return ops.computeType();
        }

        @Override
        public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
            return ops.createParameters(tensors, dtype);
        }

        @Override
        public Scope scope() {
            return ops.scope();
        }

        @Override
        public IntTensor ints(int[] values) {
            return ops.ints(values);
        }

        @Override
        public Tensor embedding(IntTensor ids, Tensor table) {
            return ops.embedding(ids, in(table));
        }

        @Override
        public void addInPlace(Tensor x, Tensor y) {
            ops.addInPlace(in(x), in(y));
        }

        @Override
        public Tensor linear(Tensor x, Tensor w, Tensor bias) {
            return ops.linear(in(x), in(w), bias == null ? null : in(bias));
        }

        @Override
        public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
            return ops.layerNorm(in(x), in(weight), bias == null ? null : in(bias), eps);
        }

        @Override
        public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
            return ops.rmsNorm(in(x), in(weight), eps);
        }

        @Override
        public void geluTanhInPlace(Tensor x) {
            ops.geluTanhInPlace(in(x));
        }

        @Override
        public void reluInPlace(Tensor x) {
            ops.reluInPlace(in(x));
        }

        @Override
        public Tensor siluMul(Tensor gate, Tensor up) {
            return ops.siluMul(in(gate), in(up));
        }

        @Override
        public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec s) {
            return ops.attention(in(q), in(k), in(v), mask, positions, s);
        }

        @Override
        public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec s) {
            return ops.attentionPacked(in(qkv), bias == null ? null : in(bias), mask, positions, s);
        }

        @Override
        public Tensor crossEntropy(Tensor logits, IntTensor targets) {
            return ops.crossEntropy(in(logits), targets);
        }

        @Override
        public float[] toHost(Tensor t) {
            return ops.toHost(in(t));
        }

        @Override
        public Tensor rows(Tensor t, int from, int to) {
            if (t instanceof Handle h) {
                in(h); // taking a view of a dead weight is a use too
                return new Handle(ops.rows(h.inner(), from, to), h.root() == null ? h : h.root(), h.index());
            }
            return ops.rows(t, from, to);
        }

        @Override
        public void close() {
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
                Ring ring = new Ring(p, GpuZoEngine.SHADOW_SLOTS);
                float[] actual = cpu.toHost(m.forward(new CheckingOps(cpu, ring), ring, batch()));
                assertArrayEquals(expected, actual, 0f, m.config().family() + ": same logits through the ring");
                assertTrue(ring.dead.size() > 10, m.config().family() + ": the ring did evict weights");
            }
        }
    }

    @Test
    void oneSlotWouldBeOverwrittenWhileInUse() {
        List<CausalLM> all = TinyModels.all();
        for (CausalLM m : all.subList(0, all.size() - 1)) { // GPT-2, OPT (two variants), Llama with biases
            try (CpuOps cpu = new CpuOps(DType.F32);
                 Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 7), DType.F32)) {
                Ring ring = new Ring(p, 1);
                assertThrows(IllegalStateException.class, () -> m.forward(new CheckingOps(cpu, ring), ring, batch()),
                        m.config().family() + " holds two weights at once");
            }
        }
        // a bias-free Llama (RMSNorm has no bias) never holds two: one slot would do there
        CausalLM llama = all.get(all.size() - 1);
        try (CpuOps cpu = new CpuOps(DType.F32);
             Parameters p = cpu.createParameters(TinyModels.randomParameters(llama, 7), DType.F32)) {
            Ring ring = new Ring(p, 1);
            llama.forward(new CheckingOps(cpu, ring), ring, batch());
        }
    }
}
