package org.zotune.model.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.DType;

/**
 * The encoders' q/k/v biases folded into the attention ({@code SelfAttention.Projected} with foldBias, what the GPU
 * runs): on the CPU, through ops that say they fold and add each bias to its own tensor in
 * {@link Ops#attentionBiased}, a tiny BERT's hidden states equal the plain forward's (which adds the biases in the
 * products) to float32 rounding, and every layer took the folded path. A bias passed to the wrong tensor (q's to k,
 * v's dropped) moves the output far beyond that.
 */
class BiasFoldingWiringTest {
    @TempDir
    Path dir;

    /** CPU ops that fold: the biases added on the host to their tensors, then the plain attention. */
    private static final class Folding extends ForwardingOps {
        final AtomicInteger calls = new AtomicInteger();
        private final CpuOps cpu;

        Folding(CpuOps cpu) {
            super(cpu);
            this.cpu = cpu;
        }

        @Override
        public boolean foldsAttentionBias() {
            return true;
        }

        @Override
        public Tensor attentionBiased(Tensor q, Tensor k, Tensor v, Tensor bq, Tensor bk, Tensor bv, IntTensor mask,
                                      IntTensor positions, AttentionSpec spec) {
            calls.incrementAndGet();
            return attention(plus(q, bq), plus(k, bk), plus(v, bv), mask, positions, spec);
        }

        private Tensor plus(Tensor x, Tensor bias) {
            float[] v = toHost(x);
            float[] b = toHost(bias);
            int cols = x.cols();
            assertEquals(cols, b.length, "a bias of " + b.length + " values for " + cols + " columns");
            for (int i = 0; i < v.length; i++) {
                v[i] += b[i % cols];
            }
            return cpu.tensor(v, x.rows(), cols);
        }
    }

    @Test
    void foldedBiasesGiveThePlainForwardsHiddenStates() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 23, true, true);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        Batch batch = Batch.rightPadded(new int[][] {{2, 16, 15, 22, 19, 3}, {2, 18, 3}}, 0);
        try (CpuOps cpu = new CpuOps(); Parameters p = cpu.createParameters(m.parameters(), DType.F32)) {
            float[] plain = cpu.toHost(m.model().hiddenStates(cpu, p, batch, null));
            Folding folding = new Folding(cpu);
            float[] folded = folding.toHost(m.model().hiddenStates(folding, p, batch, null));
            assertEquals(TinyBertFolder.LAYERS, folding.calls.get(), "layers that took the folded path");
            double worst = 0;
            for (int i = 0; i < plain.length; i++) {
                worst = Math.max(worst, Math.abs(plain[i] - folded[i]) / Math.max(1.0, Math.abs(plain[i])));
            }
            System.out.printf("folded q/k/v biases: %d hidden values, worst relative difference %.3e%n",
                    plain.length, worst);
            assertTrue(worst <= 1e-5, "folded vs plain: worst relative difference " + worst);
        }
    }

    /**
     * Prefix tuning's initial keys and values are read from a frozen forward's attentions; through ops that fold the
     * biases that forward calls {@link Ops#attentionBiased}, and the keys and values must be k + bk, v + bv as the
     * plain forward's (the GPU once recorded no layer at all: "the model ran 0 attention layers").
     */
    @Test
    void prefixInitialKeysAndValuesAreThePlainForwardsWhenTheBiasesAreFolded() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 29, true, true);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        try (CpuOps cpu = new CpuOps(); Parameters p = cpu.createParameters(m.parameters(), DType.F32)) {
            org.zotune.peft.Prefix prefix = org.zotune.peft.Prefix.of(m.model().config(), 4, 16);
            java.util.List<org.zotune.tensor.HostTensor> plain = prefix.bind(cpu, m.model(), p, 21).initial();
            Folding folding = new Folding(cpu);
            java.util.List<org.zotune.tensor.HostTensor> folded = prefix.bind(folding, m.model(), p, 21).initial();
            assertEquals(TinyBertFolder.LAYERS, folding.calls.get(), "layers that took the folded path");
            assertEquals(plain.size(), folded.size(), "initial tensors");
            double worst = 0;
            for (int i = 0; i < plain.size(); i++) {
                float[] a = plain.get(i).toFloats();
                float[] b = folded.get(i).toFloats();
                assertEquals(a.length, b.length, plain.get(i).name());
                for (int j = 0; j < a.length; j++) {
                    worst = Math.max(worst, Math.abs(a[j] - b[j]) / Math.max(1.0, Math.abs(a[j])));
                }
            }
            System.out.printf("prefix initial keys/values, folded vs plain: worst relative difference %.3e%n", worst);
            assertTrue(worst <= 1e-5, "folded vs plain: worst relative difference " + worst);
        }
    }
}
