package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.FloatBuffer;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.cuda.Cublas;
import org.zotune.cuda.CublasLt;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;

/**
 * What cuBLASLt's epilogues compute, in float32 (so that the function shows, not the rounding): bias + ReLU exactly
 * as max(0, Aᵀ·B + b), and bias + GELU as the tanh approximation GPT-2 uses (gelu_new), which CudaOps relies on for
 * {@code linearGeluTanh}, not the erf form (the two differ by up to ~5e-4 near |x| ≈ 2, far above float32 rounding).
 */
@Tag("gpu")
class CublasLtEpilogueTest {

    @Test
    void epiloguesComputeBiasReluAndTanhGelu() {
        GpuTestSupport.assumeGpu();
        final int m = 96; // outputs (rows of the column-major result), bias length
        final int n = 29;
        final int k = 200;
        Random r = new Random(5);
        float[] a = gaussian(r, k * m, 0.1);
        float[] b = gaussian(r, k * n, 1.0);
        float[] bias = gaussian(r, m, 1.0);
        double[] pre = new double[m * n];
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = bias[i];
                for (int p = 0; p < k; p++) {
                    s += (double) a[p + i * k] * b[p + j * k];
                }
                pre[i + j * m] = s;
            }
        }
        float[] relu;
        float[] gelu;
        float[] plain;
        try (CudaStream stream = CudaStream.create();
             Cublas blas = Cublas.create(stream, Cublas.DEFAULT_WORKSPACE);
             DeviceBuffer da = upload(a, stream);
             DeviceBuffer db = upload(b, stream);
             DeviceBuffer dbias = upload(bias, stream);
             DeviceBuffer dd = DeviceBuffer.allocate(4L * m * n)) {
            CublasLt lt = blas.lt();
            plain = run(lt, CublasLt.Epilogue.BIAS, m, n, k, da, db, dbias, dd, stream);
            relu = run(lt, CublasLt.Epilogue.RELU_BIAS, m, n, k, da, db, dbias, dd, stream);
            gelu = run(lt, CublasLt.Epilogue.GELU_BIAS, m, n, k, da, db, dbias, dd, stream);
        }
        double worstPlain = 0;
        double worstRelu = 0;
        double worstTanh = 0;
        double worstErf = 0;
        double tanhErfGap = 0;
        for (int i = 0; i < pre.length; i++) {
            double x = pre[i];
            worstPlain = Math.max(worstPlain, Math.abs(plain[i] - x));
            worstRelu = Math.max(worstRelu, Math.abs(relu[i] - Math.max(0, x)));
            worstTanh = Math.max(worstTanh, Math.abs(gelu[i] - geluTanh(x)));
            worstErf = Math.max(worstErf, Math.abs(gelu[i] - geluErf(x)));
            tanhErfGap = Math.max(tanhErfGap, Math.abs(geluTanh(x) - geluErf(x)));
        }
        System.out.printf("cuBLASLt f32 epilogues: bias %.2e, relu %.2e, gelu vs tanh form %.2e, vs erf form %.2e "
                + "(the forms differ by up to %.2e on these inputs)%n", worstPlain, worstRelu, worstTanh, worstErf,
                tanhErfGap);
        // float32 accumulation of 200 terms of size ~0.1 · 1: errors ~1e-6
        assertTrue(worstPlain < 2e-5, "bias epilogue: " + worstPlain);
        assertTrue(worstRelu < 2e-5, "relu epilogue: " + worstRelu);
        assertTrue(tanhErfGap > 1e-4, "the inputs must tell the two GELU forms apart: " + tanhErfGap);
        assertTrue(worstTanh < tanhErfGap / 4, "gelu epilogue is " + worstTanh + " from the tanh form and "
                + worstErf + " from the erf form");
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** x·Φ(x), Φ from erf. */
    static double geluErf(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /** erf by its Taylor series for |z| <= 4 (terms below 1e6: ~1e-10 accurate); beyond, ±1 (within 2e-8). */
    private static double erf(double z) {
        if (Math.abs(z) > 4) {
            return Math.signum(z);
        }
        double sum = 0;
        double term = z;
        for (int n = 0; n < 120; n++) {
            sum += term / (2 * n + 1);
            term *= -z * z / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    private static float[] run(CublasLt lt, CublasLt.Epilogue e, int m, int n, int k, DeviceBuffer a, DeviceBuffer b,
                               DeviceBuffer bias, DeviceBuffer d, CudaStream stream) {
        assertTrue(lt.matmulTransA(m, n, k, a.address(), k, b.address(), k, d.address(), m, bias.address(), DType.F32,
                e), "cuBLASLt offers an algorithm for " + e);
        try (PinnedBuffer host = PinnedBuffer.allocate(4L * m * n)) {
            d.copyToHost(0, host.pointer(), 4L * m * n, stream);
            stream.synchronize();
            float[] out = new float[m * n];
            host.slice(0, 4 * m * n).asFloatBuffer().get(out);
            return out;
        }
    }

    private static DeviceBuffer upload(float[] v, CudaStream stream) {
        DeviceBuffer d = DeviceBuffer.allocate(4L * v.length);
        try (PinnedBuffer host = PinnedBuffer.allocate(4L * v.length)) {
            FloatBuffer f = host.slice(0, 4 * v.length).asFloatBuffer();
            f.put(v);
            d.copyFromHost(host.pointer(), 0, 4L * v.length, stream);
            stream.synchronize();
        }
        return d;
    }

    private static float[] gaussian(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (scale * r.nextGaussian());
        }
        return v;
    }
}
