package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.cuda.Cublas;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.Tf32Tuner;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The tuned algorithm of the 3xTF32 products' TF32 GEMM ({@link Tf32Tuner}, {@link CudaOptions#tuneProducts}) leaves
 * every bit as cublasGemmEx's default computes it. The tuner checks its candidates on random operands; here its
 * choice runs on OTHER operands, split rows as the engine writes them (hi and lo parts of Gaussians at scales from
 * 1e-3 to 1e3), against the default bit for bit, at the RoBERTa-large shapes of a 32×64 step (q, k, v, o and the
 * FFN's), q|k|v stacked, and a smaller one. Then a random BERT's forward over 512 tokens with tuning on and off: hidden states
 * bitwise equal, and within 1e-4 of the plain-Java forward (its MLPs keep their hidden activations as 3xTF32 splits
 * only: {@link CudaOps#addGeluErfMlpLayerNorm}).
 */
@Tag("gpu")
class TunedProductsGpuTest {
    @Test
    void aChosenAlgorithmComputesTheDefaultsBitsOnOtherOperands() {
        GpuTestSupport.assumeGpu();
        // {m (outputs), n (rows), k3 (3 × inner)}
        int[][] shapes = {{1024, 2048, 3072}, {4096, 2048, 3072}, {1024, 2048, 12288}, {3072, 2048, 3072},
            {384, 600, 768}};
        Random r = new Random(12);
        int chosen = 0;
        try (CudaStream s = CudaStream.create(); Cublas blas = Cublas.create(s, Cublas.DEFAULT_WORKSPACE)) {
            for (int[] sh : shapes) {
                int m = sh[0];
                int n = sh[1];
                int k3 = sh[2];
                Tf32Tuner.Choice c = Tf32Tuner.choose(m, n, k3, k3, k3, m, blas.workspaceBytes());
                String name = m + "x" + n + "x" + k3;
                System.out.println("tf32 product " + name + ": " + Tf32Tuner.report().lines()
                        .filter(l -> l.contains(" " + name + " ")).findFirst().orElse("?"));
                assertTrue(c.note() == null, name + ": tuned without failing: " + c.note());
                assertTrue(c.bitwise() >= 1, name + ": the heuristic's candidates include the default's bits");
                if (!c.chosen()) {
                    continue;
                }
                chosen++;
                try (DeviceBuffer w = DeviceBuffer.allocate(4L * m * k3);
                     DeviceBuffer x = DeviceBuffer.allocate(4L * n * k3);
                     DeviceBuffer want = DeviceBuffer.allocate(4L * m * n);
                     DeviceBuffer got = DeviceBuffer.allocate(4L * m * n)) {
                    upload(w, split(r, m, k3 / 3), s);
                    upload(x, split(r, n, k3 / 3), s);
                    blas.gemmTf32(true, false, m, n, k3, 1f, w.address(), k3, x.address(), k3, 0f, want.address(), m);
                    blas.lt().matmulTf32(m, n, k3, w.address(), k3, x.address(), k3, got.address(), m, c.algo());
                    int[] a = download(want, m * n, s);
                    int[] b = download(got, m * n, s);
                    int differ = 0;
                    for (int i = 0; i < a.length; i++) {
                        differ += a[i] != b[i] ? 1 : 0;
                    }
                    System.out.println(name + ": the chosen algorithm on other operands, " + differ + " of "
                            + a.length + " outputs differ from the default's");
                    assertEquals(0, differ, name + ": outputs that differ from the default's");
                }
            }
        }
        System.out.println(chosen + " of " + shapes.length + " shapes took a tuned algorithm");
    }

    @Test
    void aBertForwardIsBitwiseTheSameWithTuningOnOrOff() {
        GpuTestSupport.assumeGpu();
        ModelConfig c = new ModelConfig(ModelFamily.BERT, 1000, 256, 2, 4, 4, 64, 1024, 128, 1e-12,
                ModelConfig.Activation.GELU, true, false, false, 128, 0.0, null, true, true, -1, -1, 0,
                new ModelConfig.Encoder(2, 0, true));
        LanguageModel lm = Architectures.createModel(c);
        Random r = new Random(13);
        List<HostTensor> host = new ArrayList<>();
        for (ParamSpec p : lm.params()) {
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(4 * p.numel())).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < p.numel(); i++) {
                b.putFloat((int) (4 * i), p.role() == ParamSpec.Role.NORM_WEIGHT ? 1f
                        : (float) (0.05 * r.nextGaussian()));
            }
            host.add(new HostTensor(p.name(), DType.F32, p.shape(), b));
        }
        int[][] seqs = new int[8][64];
        for (int[] q : seqs) {
            for (int j = 0; j < q.length; j++) {
                q[j] = 5 + r.nextInt(990);
            }
        }
        Batch batch = Batch.rightPadded(seqs, 0);
        float[] want;
        try (org.zotune.backend.cpu.CpuOps cpu = new org.zotune.backend.cpu.CpuOps(DType.F32);
             Parameters p = cpu.createParameters(host, DType.F32)) {
            want = cpu.toHost(((EncoderModel) lm).hiddenStates(cpu, p, batch, null));
        }
        float[][] got = new float[2][];
        long tuned = 0;
        long splitOnly = 0;
        for (int on = 0; on < 2; on++) {
            CudaOptions o = CudaOptions.fromSystemProperties().withTuneProducts(on == 1);
            try (CudaOps ops = CudaOps.create(DType.F32, o); Parameters p = ops.createParameters(host, DType.F32);
                 Ops.Scope s = ops.scope()) {
                got[on] = ops.toHost(((EncoderModel) lm).hiddenStates(ops, p, batch, null));
                splitOnly = ops.splitOnlyActivations();
                if (on == 1) {
                    tuned = ops.tunedProducts();
                } else {
                    assertEquals(0, ops.tunedProducts(), "tuning off");
                }
            }
        }
        System.out.println("BERT 512 tokens: " + tuned + " products took a tuned algorithm; " + splitOnly
                + " hidden activations kept as their split only");
        assertEquals(2, splitOnly, "both layers' MLPs keep the hidden activation as its split only");
        GpuTestSupport.assertClose(want, got[1], 1e-4, 1e-4, "hidden states against the plain-Java forward");
        System.out.print(Tf32Tuner.report());
        for (int i = 0; i < got[0].length; i++) {
            assertEquals(Float.floatToRawIntBits(got[0][i]), Float.floatToRawIntBits(got[1][i]), "hidden value " + i);
        }
    }

    /** rows × [lo | hi | hi] of Gaussians at scales from 1e-3 to 1e3, as tf32_split writes X. */
    private static float[] split(Random r, int rows, int k) {
        float[] v = new float[rows * 3 * k];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < k; j++) {
                float x = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
                float hi = Tf32SplitKernels.hi(x);
                v[i * 3 * k + j] = x - hi;
                v[i * 3 * k + k + j] = hi;
                v[i * 3 * k + 2 * k + j] = hi;
            }
        }
        return v;
    }

    private static void upload(DeviceBuffer d, float[] v, CudaStream s) {
        try (FloatPointer h = new FloatPointer(v)) {
            d.copyFromHost(h, 0, 4L * v.length, s);
            s.synchronize();
        }
    }

    private static int[] download(DeviceBuffer d, int n, CudaStream s) {
        try (IntPointer h = new IntPointer(n)) {
            d.copyToHost(0, h, 4L * n, s);
            s.synchronize();
            int[] out = new int[n];
            h.get(out);
            return out;
        }
    }
}
