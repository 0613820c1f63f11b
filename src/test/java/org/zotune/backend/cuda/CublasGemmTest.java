package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.cuda.Cublas;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;

/**
 * {@link Cublas#gemm} with 16-bit inputs (f16, bf16) and fp32 accumulation against a double-precision
 * reference, in the layout the linear layers use (A transposed). One output element is built so that a
 * 16-bit accumulator would fail outright: its partial sums alternate between 65536 (past the largest finite
 * f16, 65504) and 0, so only a float32 accumulator returns exactly 0.
 */
@Tag("gpu")
class CublasGemmTest {

    private static short bits(DType t, float v) {
        return t == DType.F16 ? DType.floatToF16(v) : DType.floatToBf16(v);
    }

    private static float value(DType t, short b) {
        return t == DType.F16 ? DType.f16ToFloat(b) : DType.bf16ToFloat(b);
    }

    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16"})
    void sixteenBitInputsAccumulateInFloat32(DType t) {
        GpuTestSupport.assumeGpu();
        final int m = 67;
        final int n = 45;
        final int k = 1031; // C (m×n, column-major) = Aᵀ·B with A stored k×m and B k×n, as CudaOps.linear
        Random r = new Random(31);
        float[] a = new float[k * m];
        float[] b = new float[k * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = t.round((float) r.nextGaussian());
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = t.round((float) r.nextGaussian());
        }
        // C[0, 0]: products +65536, -65536, ... over the first k - 1 terms, then 0
        for (int p = 0; p < k; p++) {
            a[p] = 256f;
            b[p] = p == k - 1 ? 0f : (p % 2 == 0 ? 256f : -256f);
        }
        double[] ref = new double[m * n];
        double[] mag = new double[m * n]; // Σ|a·b|: the scale of the accumulation error
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                double g = 0;
                for (int p = 0; p < k; p++) {
                    double prod = (double) a[p + i * k] * b[p + j * k];
                    s += prod;
                    g += Math.abs(prod);
                }
                ref[i + j * m] = s;
                mag[i + j * m] = g;
            }
        }
        float[] c32;
        float[] c16;
        try (CudaStream stream = CudaStream.create();
             Cublas blas = Cublas.create(stream, Cublas.DEFAULT_WORKSPACE);
             DeviceBuffer da = DeviceBuffer.allocate(2L * a.length);
             DeviceBuffer db = DeviceBuffer.allocate(2L * b.length);
             DeviceBuffer dc32 = DeviceBuffer.allocate(4L * m * n);
             DeviceBuffer dc16 = DeviceBuffer.allocate(2L * m * n);
             PinnedBuffer host = PinnedBuffer.allocate(4L * Math.max(a.length, b.length))) {
            upload(t, a, da, host, stream);
            upload(t, b, db, host, stream);
            blas.gemm(true, false, m, n, k, 1f, da.address(), t, k, db.address(), t, k, 0f, dc32.address(), DType.F32,
                    m);
            blas.gemm(true, false, m, n, k, 1f, da.address(), t, k, db.address(), t, k, 0f, dc16.address(), t, m);
            c32 = new float[m * n];
            dc32.copyToHost(0, host.pointer(), 4L * m * n, stream);
            stream.synchronize();
            host.slice(0, 4 * m * n).asFloatBuffer().get(c32);
            c16 = new float[m * n];
            dc16.copyToHost(0, host.pointer(), 2L * m * n, stream);
            stream.synchronize();
            ByteBuffer bb = host.slice(0, 2 * m * n);
            for (int i = 0; i < c16.length; i++) {
                c16[i] = value(t, bb.getShort(2 * i));
            }
        }
        assertEquals(0f, c32[0], 0f, "C[0,0]: partial sums of ±65536 need a float32 accumulator");
        // float32 accumulation over k = 1031 terms: rounding error well under 2e-5·Σ|a·b| (a 16-bit accumulator
        // errs by about 2^-11 of the partial sums, a hundred times more)
        double worst32 = 0;
        for (int i = 0; i < ref.length; i++) {
            double e32 = Math.abs(c32[i] - ref[i]);
            if (!(e32 <= 2e-5 * mag[i])) {
                fail(t + " inputs, f32 output " + i + ": " + c32[i] + ", reference " + ref[i] + " (Σ|ab| " + mag[i]
                        + ")");
            }
            worst32 = Math.max(worst32, e32 / mag[i]);
        }
        // A 16-bit output is rounded once, and cuBLAS may also round split-K partial sums to it before adding them
        // (reduced-precision reduction, allowed by default as in PyTorch): a few roundings of values of the
        // result's size, so the error norm stays within 8 unit roundoffs of the result's norm.
        double unit = t == DType.F16 ? 0x1p-11 : 0x1p-8;
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = c16[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        double rel16 = Math.sqrt(num / den);
        System.out.printf("cuBLAS %s inputs, k=%d: max |err|/Σ|ab| %.2e (f32 output); ||err||/||ref|| %.2e"
                + " (%s output, unit roundoff %.1e)%n", t, k, worst32, rel16, t, unit);
        if (!(rel16 <= 8 * unit)) {
            fail(t + " output: relative error " + rel16 + " over " + 8 * unit);
        }
    }

    private static void upload(DType t, float[] v, DeviceBuffer dst, PinnedBuffer host, CudaStream stream) {
        ByteBuffer bb = host.slice(0, 2 * v.length);
        for (float x : v) {
            bb.putShort(bits(t, x));
        }
        dst.copyFromHost(host.pointer(), 0, 2L * v.length, stream);
        stream.synchronize(); // the host buffer is refilled next
    }
}
