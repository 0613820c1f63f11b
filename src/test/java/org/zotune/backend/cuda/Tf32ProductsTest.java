package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;
import static org.zotune.backend.cuda.GpuTestSupport.gaussian;

import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/**
 * Float32 products in 3xTF32 (MatrixProducts, tf32_split.cu). The split kernel BITWISE against its plain-Java
 * reference ({@link Tf32SplitKernels#hi}, lo = x − hi in float32; itself checked by Tf32SplitReferenceTest) on awkward
 * shapes: columns that are and are not
 * multiples of 4, strided rows, a start one float in (the scalar kernel), values over float32's whole range with
 * exact TF32 ties, zeros and subnormals. Then X·Wᵀ with the switch on against the plain-Java reference ({@link CpuOps}:
 * double sums rounded once) within float32's tolerance of {@link CudaOpsTest} (1e-5 absolute plus 1e-5 relative),
 * which TF32 alone (10 mantissa bits) misses by two orders; and against SGEMM (the switch off): each one's largest
 * error is printed, and 3xTF32's must stay within 4 times SGEMM's plus 1e-6. Shapes cross the 512-row threshold,
 * the padded LM-head path (an output width not a multiple of 4) and, with the scratch shrunk, the chunk loops over
 * W's and X's rows. Products of an input shared by {@link CudaOps#sharedInput} (q, k and v) are bitwise those that
 * split it themselves. A bias + erf GELU that writes its output's split for the next product: output and products
 * bitwise those with the hand-on switched off, the split taken by the first product after it only.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Tf32ProductsTest {
    private CudaOps x3;
    private CudaOps sgemm;

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        CudaOptions d = CudaOptions.fromSystemProperties();
        x3 = CudaOps.create(DType.F32, d.withGemmF32(true));
        sgemm = CudaOps.create(DType.F32, d.withGemmF32(false));
        System.out.println("device: " + x3.device());
    }

    @AfterAll
    void close() {
        for (CudaOps o : new CudaOps[] {x3, sgemm}) {
            if (o != null) {
                o.close();
            }
        }
    }

    @Test
    void splitIsBitwiseTheJavaReference() {
        Random r = new Random(5);
        int cases = 0;
        try (Ops.Scope s = x3.scope()) {
            for (int rows : new int[] {1, 3, 17}) {
                for (int cols : new int[] {1, 3, 4, 5, 12, 129, 1024}) {
                    for (int pad : new int[] {0, 3, 4}) {
                        for (int offset : new int[] {0, 1}) {
                            int ld = cols + pad;
                            float[] v = values(r, offset + rows * ld);
                            CudaTensor all = (CudaTensor) x3.tensor(v, 1, v.length);
                            CudaTensor x = new CudaTensor(all.address() + (long) offset * Float.BYTES, rows, cols,
                                    DType.F32, ld);
                            for (int lo : new int[] {Tf32SplitKernels.LO_FIRST, Tf32SplitKernels.LO_SECOND}) {
                                float[] out = x3.toHost(x3.tf32SplitRows(x, lo));
                                String name = rows + "x" + cols + " ld " + ld + " offset " + offset + " lo " + lo;
                                assertEquals(rows * 3 * cols, out.length, name);
                                for (int i = 0; i < rows; i++) {
                                    for (int c = 0; c < cols; c++) {
                                        float xv = v[offset + i * ld + c];
                                        float hi = Tf32SplitKernels.hi(xv);
                                        for (int p = 0; p < 3; p++) {
                                            float want = p == lo ? xv - hi : hi;
                                            float got = out[i * 3 * cols + p * cols + c];
                                            if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got)) {
                                                throw new AssertionError(name + ": row " + i + " col " + c + " part "
                                                        + p + " of " + xv + ": " + got + ", reference " + want);
                                            }
                                        }
                                    }
                                }
                                cases++;
                            }
                        }
                    }
                }
            }
        }
        System.out.println("tf32 split: " + cases + " cases bitwise the reference");
    }

    @Test
    void theSwitchAndTheSizesChooseThePath() {
        assertTrue(x3.x3Product(130, 512, 131), "512 rows: 3xTF32");
        assertFalse(x3.x3Product(130, 511, 131), "511 rows: SGEMM");
        assertFalse(x3.x3Product(127, 4096, 1024), "127 outputs: SGEMM");
        assertFalse(x3.x3Product(1024, 4096, 127), "inner size 127: SGEMM");
        assertFalse(sgemm.x3Product(1024, 4096, 1024), "switched off: SGEMM");
    }

    @Test
    void productsAreWithinFloat32ToleranceOfTheReference() {
        Random r = new Random(6);
        CpuOps cpu = new CpuOps(DType.F32);
        // {rows, outputs, inner}: the threshold, an odd inner size (scalar split), the padded path (1001 outputs: a
        // bulk of 1000 in 3xTF32 and one row on SGEMM), a square one
        int[][] shapes = {{512, 130, 131}, {600, 256, 384}, {700, 1001, 160}, {1030, 512, 512}};
        long savedW = MatrixProducts.x3WeightChunk;
        long savedX = MatrixProducts.x3InputChunk;
        try {
            for (boolean chunked : new boolean[] {false, true}) {
                // the second pass: W in chunks of 62 to 128 rows, X of 128 to 384 (every shape has several of each)
                MatrixProducts.x3WeightChunk = chunked ? 3L * 160 * 200 : savedW;
                MatrixProducts.x3InputChunk = chunked ? 3L * 512 * 128 : savedX;
                for (int[] sh : shapes) {
                    int n = sh[0];
                    int m = sh[1];
                    int k = sh[2];
                    String name = n + "x" + k + " · (" + m + "x" + k + ")ᵀ" + (chunked ? ", chunked" : "");
                    assertTrue(x3.x3Product(m - m % 4, n, k), name + ": takes 3xTF32");
                    float[] xv = gaussian(r, n * k, 1.0);
                    float[] wv = gaussian(r, m * k, 0.1);
                    float[] bv = gaussian(r, m, 1.0);
                    float[] want = cpu.toHost(cpu.linear(cpu.tensor(xv, n, k), cpu.tensor(wv, m, k), null));
                    float[] wantB = cpu.toHost(cpu.linear(cpu.tensor(xv, n, k), cpu.tensor(wv, m, k),
                            cpu.tensor(bv, 1, m)));
                    float[] got = linear(x3, xv, wv, null, n, m, k);
                    float[] gotB = linear(x3, xv, wv, bv, n, m, k);
                    float[] base = linear(sgemm, xv, wv, null, n, m, k);
                    double e3 = maxErr(want, got);
                    double es = maxErr(want, base);
                    System.out.printf("%s: max |err| 3xTF32 %.3g, SGEMM %.3g%n", name, e3, es);
                    assertClose(want, got, DType.F32, "3xTF32 " + name);
                    assertClose(wantB, gotB, DType.F32, "3xTF32 + bias " + name);
                    assertTrue(e3 <= 4 * es + 1e-6, name + ": 3xTF32 " + e3 + " against SGEMM " + es);
                }
            }
        } finally {
            MatrixProducts.x3WeightChunk = savedW;
            MatrixProducts.x3InputChunk = savedX;
        }
    }

    @Test
    void productsOfASharedInputAreBitwiseTheUnsharedOnes() {
        Random r = new Random(7);
        int n = 600;
        int k = 384;
        int[] outs = {256, 384, 1001}; // the last through the padded path: a bulk of 1000 in 3xTF32, one row on SGEMM
        float[] xv = gaussian(r, n * k, 1.0);
        float[] yv = gaussian(r, n * k, 1.0);
        float[][] ws = new float[outs.length][];
        for (int i = 0; i < outs.length; i++) {
            ws[i] = gaussian(r, outs[i] * k, 0.1);
        }
        try (Ops.Scope s = x3.scope()) {
            Tensor x = x3.tensor(xv, n, k);
            Tensor y = x3.tensor(yv, n, k);
            float[][] alone = new float[outs.length][];
            for (int i = 0; i < outs.length; i++) {
                alone[i] = x3.toHost(x3.linear(x, x3.tensor(ws[i], outs[i], k), null));
            }
            float[] other = x3.toHost(x3.linear(y, x3.tensor(ws[0], outs[0], k), null));
            try (Ops.Scope shared = x3.sharedInput(x)) {
                assertTrue(x3.sharesInput(), "600 rows of 384 in float32: shared");
                for (int i = 0; i < outs.length; i++) {
                    float[] got = x3.toHost(x3.linear(x, x3.tensor(ws[i], outs[i], k), null));
                    for (int j = 0; j < got.length; j++) {
                        assertEquals(Float.floatToRawIntBits(alone[i][j]), Float.floatToRawIntBits(got[j]),
                                outs[i] + " outputs, element " + j);
                    }
                }
                // another input inside the scope splits itself
                float[] got = x3.toHost(x3.linear(y, x3.tensor(ws[0], outs[0], k), null));
                for (int j = 0; j < got.length; j++) {
                    assertEquals(Float.floatToRawIntBits(other[j]), Float.floatToRawIntBits(got[j]),
                            "another input, element " + j);
                }
            }
            assertFalse(x3.sharesInput(), "closed");
            try (Ops.Scope shared = x3.sharedInput(x3.tensor(java.util.Arrays.copyOf(xv, 511 * k), 511, k))) {
                assertFalse(x3.sharesInput(), "511 rows take SGEMM: nothing to share");
            }
            try (Ops.Scope shared = sgemm.sharedInput(sgemm.tensor(xv, n, k))) {
                assertFalse(sgemm.sharesInput(), "switched off: nothing to share");
            }
        }
    }

    @Test
    void aGeluOutputHandsItsSplitToTheNextProduct() {
        Random r = new Random(9);
        int n = 600;
        int k = 256;
        int f = 512;
        int m = 384;
        float[] xv = gaussian(r, n * k, 1.0);
        float[] w1 = gaussian(r, f * k, 0.1);
        float[] b1 = gaussian(r, f, 0.5);
        float[] w2 = gaussian(r, m * f, 0.1);
        float[] wq = gaussian(r, m * k, 0.1);
        boolean saved = MatrixProducts.producersSplit;
        float[][][] got = new float[2][][];
        long[] taken = new long[2];
        try {
            for (int on = 0; on < 2; on++) {
                MatrixProducts.producersSplit = on == 1;
                long before = x3.offeredSplits();
                try (Ops.Scope s = x3.scope()) {
                    Tensor x = x3.tensor(xv, n, k);
                    Tensor h = x3.linearGeluErf(x, x3.tensor(w1, f, k), x3.tensor(b1, 1, f));
                    Tensor y = x3.linear(h, x3.tensor(w2, m, f), null); // takes h's split
                    Tensor again = x3.linear(h, x3.tensor(w2, m, f), null); // the offer is spent: splits h itself
                    Tensor h2 = x3.linearGeluErf(x, x3.tensor(w1, f, k), x3.tensor(b1, 1, f));
                    Tensor q = x3.linear(x, x3.tensor(wq, m, k), null); // another input: the offer ends unused
                    Tensor y2 = x3.linear(h2, x3.tensor(w2, m, f), null);
                    got[on] = new float[][] {x3.toHost(h), x3.toHost(y), x3.toHost(again), x3.toHost(q),
                        x3.toHost(y2)};
                }
                taken[on] = x3.offeredSplits() - before;
            }
        } finally {
            MatrixProducts.producersSplit = saved;
        }
        assertEquals(0, taken[0], "switched off: no split handed on");
        assertEquals(1, taken[1], "one product took the GELU's split (the first after it); the offer ends with it");
        String[] names = {"GELU output", "product of it", "the product again", "another input's product",
            "product after an unused offer"};
        for (int i = 0; i < names.length; i++) {
            for (int j = 0; j < got[0][i].length; j++) {
                assertEquals(Float.floatToRawIntBits(got[0][i][j]), Float.floatToRawIntBits(got[1][i][j]),
                        names[i] + ", element " + j);
            }
        }
        assertFalse(x3.producerWritesSplit(511, f), "511 rows take SGEMM: no split written");
        assertFalse(sgemm.producerWritesSplit(n, f), "switched off: no split written");
    }

    /**
     * BERT's GELU MLP with its LayerNorm as one op ({@link CudaOps#addGeluErfMlpLayerNorm}): where the down product
     * takes the hidden activation's split whole, only the split is written, and the norm's output and the updated
     * residual are bitwise the two ops' (linearGeluErf, addLinearLayerNorm) and within float32's tolerance of the
     * plain-Java ones; where it does not (258 outputs: a padded product; 511 rows: SGEMM) the op writes the hidden
     * activation and its results are the reference's too.
     */
    @Test
    void aGeluMlpKeepsItsHiddenActivationAsItsSplitOnly() {
        Random r = new Random(11);
        CpuOps cpu = new CpuOps(DType.F32);
        int f = 512;
        for (int[] sh : new int[][] {{600, 256}, {600, 258}, {511, 256}}) {
            int n = sh[0];
            int d = sh[1];
            String name = n + " rows, " + d + " features";
            float[] xv = gaussian(r, n * d, 1.0);
            float[] rv = gaussian(r, n * d, 1.0);
            float[] up = gaussian(r, f * d, 0.1);
            float[] bu = gaussian(r, f, 0.5);
            float[] down = gaussian(r, d * f, 0.1);
            float[] bd = gaussian(r, d, 0.5);
            float[] g = gaussian(r, d, 1.0);
            float[] beta = gaussian(r, d, 0.5);
            Tensor cr = cpu.tensor(rv.clone(), n, d);
            float[] want = cpu.toHost(cpu.addGeluErfMlpLayerNorm(cr, cpu.tensor(xv, n, d), cpu.tensor(up, f, d),
                    cpu.tensor(bu, 1, f), () -> cpu.tensor(down, d, f), cpu.tensor(bd, 1, d), cpu.tensor(g, 1, d),
                    cpu.tensor(beta, 1, d), 1e-5f, null));
            float[] wantResidual = cpu.toHost(cr);
            float[][] got = new float[2][];
            float[][] residual = new float[2][];
            long splitOnly = 0;
            for (int fused = 0; fused < 2; fused++) {
                try (Ops.Scope s = x3.scope()) {
                    Tensor res = x3.tensor(rv.clone(), n, d);
                    Tensor x = x3.tensor(xv, n, d);
                    long before = x3.splitOnlyActivations();
                    Tensor out;
                    if (fused == 1) {
                        out = x3.addGeluErfMlpLayerNorm(res, x, x3.tensor(up, f, d), x3.tensor(bu, 1, f),
                                () -> x3.tensor(down, d, f), x3.tensor(bd, 1, d), x3.tensor(g, 1, d),
                                x3.tensor(beta, 1, d), 1e-5f, null);
                        splitOnly = x3.splitOnlyActivations() - before;
                    } else {
                        Tensor h = x3.linearGeluErf(x, x3.tensor(up, f, d), x3.tensor(bu, 1, f));
                        out = x3.addLinearLayerNorm(res, h, x3.tensor(down, d, f), x3.tensor(bd, 1, d),
                                x3.tensor(g, 1, d), x3.tensor(beta, 1, d), 1e-5f, null);
                        assertEquals(0, x3.splitOnlyActivations() - before, name + ": the two ops write h");
                    }
                    got[fused] = x3.toHost(out);
                    residual[fused] = x3.toHost(res);
                }
            }
            boolean expectSplitOnly = n >= MatrixProducts.X3_MIN_ROWS && d % 4 == 0;
            System.out.printf("%s: %d split-only hidden activations; max |err| of the norm %.3g%n", name, splitOnly,
                    maxErr(want, got[1]));
            assertEquals(expectSplitOnly ? 1 : 0, splitOnly, name + ": hidden activations kept as their split only");
            for (int j = 0; j < got[0].length; j++) {
                assertEquals(Float.floatToRawIntBits(got[0][j]), Float.floatToRawIntBits(got[1][j]),
                        name + ": norm output " + j);
                assertEquals(Float.floatToRawIntBits(residual[0][j]), Float.floatToRawIntBits(residual[1][j]),
                        name + ": residual " + j);
            }
            assertClose(want, got[1], 1e-4, 1e-4, name + ": norm output against the reference");
            assertClose(wantResidual, residual[1], 1e-4, 1e-4, name + ": residual against the reference");
        }
    }

    /**
     * The FFN's bias + erf GELU kernel that writes its output's split (bias_gelu_erf_rows_split_f32, tf32.cuh's
     * store_split4) on awkward shapes: y within float32's tolerance of the plain-Java GELU ({@link CpuOps}, double
     * erf rounded once), every split element BITWISE the Java split ({@link Tf32SplitKernels#hi}) of the y the kernel
     * wrote, in rows [lo | hi | hi]; with storeY off y keeps its input bits and the split is the same.
     */
    @Test
    void biasGeluErfSplitKernelIsTheJavaReferenceOnAwkwardShapes() {
        Random r = new Random(13);
        CpuOps cpu = new CpuOps(DType.F32);
        int cases = 0;
        for (int rows : new int[] {1, 3, 257}) {
            for (int cols : new int[] {4, 12, 1028, 4100}) {
                String name = rows + "x" + cols;
                float[] yv = new float[rows * cols];
                for (int i = 0; i < yv.length; i++) {
                    yv[i] = switch (i % 16) {
                        case 0 -> 0f;
                        case 1 -> -0f;
                        case 2 -> (float) (r.nextGaussian() * 1e4); // far tails: GELU is y or -0
                        case 3 -> Float.MIN_VALUE * (1 + r.nextInt(1 << 20));
                        default -> (float) (r.nextGaussian() * 3);
                    };
                }
                float[] bv = gaussian(r, cols, 0.5);
                float[] biased = new float[yv.length];
                for (int i = 0; i < yv.length; i++) {
                    biased[i] = yv[i] + bv[i % cols];
                }
                Tensor want = cpu.tensor(biased, rows, cols);
                cpu.geluErfInPlace(want);
                float[] wantY = cpu.toHost(want);
                try (Ops.Scope s = x3.scope()) {
                    CudaTensor bias = (CudaTensor) x3.tensor(bv, 1, cols);
                    CudaTensor y = (CudaTensor) x3.tensor(yv, rows, cols);
                    float[] split = x3.toHost(x3.biasGeluErfSplit(y, bias, true));
                    float[] gotY = x3.toHost(y);
                    CudaTensor kept = (CudaTensor) x3.tensor(yv, rows, cols);
                    float[] splitOnly = x3.toHost(x3.biasGeluErfSplit(kept, bias, false));
                    float[] keptY = x3.toHost(kept);
                    assertClose(wantY, gotY, 1e-5, 1e-5, name + ": y against the reference");
                    for (int i = 0; i < rows; i++) {
                        for (int c = 0; c < cols; c++) {
                            float v = gotY[i * cols + c];
                            float hi = Tf32SplitKernels.hi(v);
                            float[] parts = {v - hi, hi, hi};
                            for (int p = 0; p < 3; p++) {
                                int at = i * 3 * cols + p * cols + c;
                                assertEquals(Float.floatToRawIntBits(parts[p]), Float.floatToRawIntBits(split[at]),
                                        name + ": split row " + i + " part " + p + " column " + c);
                                assertEquals(Float.floatToRawIntBits(split[at]), Float.floatToRawIntBits(splitOnly[at]),
                                        name + ": split-only row " + i + " part " + p + " column " + c);
                            }
                            assertEquals(Float.floatToRawIntBits(yv[i * cols + c]),
                                    Float.floatToRawIntBits(keptY[i * cols + c]), name + ": storeY off keeps y");
                        }
                    }
                }
                cases++;
            }
        }
        System.out.println("bias + erf GELU split: " + cases + " shapes bitwise the Java split of their output");
        assertEquals(12, cases);
    }

    private static float[] linear(CudaOps g, float[] xv, float[] wv, float[] bv, int n, int m, int k) {
        try (Ops.Scope s = g.scope()) {
            Tensor b = bv == null ? null : g.tensor(bv, 1, m);
            return g.toHost(g.linear(g.tensor(xv, n, k), g.tensor(wv, m, k), b));
        }
    }

    private static double maxErr(float[] a, float[] b) {
        double e = 0;
        for (int i = 0; i < a.length; i++) {
            e = Math.max(e, Math.abs((double) a[i] - b[i]));
        }
        return e;
    }

    /** Gaussians at scales from 1e-30 to 1e30, exact TF32 ties, zeros of both signs, subnormals. */
    private static float[] values(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = switch (i % 8) {
                case 0 -> 0f;
                case 1 -> -0f;
                case 2 -> Float.MIN_VALUE * (1 + r.nextInt(1 << 20));
                case 3 -> Float.intBitsToFloat((r.nextInt(250) + 2) << 23 | r.nextInt(1 << 10) << 13 | 0x1000)
                        * (r.nextBoolean() ? 1 : -1);
                default -> (float) (r.nextGaussian() * Math.pow(10, r.nextInt(61) - 30));
            };
        }
        return v;
    }
}
