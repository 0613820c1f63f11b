package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;
import static org.zotune.backend.cuda.GpuTestSupport.gaussian;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The tiled 16-byte LoRA kernels (lora_weight_v, lora_up_v) against an independent naive definition of the float32
 * arithmetic the scalar kernels specify (d = fma over j in order, from 0, of fl(s·B[o, j])·Aᵀ[i, j], then W' =
 * fl(W + d) rounded once to the dtype; Java's Math.fma and float + are IEEE-exact like CUDA's fmaf and __fadd_rn),
 * BITWISE, and against the scalar kernels bitwise: the same inputs once at 16-byte-aligned addresses (the host picks
 * the vector kernel, checked by {@link ElementwiseKernels#loraVector}) and once as a view one element in (unaligned:
 * the scalar kernel). Also within the usual tolerance of {@link CpuOps}, whose reference sums in double. Shapes: rows
 * 1, 3 and 1600 (a row group of 4 cut short, several sweeps), cols 8, 24 and 4800 (one vector, a partial tile, GPT-2
 * 1.5B's c_attn), ranks 1 and 3 (scalar shared reads) and 4, 8, 16 (float4 reads). Every case prints its name and the
 * number of differing elements and the largest difference.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoraTileKernelsTest {
    private CudaOps f32;
    private CudaOps bf16;
    private CudaOps f16;

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        f32 = CudaOps.create(DType.F32);
        bf16 = CudaOps.create(DType.BF16);
        f16 = CudaOps.create(DType.F16);
        System.out.println("device: " + f32.device());
    }

    @AfterAll
    void close() {
        for (CudaOps o : new CudaOps[] {f32, bf16, f16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    private CudaOps gpu(DType t) {
        switch (t) {
            case F32: return f32;
            case BF16: return bf16;
            default: return f16;
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void loraWeightTiledIsBitwiseTheNaiveDefinitionAndTheScalarKernel(DType t) {
        CudaOps g = gpu(t);
        CpuOps cpu = new CpuOps(t);
        int vec = 16 / t.bytes();
        Random rnd = new Random(81);
        for (int rows : new int[] {1, 3, 1600}) {
            for (int cols : new int[] {8, 24, 4800}) {
                for (int r : new int[] {1, 3, 4, 8, 16}) {
                    String name = "loraWeight " + rows + "x" + cols + " r=" + r + " " + t;
                    float s = 16f / r;
                    float[] w = gaussian(rnd, rows * cols, 1.0);
                    float[] b = gaussian(rnd, rows * r, 1.0);
                    float[] at = gaussian(rnd, cols * r, 1.0 / Math.sqrt(cols));
                    float[] naive = naive(t, w, b, at, s, rows, cols, r);
                    try (Ops.Scope scope = g.scope(); Parameters f = factors(g, b, at, rows, cols, r)) {
                        CudaTensor aligned = (CudaTensor) g.tensor(w, rows, cols);
                        CudaTensor unaligned = oneElementIn(g, w, rows, cols, t);
                        Tensor outV = g.loraWeight(aligned, f.weight(0), f.weight(1), s);
                        Tensor outS = g.loraWeight(unaligned, f.weight(0), f.weight(1), s);
                        // the host's choice for exactly these addresses: W and W' both checked
                        assertTrue(ElementwiseKernels.loraVector(cols, r, vec, aligned.address(),
                                CudaTensors.address(outV)), name + ": aligned inputs take the vector kernel");
                        assertTrue(!ElementwiseKernels.loraVector(cols, r, vec, unaligned.address(),
                                CudaTensors.address(outS)), name + ": the view one element in takes the scalar kernel");
                        float[] tiled = g.toHost(outV);
                        float[] scalar = g.toHost(outS);
                        assertBitwise(naive, scalar, name + " scalar kernel vs naive");
                        assertBitwise(naive, tiled, name + " vector kernel vs naive");
                        assertBitwise(scalar, tiled, name + " vector vs scalar kernel");
                        if (rows * cols <= 24 * 1600) { // the double-summing reference, on the smaller shapes
                            try (Parameters fc = factors(cpu, b, at, rows, cols, r)) {
                                float[] ref = cpu.toHost(cpu.loraWeight(cpu.tensor(w, rows, cols), fc.weight(0),
                                        fc.weight(1), s));
                                assertClose(ref, tiled, t, name + " vs CpuOps");
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * lora_up_v through loraDelta: y aligned (vector) and y one element in (scalar) after the same lora_down, bitwise;
     * with in = 1 lora_down's t is exactly fl(x·Aᵀ) (one product per column, the other lanes add zeros), so the whole
     * y is checked bitwise against the naive definition too; in = 64 against CpuOps within tolerance.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void loraUpTiledIsBitwiseTheScalarKernel(DType t) {
        CudaOps g = gpu(t);
        CpuOps cpu = new CpuOps(t);
        Random rnd = new Random(82);
        for (int n : new int[] {1, 3, 257}) {
            for (int out : new int[] {8, 24, 4800}) {
                for (int r : new int[] {1, 3, 4, 8, 16}) {
                    for (int in : new int[] {1, 64}) {
                        String name = "loraDelta " + n + "x" + in + " -> " + out + " r=" + r + " " + t;
                        float s = 16f / r;
                        float[] x = gaussian(rnd, n * in, 1.0);
                        float[] y = gaussian(rnd, n * out, 1.0);
                        float[] b = gaussian(rnd, out * r, 1.0);
                        float[] at = gaussian(rnd, in * r, 1.0 / Math.sqrt(in));
                        try (Ops.Scope scope = g.scope(); Parameters f = factors(g, b, at, out, in, r)) {
                            Tensor xs = g.tensor(x, n, in);
                            CudaTensor ya = (CudaTensor) g.tensor(y, n, out);
                            CudaTensor yu = oneElementIn(g, y, n, out, t);
                            g.loraDelta(xs, f.weight(1), f.weight(0), s, ya);
                            g.loraDelta(xs, f.weight(1), f.weight(0), s, yu);
                            assertTrue(ElementwiseKernels.loraVector(out, r, 16 / t.bytes(), ya.address())
                                    && !ElementwiseKernels.loraVector(out, r, 16 / t.bytes(), yu.address()),
                                    name + ": y aligned takes lora_up_v, y one element in lora_up");
                            float[] tiled = g.toHost(ya);
                            float[] scalar = g.toHost(yu);
                            assertBitwise(scalar, tiled, name + " vector vs scalar kernel");
                            if (in == 1) {
                                assertBitwise(naiveUp(t, x, y, b, at, s, n, out, r), tiled, name + " vs naive");
                            } else {
                                try (Parameters fc = factors(cpu, b, at, out, in, r)) {
                                    Tensor yc = cpu.tensor(y, n, out);
                                    cpu.loraDelta(cpu.tensor(x, n, in), fc.weight(1), fc.weight(0), s, yc);
                                    assertClose(cpu.toHost(yc), tiled, t == DType.F32 ? 1e-4 : GpuTestSupport.atol(t),
                                            GpuTestSupport.rtol(t), name + " vs CpuOps");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** B [rows, r] then Aᵀ [cols, r], float32. */
    private static Parameters factors(Ops ops, float[] b, float[] at, int rows, int cols, int r) {
        return ops.createParameters(List.of(HostTensor.ofFloats("B", b, rows, r),
                HostTensor.ofFloats("At", at, cols, r)), DType.F32);
    }

    /** The values as a [rows, cols] view one element into a scope tensor: not 16-byte aligned. */
    private static CudaTensor oneElementIn(CudaOps g, float[] v, int rows, int cols, DType t) {
        float[] padded = new float[v.length + 1];
        System.arraycopy(v, 0, padded, 1, v.length);
        CudaTensor whole = (CudaTensor) g.tensor(padded, 1, padded.length);
        return new CudaTensor(whole.address() + t.bytes(), rows, cols, t);
    }

    /** W' by its definition, in float32 then rounded to t; w as the device holds it (rounded to t). */
    private static float[] naive(DType t, float[] w, float[] b, float[] at, float s, int rows, int cols, int r) {
        float[] out = new float[rows * cols];
        for (int o = 0; o < rows; o++) {
            for (int i = 0; i < cols; i++) {
                float d = 0f;
                for (int j = 0; j < r; j++) {
                    d = Math.fma(s * b[o * r + j], at[i * r + j], d);
                }
                out[o * cols + i] = t.round(t.round(w[o * cols + i]) + d);
            }
        }
        return out;
    }

    /** y + s·(x·Aᵀ)·Bᵀ for in = 1: t_j = fl(x·Aᵀ[0, j]), then as {@link #naive} with B scaled. */
    private static float[] naiveUp(DType t, float[] x, float[] y, float[] b, float[] at, float s, int n, int out,
                                   int r) {
        float[] res = new float[n * out];
        for (int row = 0; row < n; row++) {
            float xv = t.round(x[row]);
            for (int o = 0; o < out; o++) {
                float d = 0f;
                for (int j = 0; j < r; j++) {
                    d = Math.fma(s * b[o * r + j], xv * at[j], d);
                }
                res[row * out + o] = t.round(t.round(y[row * out + o]) + d);
            }
        }
        return res;
    }

    private static void assertBitwise(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int differ = 0;
        int first = -1;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                if (first < 0) {
                    first = i;
                }
                differ++;
                worst = Math.max(worst, Math.abs((double) expected[i] - actual[i]));
            }
        }
        System.out.printf("%-60s n=%-8d %d differ, max |diff| %.3e%n", what, expected.length, differ, worst);
        assertEquals(0, differ, what + ": " + differ + " elements differ, the first at " + first
                + (first < 0 ? "" : " (" + actual[first] + ", expected " + expected[first] + ")"));
    }
}
