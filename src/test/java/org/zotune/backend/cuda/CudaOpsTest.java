package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;
import static org.zotune.backend.cuda.GpuTestSupport.assertPackedBiasAccuracy;
import static org.zotune.backend.cuda.GpuTestSupport.atol;
import static org.zotune.backend.cuda.GpuTestSupport.gaussian;
import static org.zotune.backend.cuda.GpuTestSupport.rounded;
import static org.zotune.backend.cuda.GpuTestSupport.rtol;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Every CUDA op against the plain-Java reference ({@link CpuOps}) on awkward shapes (not multiples of
 * block sizes), in f32 (tolerance 1e-5), bf16 and f16 (1e-2; the printed max |err| is what f16 reaches). Inputs are
 * random, never zeros.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaOpsTest {
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
        if (f32 != null) {
            f32.close();
        }
        if (bf16 != null) {
            bf16.close();
        }
        if (f16 != null) {
            f16.close();
        }
    }

    private CudaOps gpu(DType t) {
        switch (t) {
            case F32: return f32;
            case BF16: return bf16;
            default: return f16;
        }
    }

    /** The same host values on both backends. */
    private static final class Pair {
        final Tensor cpu;
        final Tensor gpu;

        Pair(Tensor cpu, Tensor gpu) {
            this.cpu = cpu;
            this.gpu = gpu;
        }
    }

    private Pair pair(CpuOps cpu, CudaOps gpu, float[] v, int rows, int cols) {
        return new Pair(cpu.tensor(v, rows, cols), gpu.tensor(v, rows, cols));
    }

    /** Packed attention in float32 on the CPU from the values a t tensor holds (the bias as biasRows rows). */
    private static float[] exactPacked(DType t, float[] qkv, float[] bias, int biasRows, int[] mask, AttentionSpec spec) {
        CpuOps f32 = new CpuOps(DType.F32);
        int tokens = mask.length;
        return f32.toHost(f32.attentionPacked(f32.tensor(rounded(t, qkv), tokens, qkv.length / tokens),
                f32.tensor(rounded(t, bias), biasRows, bias.length / biasRows), f32.ints(mask),
                f32.ints(new int[tokens]), spec));
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void elementwiseOps(DType t) {
        Random r = new Random(1);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int rows = 37;
            int cols = 53;
            float[] xv = gaussian(r, rows * cols, 2.0);
            float[] yv = gaussian(r, rows * cols, 2.0);
            Pair x = pair(cpu, g, xv, rows, cols);
            Pair y = pair(cpu, g, yv, rows, cols);
            cpu.addInPlace(x.cpu, y.cpu);
            g.addInPlace(x.gpu, y.gpu);
            assertClose(cpu.toHost(x.cpu), g.toHost(x.gpu), t, "addInPlace " + t);

            Pair a = pair(cpu, g, xv, rows, cols);
            cpu.geluTanhInPlace(a.cpu);
            g.geluTanhInPlace(a.gpu);
            assertClose(cpu.toHost(a.cpu), g.toHost(a.gpu), t, "geluTanhInPlace " + t);

            Pair e = pair(cpu, g, xv, rows, cols);
            cpu.geluErfInPlace(e.cpu);
            g.geluErfInPlace(e.gpu);
            assertClose(cpu.toHost(e.cpu), g.toHost(e.gpu), t, "geluErfInPlace " + t);
            // a view starting one element in: unaligned, so the scalar kernel with its own tail
            Pair u = pair(cpu, g, xv, rows * cols, 1);
            Tensor uc = cpu.rows(u.cpu, 1, rows * cols);
            Tensor ug = g.rows(u.gpu, 1, rows * cols);
            cpu.geluErfInPlace(uc);
            g.geluErfInPlace(ug);
            assertClose(cpu.toHost(uc), g.toHost(ug), t, "geluErfInPlace unaligned " + t);

            Pair b = pair(cpu, g, yv, rows, cols);
            cpu.reluInPlace(b.cpu);
            g.reluInPlace(b.gpu);
            assertClose(cpu.toHost(b.cpu), g.toHost(b.gpu), t, "reluInPlace " + t);

            Pair h = pair(cpu, g, xv, rows, cols);
            cpu.tanhInPlace(h.cpu);
            g.tanhInPlace(h.gpu);
            assertClose(cpu.toHost(h.cpu), g.toHost(h.gpu), t, "tanhInPlace " + t);
            Pair hu = pair(cpu, g, xv, rows * cols, 1);
            Tensor huc = cpu.rows(hu.cpu, 1, rows * cols);
            Tensor hug = g.rows(hu.gpu, 1, rows * cols);
            cpu.tanhInPlace(huc);
            g.tanhInPlace(hug);
            assertClose(cpu.toHost(huc), g.toHost(hug), t, "tanhInPlace unaligned " + t);

            Pair gate = pair(cpu, g, xv, rows, cols);
            Pair up = pair(cpu, g, yv, rows, cols);
            assertClose(cpu.toHost(cpu.siluMul(gate.cpu, up.cpu)), g.toHost(g.siluMul(gate.gpu, up.gpu)), t,
                    "siluMul " + t);
        }
    }

    @Test
    void castsRoundToNearestEvenLikeTheHost() {
        Random r = new Random(2);
        try (Ops.Scope s = f32.scope()) {
            float[] v = gaussian(r, 1001, 30.0);
            v[0] = 1.00390625f; // exactly halfway between two bf16 values: ties to even
            v[1] = 1.01171875f;
            Tensor x = f32.tensor(v, 7, 143);
            Tensor b = f32.cast(x, DType.BF16);
            assertEquals(DType.BF16, b.dtype());
            float[] back = f32.toHost(f32.cast(b, DType.F32));
            for (int i = 0; i < v.length; i++) {
                assertEquals(DType.BF16.round(v[i]), back[i], 0f, "element " + i);
            }
        }
    }

    @Test
    void f16CastsRoundToNearestEvenWithSubnormalsAndOverflowLikeTheHost() {
        Random r = new Random(26);
        try (Ops.Scope s = f32.scope()) {
            float[] v = gaussian(r, 1001, 30.0);
            v[0] = 1 + 0x1p-11f; // halfway between two halves: ties to even (1.0)
            v[1] = 1 + 3 * 0x1p-11f; // the other way (1 + 2^-9)
            v[2] = 3 * 0x1p-25f; // halfway between subnormals 1 and 2: 2 * 2^-24
            v[3] = 0x1p-25f; // half the smallest subnormal: 0
            v[4] = 65519.99f; // the largest finite half
            v[5] = 65520f; // the midpoint above it: infinity
            v[6] = -1e6f;
            v[7] = Float.NaN;
            v[8] = 1023.5f * 0x1p-24f; // largest subnormal + half: the smallest normal
            for (int i = 9; i < 200; i++) {
                v[i] *= 0x1p-20f; // subnormal and small normal values
            }
            Tensor x = f32.tensor(v, 7, 143);
            Tensor h = f32.cast(x, DType.F16);
            assertEquals(DType.F16, h.dtype());
            float[] direct = f32.toHost(h);
            float[] back = f32.toHost(f32.cast(h, DType.F32));
            for (int i = 0; i < v.length; i++) {
                assertEquals(DType.F16.round(v[i]), back[i], 0f, "element " + i + " = " + v[i]);
                assertEquals(back[i], direct[i], 0f, "element " + i + " read directly");
            }
            assertEquals(1f, back[0]);
            assertEquals(Float.POSITIVE_INFINITY, back[5]);
            assertEquals(0x1p-14f, back[8]);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void argmaxRowsIsTheHostsArgmax(DType t) {
        Random r = new Random(11);
        CudaOps g = gpu(t);
        for (int[] shape : new int[][] {{1, 1}, {3, 7}, {5, 33}, {16, 50257}, {2, 1025}}) {
            int rows = shape[0], cols = shape[1], ld = cols + (cols % 2 == 1 ? 3 : 0); // odd widths padded
            try (Ops.Scope s = g.scope()) {
                float[] v = gaussian(r, rows * ld, 3.0);
                for (int i = 0; i < rows; i++) {
                    int base = i * ld;
                    if (cols > 4 && i % 3 == 0) { // a tie: the largest value at two places, the lower must win
                        int a = 1 + r.nextInt(cols / 2), b = a + 1 + r.nextInt(cols - a - 1);
                        v[base + a] = 40f;
                        v[base + b] = 40f;
                    }
                    if (cols > 2 && i % 3 == 1) { // NaN first and a NaN elsewhere: never chosen
                        v[base] = Float.NaN;
                        v[base + 1 + r.nextInt(cols - 1)] = Float.NaN;
                    }
                    for (int c = cols; c < ld; c++) {
                        v[base + c] = 1e4f; // padding beyond the row's values is never read
                    }
                }
                if (rows > 2) { // a row of NaN only (-1) and a row of -inf only (index 0)
                    java.util.Arrays.fill(v, ld, ld + cols, Float.NaN);
                    java.util.Arrays.fill(v, 2 * ld, 2 * ld + cols, Float.NEGATIVE_INFINITY);
                }
                CudaTensor wide = (CudaTensor) g.tensor(v, rows, ld);
                CudaTensor x = new CudaTensor(wide.address(), rows, cols, t, ld);
                float[] held = g.toHost(wide); // the values as the dtype holds them: its rounding makes ties too
                int[] expected = new int[rows];
                for (int i = 0; i < rows; i++) {
                    expected[i] = org.zotune.model.Generator.argmaxOrNone(
                            java.util.Arrays.copyOfRange(held, i * ld, i * ld + cols));
                }
                int[] actual = g.toHost(g.argmaxRows(x));
                assertArrayEquals(expected, actual, "argmax " + t + " " + rows + "x" + cols + " (ld " + ld + ")");
                if (rows > 2) {
                    assertEquals(-1, actual[1], "a row of NaN only");
                    assertEquals(0, actual[2], "a row of -inf only");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void embeddingGathersRows(DType t) {
        Random r = new Random(3);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int vocab = 97;
            int cols = 61;
            Pair table = pair(cpu, g, gaussian(r, vocab * cols, 1.0), vocab, cols);
            int[] ids = new int[50];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(vocab);
            }
            ids[0] = vocab - 1;
            float[] expected = cpu.toHost(cpu.embedding(cpu.ints(ids), table.cpu));
            float[] actual = g.toHost(g.embedding(g.ints(ids), table.gpu));
            assertClose(expected, actual, 0, 0, "embedding " + t); // a gather is exact
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void linearWithAndWithoutBias(DType t) {
        Random r = new Random(4);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int n = 29;
            int in = 203;
            int out = 77;
            Pair x = pair(cpu, g, gaussian(r, n * in, 1.0), n, in);
            Pair w = pair(cpu, g, gaussian(r, out * in, 0.1), out, in);
            Pair b = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
            assertClose(cpu.toHost(cpu.linear(x.cpu, w.cpu, b.cpu)), g.toHost(g.linear(x.gpu, w.gpu, b.gpu)), t,
                    "linear+bias " + t);
            assertClose(cpu.toHost(cpu.linear(x.cpu, w.cpu, null)), g.toHost(g.linear(x.gpu, w.gpu, null)), t,
                    "linear " + t);
            // a bias of a multiple of 8 outputs takes the 16-byte vector kernel
            Pair w96 = pair(cpu, g, gaussian(r, 96 * in, 0.1), 96, in);
            Pair b96 = pair(cpu, g, gaussian(r, 96, 1.0), 1, 96);
            assertClose(cpu.toHost(cpu.linear(x.cpu, w96.cpu, b96.cpu)), g.toHost(g.linear(x.gpu, w96.gpu, b96.gpu)), t,
                    "linear+bias out=96 " + t);
            // widths below the vector width: a 16-byte vector of the flat kernel spans several rows
            for (int narrow : new int[] {1, 3, 5}) {
                Pair wn = pair(cpu, g, gaussian(r, narrow * in, 0.1), narrow, in);
                Pair bn = pair(cpu, g, gaussian(r, narrow, 1.0), 1, narrow);
                assertClose(cpu.toHost(cpu.linear(x.cpu, wn.cpu, bn.cpu)), g.toHost(g.linear(x.gpu, wn.gpu, bn.gpu)),
                        t, "linear+bias out=" + narrow + " " + t);
            }
            // an odd output width over 2^16 elements is computed into padded rows and copied out
            int n2 = 70;
            int out2 = 1001;
            Pair x2 = pair(cpu, g, gaussian(r, n2 * in, 1.0), n2, in);
            Pair w2 = pair(cpu, g, gaussian(r, out2 * in, 0.1), out2, in);
            Pair b2 = pair(cpu, g, gaussian(r, out2, 1.0), 1, out2);
            assertClose(cpu.toHost(cpu.linear(x2.cpu, w2.cpu, null)), g.toHost(g.linear(x2.gpu, w2.gpu, null)), t,
                    "linear padded out=1001 " + t);
            assertClose(cpu.toHost(cpu.linear(x2.cpu, w2.cpu, b2.cpu)), g.toHost(g.linear(x2.gpu, w2.gpu, b2.gpu)), t,
                    "linear+bias padded out=1001 " + t);
            // the LM head keeps padded rows: toHost, rows and crossEntropy read them, other ops refuse them
            Tensor lg = g.logits(x2.gpu, w2.gpu);
            float[] dense = cpu.toHost(cpu.linear(x2.cpu, w2.cpu, null));
            assertClose(dense, g.toHost(lg), t, "logits out=1001 " + t);
            assertClose(cpu.toHost(cpu.rows(cpu.linear(x2.cpu, w2.cpu, null), 3, 9)), g.toHost(g.rows(lg, 3, 9)), t,
                    "rows [3,9) of logits " + t);
            int[] tg = new int[n2];
            for (int i = 0; i < n2; i++) {
                tg[i] = i == 7 ? -1 : r.nextInt(out2);
            }
            // the same device values, dense (rows start at every alignment) and padded: same loss up to summation order
            assertClose(g.toHost(g.crossEntropy(g.linear(x2.gpu, w2.gpu, null), g.ints(tg))),
                    g.toHost(g.crossEntropy(lg, g.ints(tg))), 1e-4, 1e-5, "crossEntropy of padded logits " + t);
            boolean stridedLogits = Boolean.parseBoolean(System.getProperty("zotune.cuda.stridedLogits", "true"));
            assertEquals(stridedLogits, !((CudaTensor) lg).dense(), "logits keep padded rows unless switched off");
            if (stridedLogits) {
                assertThrows(ZotuneException.class, () -> g.geluTanhInPlace(lg));
            }
            // a row view feeds the GEMM from an offset
            assertClose(cpu.toHost(cpu.linear(cpu.rows(x.cpu, 5, 18), w.cpu, null)),
                    g.toHost(g.linear(g.rows(x.gpu, 5, 18), w.gpu, null)), t, "linear on rows [5,18) " + t);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void loraWeightFromFloat32Factors(DType t) {
        Random r = new Random(11);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        // awkward shapes: odd out and in (not multiples of the block or vector width), ranks 1, 3 and 8, one W over
        // 2^16 elements (several grid-stride rounds on a small grid); W in the compute type, B and Aᵀ float32
        int[][] shapes = {{77, 203, 3}, {1, 5, 1}, {333, 257, 8}};
        for (int[] sh : shapes) {
            int out = sh[0];
            int in = sh[1];
            int rank = sh[2];
            float scale = 16f / rank;
            List<HostTensor> f = factors(r, out, in, rank); // the same values uploaded to both backends
            try (Ops.Scope s = g.scope();
                    Parameters fc = cpu.createParameters(f, DType.F32);
                    Parameters fg = g.createParameters(f, DType.F32)) {
                assertEquals(DType.F32, fg.weight(0).dtype(), "factors are float32 whatever the compute type");
                Pair w = pair(cpu, g, gaussian(r, out * in, 1.0), out, in);
                float[] ref = cpu.toHost(cpu.loraWeight(w.cpu, fc.weight(0), fc.weight(1), scale));
                float[] got = g.toHost(g.loraWeight(w.gpu, fg.weight(0), fg.weight(1), scale));
                assertClose(ref, got, t, "loraWeight " + out + "x" + in + " r=" + rank + " " + t);
            }
        }
        // factors in the compute type are refused on CUDA (B·A must come from float32), shapes checked
        if (t != DType.F32) {
            try (Ops.Scope s = g.scope()) {
                Tensor w = g.tensor(gaussian(r, 6, 1.0), 2, 3);
                Tensor b = g.tensor(gaussian(r, 2, 1.0), 2, 1);
                Tensor at = g.tensor(gaussian(r, 3, 1.0), 3, 1);
                assertThrows(IllegalArgumentException.class, () -> g.loraWeight(w, b, at, 1f));
            }
        }
    }

    /**
     * W' formed into one reused slot (the 5-argument loraWeight, as Lora.apply runs it) is bitwise the W' of a fresh
     * tensor, for shapes smaller than the slot one after the other, at the slot's address; a slot too small is refused.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void loraWeightIntoASlotEqualsAFreshOne(DType t) {
        Random r = new Random(12);
        CudaOps g = gpu(t);
        int[][] shapes = {{333, 257, 8}, {77, 203, 3}, {1, 5, 1}, {256, 333, 8}};
        try (Parameters slot = g.createParameters(List.of(HostTensor.ofFloats("slot", new float[333 * 257], 1,
                333 * 257)), t)) {
            long address = CudaTensors.address(slot.weight(0));
            for (int[] sh : shapes) {
                int out = sh[0];
                int in = sh[1];
                int rank = sh[2];
                List<HostTensor> f = factors(r, out, in, rank);
                try (Ops.Scope s = g.scope(); Parameters fg = g.createParameters(f, DType.F32)) {
                    Tensor w = g.tensor(gaussian(r, out * in, 1.0), out, in);
                    float[] fresh = g.toHost(g.loraWeight(w, fg.weight(0), fg.weight(1), 16f / rank));
                    Tensor into = g.loraWeight(w, fg.weight(0), fg.weight(1), 16f / rank, slot.weight(0));
                    assertEquals(address, CudaTensors.address(into), "W' lives in the slot");
                    assertEquals(out, into.rows());
                    assertEquals(in, into.cols());
                    float[] got = g.toHost(into);
                    int differ = 0;
                    for (int i = 0; i < fresh.length; i++) {
                        differ += Float.floatToRawIntBits(fresh[i]) == Float.floatToRawIntBits(got[i]) ? 0 : 1;
                    }
                    System.out.printf("loraWeight into a slot %dx%d r=%d %s: %d of %d elements differ from a fresh"
                            + " W'%n", out, in, rank, t, differ, fresh.length);
                    assertEquals(0, differ, "slot W' bitwise the fresh one, " + out + "x" + in + " " + t);
                }
            }
            try (Ops.Scope s = g.scope();
                    Parameters fg = g.createParameters(factors(r, 334, 257, 2), DType.F32)) {
                Tensor w = g.tensor(gaussian(r, 334 * 257, 1.0), 334, 257);
                assertThrows(IllegalArgumentException.class,
                        () -> g.loraWeight(w, fg.weight(0), fg.weight(1), 1f, slot.weight(0)), "slot too small");
            }
        }
    }

    /**
     * The skinny product y += s·(x·Aᵀ)·Bᵀ against the CPU reference: awkward shapes (one row, odd widths, ranks 1, 3,
     * 8, 9 and 17 across the down kernel's 8-column chunks, more rows than warps in the grid), y non-zero before.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void loraDeltaFromFloat32Factors(DType t) {
        Random r = new Random(13);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        // {rows, in, out, rank}
        int[][] shapes = {{1, 5, 3, 1}, {37, 203, 77, 3}, {64, 257, 333, 8}, {19, 64, 48, 9}, {7, 129, 65, 17},
            {40000, 33, 17, 2}};
        for (int[] sh : shapes) {
            int n = sh[0];
            int in = sh[1];
            int out = sh[2];
            int rank = sh[3];
            float scale = 16f / rank;
            List<HostTensor> f = factors(r, out, in, rank);
            try (Ops.Scope s = g.scope();
                    Parameters fc = cpu.createParameters(f, DType.F32);
                    Parameters fg = g.createParameters(f, DType.F32)) {
                Pair x = pair(cpu, g, gaussian(r, n * in, 1.0), n, in);
                Pair y = pair(cpu, g, gaussian(r, n * out, 1.0), n, out);
                cpu.loraDelta(x.cpu, fc.weight(1), fc.weight(0), scale, y.cpu);
                g.loraDelta(x.gpu, fg.weight(1), fg.weight(0), scale, y.gpu);
                // float32: x·Aᵀ sums `in` terms in the warp's order (the reference in double), hence atol 1e-4
                assertClose(cpu.toHost(y.cpu), g.toHost(y.gpu), t == DType.F32 ? 1e-4 : atol(t), rtol(t),
                        "loraDelta " + n + "x" + in + " -> " + out + " r=" + rank + " " + t);
            }
        }
        try (Ops.Scope s = g.scope(); Parameters fg = g.createParameters(factors(r, 4, 6, 2), DType.F32)) {
            Tensor x = g.tensor(gaussian(r, 12, 1.0), 2, 6);
            Tensor y = g.tensor(gaussian(r, 10, 1.0), 2, 5);
            assertThrows(IllegalArgumentException.class, () -> g.loraDelta(x, fg.weight(1), fg.weight(0), 1f, y),
                    "B has 4 rows, y 5 columns");
        }
    }

    /** B [out, r] then Aᵀ [in, r], float32, non-zero (B·A of order 1). */
    private static List<HostTensor> factors(Random r, int out, int in, int rank) {
        return List.of(HostTensor.ofFloats("B", gaussian(r, out * rank, 1.0), out, rank),
                HostTensor.ofFloats("At", gaussian(r, in * rank, 1.0 / Math.sqrt(in)), in, rank));
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void linearWithFusedGeluAndResidual(DType t) {
        Random r = new Random(12);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int n = 29;
            int in = 203;
            Pair x = pair(cpu, g, gaussian(r, n * in, 1.0), n, in);
            for (int out : new int[] {96, 77}) { // 96: fused vector kernels; 77: the unfused fallback
                Pair w = pair(cpu, g, gaussian(r, out * in, 0.1), out, in);
                Pair b = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
                assertClose(cpu.toHost(cpu.linearGeluTanh(x.cpu, w.cpu, b.cpu)),
                        g.toHost(g.linearGeluTanh(x.gpu, w.gpu, b.gpu)), t, "linearGeluTanh out=" + out + " " + t);
                // a small residual: against the host, a large one cancelling y + b would compare the two
                // products' last-bit rounding (seen on the GPU: 4 bf16 ulps at 0.52 from operands near 2)
                float[] res = gaussian(r, n * out, 0.2);
                Pair rc = pair(cpu, g, res, n, out);
                cpu.addLinearInPlace(rc.cpu, x.cpu, w.cpu, b.cpu);
                g.addLinearInPlace(rc.gpu, x.gpu, w.gpu, b.gpu);
                assertClose(cpu.toHost(rc.cpu), g.toHost(rc.gpu), t, "addLinearInPlace out=" + out + " " + t);
                Pair rn = pair(cpu, g, res, n, out);
                cpu.addLinearInPlace(rn.cpu, x.cpu, w.cpu, null);
                g.addLinearInPlace(rn.gpu, x.gpu, w.gpu, null);
                assertClose(cpu.toHost(rn.cpu), g.toHost(rn.gpu), t, "addLinearInPlace no bias out=" + out + " " + t);
                // the fused kernels round exactly as the unfused ops do: bitwise equal on the device,
                // with a large residual too
                float[] big = gaussian(r, n * out, 2.0);
                Pair fused = pair(cpu, g, big, n, out);
                Pair unfused = pair(cpu, g, big, n, out);
                g.addLinearInPlace(fused.gpu, x.gpu, w.gpu, b.gpu);
                g.addInPlace(unfused.gpu, g.linear(x.gpu, w.gpu, b.gpu));
                assertClose(g.toHost(unfused.gpu), g.toHost(fused.gpu), 0, 0, "addLinearInPlace vs unfused out=" + out
                        + " " + t);
                Tensor y = g.linear(x.gpu, w.gpu, b.gpu);
                g.geluTanhInPlace(y);
                g.ltEpilogue(false); // our fused pass (cuBLASLt's epilogue rounds once: linearWithCublasLtEpilogue)
                assertClose(g.toHost(y), g.toHost(g.linearGeluTanh(x.gpu, w.gpu, b.gpu)), 0, 0,
                        "linearGeluTanh vs unfused out=" + out + " " + t);
                // BERT's erf GELU: against the host's GELU of the device's own x·Wᵀ + b (the host's product rounds
                // its last bit differently: 2 bf16 ulps near 2.0 after the GELU, seen on an H100), and bitwise the
                // unfused bias pass + activation pass
                Tensor pre = cpu.tensor(g.toHost(g.linear(x.gpu, w.gpu, b.gpu)), n, out);
                cpu.geluErfInPlace(pre);
                assertClose(cpu.toHost(pre), g.toHost(g.linearGeluErf(x.gpu, w.gpu, b.gpu)), t,
                        "linearGeluErf out=" + out + " " + t);
                Tensor ye = g.linear(x.gpu, w.gpu, b.gpu);
                g.geluErfInPlace(ye);
                assertClose(g.toHost(ye), g.toHost(g.linearGeluErf(x.gpu, w.gpu, b.gpu)), 0, 0,
                        "linearGeluErf vs unfused out=" + out + " " + t);
                assertClose(cpu.toHost(cpu.linearRelu(x.cpu, w.cpu, b.cpu)),
                        g.toHost(g.linearRelu(x.gpu, w.gpu, b.gpu)), t, "linearRelu out=" + out + " " + t);
                Tensor yr = g.linear(x.gpu, w.gpu, b.gpu);
                g.reluInPlace(yr);
                assertClose(g.toHost(yr), g.toHost(g.linearRelu(x.gpu, w.gpu, b.gpu)), 0, 0,
                        "linearRelu vs unfused out=" + out + " " + t);
            }
        }
    }

    /**
     * bf16 / f16 products with bias + GELU / ReLU as cuBLASLt's epilogue (opt-in; inner width a multiple of 8):
     * against the host reference, and within two roundings of our GEMM + fused pass; the counter shows cuBLASLt ran.
     */
    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void linearWithCublasLtEpilogue(DType t) {
        Random r = new Random(13);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int n = 29;
            int in = 200;
            Pair x = pair(cpu, g, gaussian(r, n * in, 1.0), n, in);
            for (int out : new int[] {96, 104}) {
                Pair w = pair(cpu, g, gaussian(r, out * in, 0.1), out, in);
                Pair b = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
                g.ltEpilogue(true);
                long before = g.ltProducts();
                float[] gelu = g.toHost(g.linearGeluTanh(x.gpu, w.gpu, b.gpu));
                float[] relu = g.toHost(g.linearRelu(x.gpu, w.gpu, b.gpu));
                g.ltEpilogue(false);
                assertEquals(before + 2, g.ltProducts(), "both products took cuBLASLt's epilogue");
                assertClose(cpu.toHost(cpu.linearGeluTanh(x.cpu, w.cpu, b.cpu)), gelu, t, "lt linearGeluTanh " + out);
                assertClose(cpu.toHost(cpu.linearRelu(x.cpu, w.cpu, b.cpu)), relu, t, "lt linearRelu " + out);
                // ours rounds the product, the biased value and the activation, the epilogue once, and the two GEMM
                // kernels sum in different orders: up to 2 ulps apart (seen: 2.84375 vs 2.875 in bf16), so 2^-6
                // relative for bf16 (>= 2 ulps at any magnitude), 2^-9 for f16, and as much absolute
                double rel = t == DType.BF16 ? 0x1p-6 : 0x1p-9;
                assertClose(g.toHost(g.linearGeluTanh(x.gpu, w.gpu, b.gpu)), gelu, rel, rel,
                        "lt vs our pass, gelu " + out);
                assertClose(g.toHost(g.linearRelu(x.gpu, w.gpu, b.gpu)), relu, rel, rel, "lt vs our pass, relu " + out);
                assertEquals(before + 2, g.ltProducts(), "switched off");
            }
        }
    }

    /**
     * The residual addition fused with the following norm: against the host reference, and bitwise against the
     * separate device ops (residual and norm output), for LayerNorm with and without biases and for RMSNorm, on
     * widths that take the fused row kernel (8, 96, 1600) and the fallback (77: not a vector multiple).
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void addLinearFusedWithNorm(DType t) {
        Random r = new Random(21);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int n = 29;
            int in = 203;
            Pair x = pair(cpu, g, gaussian(r, n * in, 1.0), n, in);
            for (int out : new int[] {8, 96, 1600, 77}) {
                Pair w = pair(cpu, g, gaussian(r, out * in, 0.1), out, in);
                Pair b = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
                Pair nw = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
                Pair nb = pair(cpu, g, gaussian(r, out, 1.0), 1, out);
                float[] res = gaussian(r, n * out, 0.2);
                for (int variant = 0; variant < 4; variant++) {
                    // 0: LayerNorm with both biases, 1: without the projection's bias, 2: without the norm's
                    // bias, 3: RMSNorm (with the projection's bias)
                    Tensor pb = variant == 1 ? null : b.gpu;
                    Tensor pbc = variant == 1 ? null : b.cpu;
                    Tensor normB = variant == 2 ? null : nb.gpu;
                    Tensor normBc = variant == 2 ? null : nb.cpu;
                    String what = "out=" + out + " variant " + variant + " " + t;
                    Pair rc = pair(cpu, g, res, n, out);
                    Pair fused = pair(cpu, g, res, n, out);
                    Pair unfused = pair(cpu, g, res, n, out);
                    Tensor expected;
                    Tensor actual;
                    Tensor separate;
                    if (variant == 3) {
                        expected = cpu.addLinearRmsNorm(rc.cpu, x.cpu, w.cpu, pbc, nw.cpu, 1e-6f);
                        actual = g.addLinearRmsNorm(fused.gpu, x.gpu, w.gpu, pb, nw.gpu, 1e-6f);
                        g.addLinearInPlace(unfused.gpu, x.gpu, w.gpu, pb);
                        separate = g.rmsNorm(unfused.gpu, nw.gpu, 1e-6f);
                    } else {
                        expected = cpu.addLinearLayerNorm(rc.cpu, x.cpu, w.cpu, pbc, nw.cpu, normBc, 1e-5f);
                        actual = g.addLinearLayerNorm(fused.gpu, x.gpu, w.gpu, pb, nw.gpu, normB, 1e-5f);
                        g.addLinearInPlace(unfused.gpu, x.gpu, w.gpu, pb);
                        separate = g.layerNorm(unfused.gpu, nw.gpu, normB, 1e-5f);
                    }
                    if (t == DType.F32) {
                        assertClose(cpu.toHost(rc.cpu), g.toHost(fused.gpu), t, "fused residual " + what);
                        assertClose(cpu.toHost(expected), g.toHost(actual), t, "fused norm " + what);
                    }
                    // In 16-bit types the host and device GEMMs differ in the last bit of y (|y| up to ~8 here), seen
                    // as 2 bf16 ulps in the residual and, through a norm over 8 values, 9 ulps in its output on the
                    // GPU: so the residual is compared with the separate device ops (bitwise, below; the host check
                    // of that path is linearWithFusedGeluAndResidual), and the norm with the host norm of the
                    // device's residual
                    Tensor devRes = cpu.tensor(g.toHost(fused.gpu), n, out);
                    Tensor normRef = variant == 3 ? cpu.rmsNorm(devRes, nw.cpu, 1e-6f)
                            : cpu.layerNorm(devRes, nw.cpu, normBc, 1e-5f);
                    assertClose(cpu.toHost(normRef), g.toHost(actual), t, "fused norm of the device residual " + what);
                    assertClose(g.toHost(unfused.gpu), g.toHost(fused.gpu), 0, 0, "residual vs separate ops " + what);
                    assertClose(g.toHost(separate), g.toHost(actual), 0, 0, "norm vs separate ops " + what);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void norms(DType t) {
        Random r = new Random(5);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            // 7, 300 (bf16), 1500 (bf16): scalar kernels; 64, 768, 1600 and f32 300/1500: register-held vectors
            for (int cols : new int[] {7, 300, 1500, 64, 768, 1600}) {
                int rows = 13;
                float[] xv = gaussian(r, rows * cols, 3.0);
                for (int i = 0; i < xv.length; i++) {
                    xv[i] += 1.5f; // a non-zero mean
                }
                Pair x = pair(cpu, g, xv, rows, cols);
                Pair w = pair(cpu, g, gaussian(r, cols, 1.0), 1, cols);
                Pair b = pair(cpu, g, gaussian(r, cols, 1.0), 1, cols);
                assertClose(cpu.toHost(cpu.layerNorm(x.cpu, w.cpu, b.cpu, 1e-5f)),
                        g.toHost(g.layerNorm(x.gpu, w.gpu, b.gpu, 1e-5f)), t, "layerNorm cols=" + cols + " " + t);
                assertClose(cpu.toHost(cpu.layerNorm(x.cpu, w.cpu, null, 1e-5f)),
                        g.toHost(g.layerNorm(x.gpu, w.gpu, null, 1e-5f)), t, "layerNorm no bias cols=" + cols + " " + t);
                assertClose(cpu.toHost(cpu.rmsNorm(x.cpu, w.cpu, 1e-6f)), g.toHost(g.rmsNorm(x.gpu, w.gpu, 1e-6f)), t,
                        "rmsNorm cols=" + cols + " " + t);
            }
        }
    }

    static AttentionSpec gpt2Spec(int b, int seq, int h, int d) {
        return new AttentionSpec(b, seq, h, h, d, (float) (1 / Math.sqrt(d)), 0, null);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionMultiHeadWithPadding(DType t) {
        // GPT-2 style: no RoPE, right padding in sequence 1, left padding in sequence 2
        int b = 3;
        int seq = 19;
        int[] mask = new int[b * seq];
        java.util.Arrays.fill(mask, 1);
        for (int i = 14; i < seq; i++) {
            mask[seq + i] = 0;
        }
        for (int i = 0; i < 5; i++) {
            mask[2 * seq + i] = 0;
        }
        checkAttention(t, gpt2Spec(b, seq, 4, 12), mask, new int[b * seq], 6);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionGroupedQueryWithLlama3Rope(DType t) {
        int b = 2;
        int seq = 23;
        int d = 10; // inverse frequencies 1 .. 6e-4: wavelengths 6 .. 9952 span all three Llama-3 bands
        AttentionSpec spec = new AttentionSpec(b, seq, 6, 2, d, (float) (1 / Math.sqrt(d)), 10000.0,
                new ModelConfig.RopeScaling(8.0, 1.0, 8.0, 2048));
        int[] mask = new int[b * seq];
        java.util.Arrays.fill(mask, 1);
        for (int i = 0; i < 4; i++) {
            mask[seq + i] = 0; // left padding
        }
        int[] pos = new int[b * seq];
        for (int i = 0; i < b * seq; i++) {
            pos[i] = (i % seq) * 37 + 3; // positions well past the sequence length
        }
        for (int i = 0; i < 4; i++) {
            pos[seq + i] = -1; // padding positions (counted as 0)
        }
        checkAttention(t, spec, mask, pos, 7);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionPlainRope(DType t) {
        int b = 1;
        int seq = 33;
        int d = 16;
        AttentionSpec spec = new AttentionSpec(b, seq, 3, 3, d, (float) (1 / Math.sqrt(d)), 500000.0, null);
        int[] mask = new int[b * seq];
        java.util.Arrays.fill(mask, 1);
        int[] pos = new int[b * seq];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = i;
        }
        checkAttention(t, spec, mask, pos, 8);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionPackedAndWarpSoftmax(DType t) {
        // T a multiple of 4 (warp-per-row softmax, 1 and 2 column groups), D = 16 (vector split/merge)
        for (int seq : new int[] {36, 132}) {
            int b = 2;
            int[] mask = new int[b * seq];
            java.util.Arrays.fill(mask, 1);
            for (int i = 0; i < 7; i++) {
                mask[seq + i] = 0; // left padding in sequence 1
            }
            mask[5] = 0; // a hole in sequence 0
            AttentionSpec spec = gpt2Spec(b, seq, 3, 16);
            checkAttention(t, spec, mask, new int[b * seq], 11 + seq);

            Random r = new Random(seq);
            CpuOps cpu = new CpuOps(t);
            CudaOps g = gpu(t);
            int tokens = b * seq;
            int width = 3 * 3 * 16;
            try (Ops.Scope s = g.scope()) {
                Pair qkv = pair(cpu, g, gaussian(r, tokens * width, 1.5), tokens, width);
                Pair bias = pair(cpu, g, gaussian(r, width, 0.5), 3, width / 3);
                for (boolean withBias : new boolean[] {false, true}) {
                    float[] expected = cpu.toHost(cpu.attentionPacked(qkv.cpu, withBias ? bias.cpu : null,
                            cpu.ints(mask), cpu.ints(new int[tokens]), spec));
                    float[] actual = g.toHost(g.attentionPacked(qkv.gpu, withBias ? bias.gpu : null, g.ints(mask),
                            g.ints(new int[tokens]), spec));
                    assertClose(expected, actual, t, "attentionPacked T=" + seq + " bias=" + withBias + " " + t);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionAtFlashHeadDims(DType t) {
        // bf16 with D in {64, 80, 96, 128} takes the fused flash kernel: T not a multiple of its 64-row
        // tiles, padding holes, rows with no visible key, grouped kv heads, RoPE (split first, then fused)
        int b = 2;
        int seq = 70;
        int[] mask = new int[b * seq];
        java.util.Arrays.fill(mask, 1);
        for (int i = 0; i < 9; i++) {
            mask[seq + i] = 0; // left padding: rows 0..8 of sequence 1 see no key
        }
        mask[3] = 0;
        mask[66] = 0;
        checkAttention(t, gpt2Spec(b, seq, 2, 64), mask, new int[b * seq], 21);

        int seq2 = 67;
        AttentionSpec gqa = new AttentionSpec(b, seq2, 4, 2, 80, (float) (1 / Math.sqrt(80)), 10000.0,
                new ModelConfig.RopeScaling(8.0, 1.0, 4.0, 64));
        int[] mask2 = new int[b * seq2];
        java.util.Arrays.fill(mask2, 1);
        mask2[seq2 - 1] = 0; // right padding in sequence 0
        int[] pos2 = new int[b * seq2];
        for (int i = 0; i < pos2.length; i++) {
            pos2[i] = (i % seq2) * 3;
        }
        checkAttention(t, gqa, mask2, pos2, 22);

        int seq3 = 129;
        int[] ones3 = new int[seq3];
        java.util.Arrays.fill(ones3, 1);
        int[] pos3 = new int[seq3];
        for (int i = 0; i < seq3; i++) {
            pos3[i] = i;
        }
        checkAttention(t, new AttentionSpec(1, seq3, 2, 2, 128, (float) (1 / Math.sqrt(128)), 500000.0, null), ones3,
                pos3, 23);
        int[] ones4 = new int[3 * 5];
        java.util.Arrays.fill(ones4, 1);
        checkAttention(t, gpt2Spec(3, 5, 3, 96), ones4, new int[15], 24);

        // packed q|k|v rows (GPT-2's fused projection) read in place
        Random r = new Random(25);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int seqP = 130;
        AttentionSpec spec = gpt2Spec(2, seqP, 3, 64);
        int[] maskP = new int[2 * seqP];
        java.util.Arrays.fill(maskP, 1);
        for (int i = 0; i < 17; i++) {
            maskP[seqP + i] = 0;
        }
        int width = 3 * 3 * 64;
        try (Ops.Scope s = g.scope()) {
            float[] qkvHost = gaussian(r, 2 * seqP * width, 1.5);
            float[] biasHost = gaussian(r, width, 0.5);
            Pair qkv = pair(cpu, g, qkvHost, 2 * seqP, width);
            Pair bias = pair(cpu, g, biasHost, 3, width / 3);
            for (boolean withBias : new boolean[] {false, true}) {
                float[] expected = cpu.toHost(cpu.attentionPacked(qkv.cpu, withBias ? bias.cpu : null,
                        cpu.ints(maskP), cpu.ints(new int[2 * seqP]), spec));
                float[] actual = g.toHost(g.attentionPacked(qkv.gpu, withBias ? bias.gpu : null, g.ints(maskP),
                        g.ints(new int[2 * seqP]), spec));
                String what = "attentionPacked D=64 T=" + seqP + " bias=" + withBias + " " + t;
                if (withBias && t != DType.F32) { // the fused kernel with its bias (GpuTestSupport)
                    assertPackedBiasAccuracy(exactPacked(t, qkvHost, biasHost, 3, maskP, spec), expected, actual, t,
                            what);
                } else {
                    assertClose(expected, actual, t, what);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void bidirectionalAttentionOnEveryPath(DType t) {
        // every path CudaOps picks, each checked causal and bidirectional: block softmax (odd T), warp softmax with
        // 1, 2, 4 and 8 column groups, the fused kernel (bf16/f16 at D 64, 80, 96, 128; one and two stages), RoPE
        // split first, grouped kv heads, padding on the left, right and in holes, a sequence of padding only
        int b = 3;
        int[][] shapes = {{19, 4, 4, 12}, {36, 3, 1, 16}, {132, 2, 2, 16}, {260, 2, 1, 8}, {520, 1, 1, 8},
            {70, 2, 2, 64}, {67, 4, 2, 80}, {5, 3, 3, 96}, {129, 2, 1, 128}}; // T, H, Hkv, D
        for (int[] sh : shapes) {
            int seq = sh[0];
            int[] mask = new int[b * seq];
            java.util.Arrays.fill(mask, 0, 2 * seq, 1);
            for (int i = 0; i < Math.min(9, seq - 1); i++) {
                mask[seq + i] = 0; // left padding in sequence 1
            }
            mask[seq - 1] = 0; // right padding and a hole in sequence 0; sequence 2 is all padding
            mask[seq / 2] = 0;
            int[] pos = new int[b * seq];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % seq;
            }
            for (boolean rope : new boolean[] {false, true}) {
                AttentionSpec spec = new AttentionSpec(b, seq, sh[1], sh[2], sh[3], (float) (1 / Math.sqrt(sh[3])),
                        rope ? 10000.0 : 0, null);
                for (boolean causal : new boolean[] {true, false}) {
                    checkAttention(t, spec.withCausal(causal), mask, pos, 31L * seq + sh[3]);
                }
            }
        }
        // packed q|k|v with a bias: added while loading (fused kernel, D = 64) or in its own pass (D = 16)
        for (int d : new int[] {16, 64}) {
            Random r = new Random(d);
            CpuOps cpu = new CpuOps(t);
            CudaOps g = gpu(t);
            int seq = 77;
            int tokens = 2 * seq;
            int[] mask = new int[tokens];
            java.util.Arrays.fill(mask, 1);
            for (int i = 0; i < 13; i++) {
                mask[seq + i] = 0;
            }
            AttentionSpec spec = new AttentionSpec(2, seq, 3, 1, d, (float) (1 / Math.sqrt(d)), 0, null, false);
            int width = (3 + 2) * d;
            try (Ops.Scope s = g.scope()) {
                float[] qkvHost = gaussian(r, tokens * width, 1.5);
                float[] biasHost = gaussian(r, width, 0.5);
                Pair qkv = pair(cpu, g, qkvHost, tokens, width);
                Pair bias = pair(cpu, g, biasHost, 1, width);
                float[] expected = cpu.toHost(cpu.attentionPacked(qkv.cpu, bias.cpu, cpu.ints(mask),
                        cpu.ints(new int[tokens]), spec));
                float[] actual = g.toHost(g.attentionPacked(qkv.gpu, bias.gpu, g.ints(mask), g.ints(new int[tokens]),
                        spec));
                String what = "bidirectional attentionPacked D=" + d + " " + t;
                if (d == 64 && t != DType.F32) { // the fused kernel with its bias (GpuTestSupport)
                    assertPackedBiasAccuracy(exactPacked(t, qkvHost, biasHost, 1, mask, spec), expected, actual, t,
                            what);
                } else {
                    assertClose(expected, actual, t, what);
                }
                // the same q, k, v and biases as separate tensors (an encoder's three projections): the biases
                // folded into the fused kernel (D = 64, 16-bit) or added in passes of their own first
                int hd = 3 * d;
                int kd = d;
                float[] qh = new float[tokens * hd];
                float[] kh = new float[tokens * kd];
                float[] vh = new float[tokens * kd];
                for (int row = 0; row < tokens; row++) {
                    System.arraycopy(qkvHost, row * width, qh, row * hd, hd);
                    System.arraycopy(qkvHost, row * width + hd, kh, row * kd, kd);
                    System.arraycopy(qkvHost, row * width + hd + kd, vh, row * kd, kd);
                }
                for (boolean causal : new boolean[] {false, true}) {
                    AttentionSpec sp = spec.withCausal(causal);
                    float[] want = causal ? cpu.toHost(cpu.attentionPacked(qkv.cpu, bias.cpu, cpu.ints(mask),
                            cpu.ints(new int[tokens]), sp)) : expected;
                    float[] got = g.toHost(g.attentionBiased(g.tensor(qh, tokens, hd), g.tensor(kh, tokens, kd),
                            g.tensor(vh, tokens, kd), g.tensor(Arrays.copyOfRange(biasHost, 0, hd), 1, hd),
                            g.tensor(Arrays.copyOfRange(biasHost, hd, hd + kd), 1, kd),
                            g.tensor(Arrays.copyOfRange(biasHost, hd + kd, width), 1, kd), g.ints(mask),
                            g.ints(new int[tokens]), sp));
                    String w = "attentionBiased D=" + d + " causal=" + causal + " " + t;
                    if (d == 64 && t != DType.F32) {
                        assertPackedBiasAccuracy(exactPacked(t, qkvHost, biasHost, 1, mask, sp), want, got, t, w);
                    } else {
                        assertClose(want, got, t, w);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionWithAKeyValuePrefix(DType t) {
        // p = 1 and 5 prefix rows (prefix tuning; a key/value cache is the same call with p = the cached tokens):
        // T = 1 (a decode step) and T not a multiple of any tile, grouped kv heads, D at and off the fused kernel's
        // head dimensions, RoPE on the sequence's own q and k only, causal and bidirectional, padding on the left, in
        // holes, and a sequence of padding only (its queries see the prefix alone)
        int b = 3;
        int[][] shapes = {{1, 2, 2, 16, 1}, {7, 4, 2, 16, 5}, {70, 2, 1, 64, 5}, {67, 4, 2, 80, 1},
            {130, 3, 3, 64, 5}, {5, 3, 3, 96, 1}, {33, 2, 1, 128, 5}}; // T, H, Hkv, D, p
        for (int[] sh : shapes) {
            int seq = sh[0];
            int[] mask = new int[b * seq];
            java.util.Arrays.fill(mask, 0, 2 * seq, 1);
            for (int i = 0; i < Math.min(3, seq - 1); i++) {
                mask[seq + i] = 0; // left padding in sequence 1
            }
            mask[seq / 2] = seq > 2 ? 0 : 1; // a hole in sequence 0; sequence 2 is all padding
            int[] pos = new int[b * seq];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = i % seq + 11; // positions after 11 cached tokens
            }
            for (boolean rope : new boolean[] {false, true}) {
                AttentionSpec spec = new AttentionSpec(b, seq, sh[1], sh[2], sh[3], (float) (1 / Math.sqrt(sh[3])),
                        rope ? 10000.0 : 0, null);
                for (boolean causal : new boolean[] {true, false}) {
                    checkPrefixAttention(t, spec.withCausal(causal), mask, pos, sh[4], false, 41L * seq + sh[3]);
                }
            }
            if (t != DType.F32) {
                // a float32 prefix (trained in float32) under a 16-bit compute type
                AttentionSpec spec = new AttentionSpec(b, seq, sh[1], sh[2], sh[3], (float) (1 / Math.sqrt(sh[3])),
                        10000.0, null);
                checkPrefixAttention(t, spec, mask, pos, sh[4], true, 43L * seq + sh[3]);
            }
        }
        // packed q|k|v with its bias (GPT-2), the bias added in its own pass, D = 16 and 64
        for (int d : new int[] {16, 64}) {
            Random r = new Random(50 + d);
            CpuOps cpu = new CpuOps(t);
            CudaOps g = gpu(t);
            int seq = 37;
            int tokens = 2 * seq;
            int np = 5;
            int[] mask = new int[tokens];
            java.util.Arrays.fill(mask, 1);
            for (int i = 0; i < 6; i++) {
                mask[seq + i] = 0;
            }
            AttentionSpec spec = new AttentionSpec(2, seq, 3, 3, d, (float) (1 / Math.sqrt(d)), 0, null);
            int width = 3 * 3 * d;
            try (Ops.Scope s = g.scope()) {
                Pair qkv = pair(cpu, g, gaussian(r, tokens * width, 1.5), tokens, width);
                Pair bias = pair(cpu, g, gaussian(r, width, 0.5), 3, width / 3);
                Pair pk = pair(cpu, g, gaussian(r, np * 3 * d, 1.5), np, 3 * d);
                Pair pv = pair(cpu, g, gaussian(r, np * 3 * d, 1.0), np, 3 * d);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec sp = spec.withCausal(causal);
                    float[] expected = cpu.toHost(cpu.attentionPacked(qkv.cpu, bias.cpu, cpu.ints(mask),
                            cpu.ints(new int[tokens]), sp, new KvPrefix(pk.cpu, pv.cpu)));
                    float[] actual = g.toHost(g.attentionPacked(qkv.gpu, bias.gpu, g.ints(mask),
                            g.ints(new int[tokens]), sp, new KvPrefix(pk.gpu, pv.gpu)));
                    assertClose(expected, actual, t, "prefix attentionPacked p=" + np + " D=" + d + " causal=" + causal
                            + " " + t);
                }
            }
        }
    }

    private void checkPrefixAttention(DType t, AttentionSpec spec, int[] mask, int[] pos, int np, boolean f32Prefix,
                                      long seed) {
        Random r = new Random(seed);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int tokens = spec.batch() * spec.seq();
        int kw = spec.numKvHeads() * spec.headDim();
        try (Ops.Scope s = g.scope()) {
            Pair q = pair(cpu, g, gaussian(r, tokens * spec.numHeads() * spec.headDim(), 1.5), tokens,
                    spec.numHeads() * spec.headDim());
            Pair k = pair(cpu, g, gaussian(r, tokens * kw, 1.5), tokens, kw);
            Pair v = pair(cpu, g, gaussian(r, tokens * kw, 1.0), tokens, kw);
            float[] pkv = gaussian(r, np * kw, 1.5);
            float[] pvv = gaussian(r, np * kw, 1.0);
            // the CPU's prefix is rounded to the compute type (cpu.tensor rounds), as the GPU lays a float32 one out
            KvPrefix cpuPrefix = new KvPrefix(cpu.tensor(pkv, np, kw), cpu.tensor(pvv, np, kw));
            float[] expected = cpu.toHost(cpu.attention(q.cpu, k.cpu, v.cpu, cpu.ints(mask), cpu.ints(pos), spec,
                    cpuPrefix));
            String what = "prefix attention p=" + np + " T=" + spec.seq() + " H=" + spec.numHeads() + " Hkv="
                    + spec.numKvHeads() + " D=" + spec.headDim() + " rope=" + spec.rope() + " causal=" + spec.causal()
                    + (f32Prefix ? " f32 prefix" : "") + " " + t;
            float[] actual;
            if (f32Prefix) {
                try (Parameters p = g.createParameters(List.of(HostTensor.ofFloats("k", pkv, np, kw),
                        HostTensor.ofFloats("v", pvv, np, kw)), DType.F32)) {
                    assertEquals(DType.F32, p.weight(0).dtype());
                    actual = g.toHost(g.attention(q.gpu, k.gpu, v.gpu, g.ints(mask), g.ints(pos), spec,
                            new KvPrefix(p.weight(0), p.weight(1))));
                }
            } else {
                actual = g.toHost(g.attention(q.gpu, k.gpu, v.gpu, g.ints(mask), g.ints(pos), spec,
                        new KvPrefix(g.tensor(pkv, np, kw), g.tensor(pvv, np, kw))));
            }
            assertClose(expected, actual, t, what);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void attentionWithAPerSequenceCache(DType t) {
        // a batched key/value cache: sequence b reads its own block of `stride` rows, the first fixed + pos[b·T]
        // visible (fixed = a prefix adapter's rows in front); the rest of the block holds large stale values that must
        // not leak. Np = the whole block (a captured graph's fixed shape) and less (eager); T = 1 (a decode step) and
        // T = 3 with padding after the real tokens; GQA, RoPE, D off the tiles; packed with its bias (GPT-2)
        int b = 3;
        int[][] shapes = {{1, 4, 2, 16, 9, 0}, {3, 2, 1, 80, 12, 2}, {1, 3, 3, 64, 40, 3}, {3, 4, 4, 64, 7, 0}};
        // T, H, Hkv, D, stride, fixed
        for (int[] sh : shapes) {
            int seq = sh[0];
            int stride = sh[4];
            int fixed = sh[5];
            int[] starts = {stride - fixed - seq, 0, Math.min(2, stride - fixed - seq)}; // full, none, some
            int[] pos = new int[b * seq];
            int[] mask = new int[b * seq];
            for (int i = 0; i < pos.length; i++) {
                pos[i] = starts[i / seq] + i % seq;
                mask[i] = i % seq == seq - 1 && i / seq == 1 && seq > 1 ? 0 : 1; // padding after sequence 1's tokens
            }
            for (boolean rope : new boolean[] {false, true}) {
                AttentionSpec spec = new AttentionSpec(b, seq, sh[1], sh[2], sh[3], (float) (1 / Math.sqrt(sh[3])),
                        rope ? 10000.0 : 0, null);
                for (int np : new int[] {stride, fixed + Arrays.stream(starts).max().orElseThrow()}) {
                    checkCacheAttention(t, spec, mask, pos, stride, np, fixed, 71L * seq + sh[3] + np);
                }
            }
        }
        Random r = new Random(77);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int d = 64;
        int stride = 11;
        AttentionSpec spec = new AttentionSpec(2, 1, 3, 3, d, (float) (1 / Math.sqrt(d)), 0, null);
        int width = 3 * 3 * d;
        try (Ops.Scope s = g.scope()) {
            Pair qkv = pair(cpu, g, gaussian(r, 2 * width, 1.5), 2, width);
            Pair bias = pair(cpu, g, gaussian(r, width, 0.5), 3, width / 3);
            Pair pk = pair(cpu, g, gaussian(r, 2 * stride * 3 * d, 1.5), 2 * stride, 3 * d);
            Pair pv = pair(cpu, g, gaussian(r, 2 * stride * 3 * d, 1.0), 2 * stride, 3 * d);
            int[] pos = {4, 9};
            float[] expected = cpu.toHost(cpu.attentionPacked(qkv.cpu, bias.cpu, cpu.ints(new int[] {1, 1}),
                    cpu.ints(pos), spec, KvPrefix.perSequence(pk.cpu, pv.cpu, stride, stride, 0)));
            float[] actual = g.toHost(g.attentionPacked(qkv.gpu, bias.gpu, g.ints(new int[] {1, 1}), g.ints(pos),
                    spec, KvPrefix.perSequence(pk.gpu, pv.gpu, stride, stride, 0)));
            assertClose(expected, actual, t, "per-sequence cache attentionPacked D=" + d + " " + t);
            // one block of 2·stride rows for a batch of two sequences: refused
            assertThrows(IllegalArgumentException.class, () -> g.attentionPacked(qkv.gpu, bias.gpu,
                    g.ints(new int[] {1, 1}), g.ints(pos), spec, KvPrefix.perSequence(pk.gpu, pv.gpu, 2 * stride,
                            stride, 0)));
        }
    }

    private void checkCacheAttention(DType t, AttentionSpec spec, int[] mask, int[] pos, int stride, int np, int fixed,
                                     long seed) {
        Random r = new Random(seed);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int tokens = spec.batch() * spec.seq();
        int kw = spec.numKvHeads() * spec.headDim();
        int rows = spec.batch() * stride;
        try (Ops.Scope s = g.scope()) {
            Pair q = pair(cpu, g, gaussian(r, tokens * spec.numHeads() * spec.headDim(), 1.5), tokens,
                    spec.numHeads() * spec.headDim());
            Pair k = pair(cpu, g, gaussian(r, tokens * kw, 1.5), tokens, kw);
            Pair v = pair(cpu, g, gaussian(r, tokens * kw, 1.0), tokens, kw);
            float[] ck = gaussian(r, rows * kw, 1.5);
            float[] cv = gaussian(r, rows * kw, 1.0);
            for (int row = 0; row < rows; row++) {
                int b = row / stride;
                if (row % stride >= fixed + pos[b * spec.seq()]) {
                    for (int c = 0; c < kw; c++) { // stale rows: would dominate any softmax they entered
                        ck[row * kw + c] = 40f;
                        cv[row * kw + c] = 1000f;
                    }
                }
            }
            Pair keys = pair(cpu, g, ck, rows, kw);
            Pair values = pair(cpu, g, cv, rows, kw);
            float[] expected = cpu.toHost(cpu.attention(q.cpu, k.cpu, v.cpu, cpu.ints(mask), cpu.ints(pos), spec,
                    KvPrefix.perSequence(keys.cpu, values.cpu, stride, np, fixed)));
            float[] actual = g.toHost(g.attention(q.gpu, k.gpu, v.gpu, g.ints(mask), g.ints(pos), spec,
                    KvPrefix.perSequence(keys.gpu, values.gpu, stride, np, fixed)));
            assertClose(expected, actual, t, "per-sequence cache attention stride=" + stride + " Np=" + np + " fixed="
                    + fixed + " T=" + spec.seq() + " H=" + spec.numHeads() + " Hkv=" + spec.numKvHeads() + " D="
                    + spec.headDim() + " rope=" + spec.rope() + " " + t);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void keysAndValuesStoredForABatchedCache(DType t) {
        // token t of sequence b into row b·stride + fixed + pos[b·T] + t, keys rotated at their positions (Llama-3
        // scaling, GQA); packed with its bias (GPT-2); every other row untouched
        Random r = new Random(61);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int stride = 13;
        try (Ops.Scope s = g.scope()) {
            AttentionSpec rope = new AttentionSpec(3, 2, 4, 2, 80, (float) (1 / Math.sqrt(80)), 500000.0,
                    new ModelConfig.RopeScaling(8.0, 1.0, 4.0, 64));
            int kw = 2 * 80;
            int[] pos = {9, 10, 0, 1, 4, 5};
            Pair k = pair(cpu, g, gaussian(r, 6 * kw, 1.5), 6, kw);
            Pair v = pair(cpu, g, gaussian(r, 6 * kw, 1.0), 6, kw);
            float[] init = gaussian(r, 3 * stride * kw, 1.0);
            Pair keys = pair(cpu, g, init, 3 * stride, kw);
            Pair values = pair(cpu, g, init, 3 * stride, kw);
            cpu.storeKeysValues(k.cpu, 0, v.cpu, 0, null, cpu.ints(pos), rope, keys.cpu, values.cpu, stride, 2);
            g.storeKeysValues(k.gpu, 0, v.gpu, 0, null, g.ints(pos), rope, keys.gpu, values.gpu, stride, 2);
            assertClose(cpu.toHost(keys.cpu), g.toHost(keys.gpu), t, "batched cache keys, RoPE " + t);
            assertClose(cpu.toHost(values.cpu), g.toHost(values.gpu), t, "batched cache values, RoPE " + t);

            AttentionSpec gpt2 = gpt2Spec(2, 1, 3, 64);
            int width = 3 * 3 * 64;
            Pair qkv = pair(cpu, g, gaussian(r, 2 * width, 1.5), 2, width);
            Pair bias = pair(cpu, g, gaussian(r, width, 0.5), 3, width / 3);
            float[] zeros = new float[2 * stride * 3 * 64];
            Pair keys2 = pair(cpu, g, zeros, 2 * stride, 3 * 64);
            Pair values2 = pair(cpu, g, zeros, 2 * stride, 3 * 64);
            int[] pos2 = {stride - 1, 3};
            cpu.storeKeysValues(qkv.cpu, 3 * 64, qkv.cpu, 6 * 64, bias.cpu, cpu.ints(pos2), gpt2, keys2.cpu,
                    values2.cpu, stride, 0);
            g.storeKeysValues(qkv.gpu, 3 * 64, qkv.gpu, 6 * 64, bias.gpu, g.ints(pos2), gpt2, keys2.gpu,
                    values2.gpu, stride, 0);
            assertClose(cpu.toHost(keys2.cpu), g.toHost(keys2.gpu), t, "batched cache keys, packed with bias " + t);
            assertClose(cpu.toHost(values2.cpu), g.toHost(values2.gpu), t, "batched cache values, packed " + t);
            assertThrows(IllegalArgumentException.class, () -> g.storeKeysValues(qkv.gpu, 3 * 64, qkv.gpu, 6 * 64,
                    bias.gpu, g.ints(pos2), gpt2, keys2.gpu, values2.gpu, stride + 1, 0));
        }
    }

    private void checkAttention(DType t, AttentionSpec spec, int[] mask, int[] pos, long seed) {
        Random r = new Random(seed);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        int tokens = spec.batch() * spec.seq();
        try (Ops.Scope s = g.scope()) {
            Pair q = pair(cpu, g, gaussian(r, tokens * spec.numHeads() * spec.headDim(), 1.5), tokens,
                    spec.numHeads() * spec.headDim());
            Pair k = pair(cpu, g, gaussian(r, tokens * spec.numKvHeads() * spec.headDim(), 1.5), tokens,
                    spec.numKvHeads() * spec.headDim());
            Pair v = pair(cpu, g, gaussian(r, tokens * spec.numKvHeads() * spec.headDim(), 1.0), tokens,
                    spec.numKvHeads() * spec.headDim());
            float[] expected = cpu.toHost(cpu.attention(q.cpu, k.cpu, v.cpu, cpu.ints(mask), cpu.ints(pos), spec));
            float[] actual = g.toHost(g.attention(q.gpu, k.gpu, v.gpu, g.ints(mask), g.ints(pos), spec));
            assertClose(expected, actual, t, "attention H=" + spec.numHeads() + " Hkv=" + spec.numKvHeads() + " rope="
                    + spec.rope() + " causal=" + spec.causal() + " " + t);
            // rows whose every visible key is masked are zeros, not NaN
            for (int i = 0; i < mask.length; i++) {
                boolean anyVisible = false;
                int b = i / spec.seq();
                int last = spec.causal() ? i : (b + 1) * spec.seq() - 1;
                for (int j = b * spec.seq(); j <= last; j++) {
                    anyVisible |= mask[j] != 0;
                }
                if (!anyVisible) {
                    for (int c = 0; c < spec.numHeads() * spec.headDim(); c++) {
                        assertEquals(0f, actual[i * spec.numHeads() * spec.headDim() + c], "row " + i);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16"})
    void crossEntropySumAndCount(DType t) {
        Random r = new Random(9);
        CpuOps cpu = new CpuOps(t);
        CudaOps g = gpu(t);
        try (Ops.Scope s = g.scope()) {
            int n = 45;
            int vocab = 1003;
            Pair logits = pair(cpu, g, gaussian(r, n * vocab, 3.0), n, vocab);
            int[] targets = new int[n];
            for (int i = 0; i < n; i++) {
                targets[i] = r.nextInt(vocab);
            }
            targets[3] = -1;
            targets[10] = -100;
            targets[44] = -1;
            float[] expected = cpu.toHost(cpu.crossEntropy(logits.cpu, cpu.ints(targets)));
            Tensor loss = g.crossEntropy(logits.gpu, g.ints(targets));
            assertEquals(DType.F32, loss.dtype());
            float[] actual = g.toHost(loss);
            assertEquals(42f, actual[1], 0f, "count");
            // the sum is fp32 over 42 rows in both dtypes: relative 1e-5 of the sum
            assertClose(expected, actual, 1e-4, 1e-5, "crossEntropy " + t);

            // GPT-2's vocabulary: odd row length, so rows start at every alignment
            int n2 = 9;
            int v2 = 50257;
            Pair big = pair(cpu, g, gaussian(r, n2 * v2, 4.0), n2, v2);
            int[] t2 = new int[n2];
            for (int i = 0; i < n2; i++) {
                t2[i] = i == 4 ? -1 : r.nextInt(v2);
            }
            t2[0] = v2 - 1;
            assertClose(cpu.toHost(cpu.crossEntropy(big.cpu, cpu.ints(t2))), g.toHost(g.crossEntropy(big.gpu, g.ints(t2))),
                    1e-4, 1e-5, "crossEntropy V=50257 " + t);
        }
    }

    @Test
    void parametersLiveInOneAlignedBufferAndConvertOnUpload() {
        Random r = new Random(10);
        float[] a = gaussian(r, 3 * 5, 1.0);
        float[] b = gaussian(r, 7, 1.0);
        float[] c = gaussian(r, 2 * 3 * 4, 1.0);
        List<HostTensor> host = List.of(HostTensor.ofFloats("a", a, 3, 5), HostTensor.ofFloats("b", b, 7),
                HostTensor.ofFloats("c", c, 2, 3, 4));
        try (Parameters p = bf16.createParameters(host, DType.BF16)) {
            assertEquals(3, p.count());
            assertEquals(DType.BF16, p.dtype());
            for (int i = 0; i < 3; i++) {
                assertEquals(0, (p.offset(i) * 2) % 256, "offset of parameter " + i);
            }
            assertEquals(0, p.offset(0));
            assertEquals(128, p.offset(1)); // 15 bf16 values padded to 256 bytes
            assertEquals(256, p.offset(2));
            assertEquals(384, p.totalElements());
            Tensor cv = p.weight(2);
            assertEquals(6, cv.rows());
            assertEquals(4, cv.cols());
            float[] back = bf16.toHost(cv);
            for (int i = 0; i < c.length; i++) {
                assertEquals(DType.BF16.round(c[i]), back[i], 0f);
            }
            float[] bb = bf16.toHost(p.weight(1));
            for (int i = 0; i < b.length; i++) {
                assertEquals(DType.BF16.round(b[i]), bb[i], 0f);
            }
        }
    }

    @Test
    void f16ParametersConvertOnUploadAndOverflowIsRefused() {
        Random r = new Random(27);
        float[] a = gaussian(r, 3 * 5, 1.0);
        a[0] = 1 + 0x1p-11f; // a tie
        a[1] = 3 * 0x1p-25f; // a subnormal tie
        a[2] = -65519f; // rounds to the largest finite half
        float[] b = gaussian(r, 7, 1.0);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(2 * b.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float v : b) {
            bb.putShort(DType.floatToBf16(v));
        }
        // f32 and bf16 host tensors, converted to f16 on upload
        List<HostTensor> host = List.of(HostTensor.ofFloats("a", a, 3, 5),
                new HostTensor("b", DType.BF16, new long[] {7}, bb.flip()));
        try (Parameters p = f16.createParameters(host, DType.F16)) {
            assertEquals(DType.F16, p.dtype());
            assertEquals(128, p.offset(1)); // 15 f16 values padded to 256 bytes
            float[] back = f16.toHost(p.weight(0));
            for (int i = 0; i < a.length; i++) {
                assertEquals(DType.F16.round(a[i]), back[i], 0f, "a[" + i + "]");
            }
            assertEquals(2 * 0x1p-24f, back[1]);
            assertEquals(-65504f, back[2]);
            float[] bBack = f16.toHost(p.weight(1));
            for (int i = 0; i < b.length; i++) {
                assertEquals(DType.F16.round(DType.BF16.round(b[i])), bBack[i], 0f, "b[" + i + "]");
            }
        }
        List<HostTensor> big = List.of(HostTensor.ofFloats("lm_head.weight", new float[] {1f, 2f, 70000f}, 3));
        ZotuneException e = assertThrows(ZotuneException.class, () -> f16.createParameters(big, DType.F16));
        assertEquals("tensor lm_head.weight: element 2 = 70000.0 overflows f16 (largest finite 65504); load it as bf16"
                + " or f32", e.getMessage());
        try (Ops.Scope s = f16.scope(); Ops.Scope s2 = bf16.scope()) {
            Tensor x = f16.tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor xb = bf16.tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            ZotuneException e2 = assertThrows(ZotuneException.class, () -> f16.addInPlace(x, xb));
            assertTrue(e2.getMessage().contains("is BF16 but the CUDA backend computes in F16"), e2.getMessage());
        }
    }

    @Test
    void mismatchedDtypesAndShapesAreOneLineErrors() {
        try (Ops.Scope s = f32.scope()) {
            Tensor x = f32.tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor xb = f32.cast(x, DType.BF16);
            ZotuneException e = assertThrows(ZotuneException.class, () -> f32.addInPlace(x, xb));
            assertTrue(e.getMessage().contains("is BF16 but the CUDA backend computes in F32"), e.getMessage());
            Tensor w = f32.tensor(new float[] {1, 2, 3, 4}, 2, 2);
            IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> f32.linear(x, w, null));
            assertTrue(e2.getMessage().startsWith("linear: x is 2x3 but w is 2x2"), e2.getMessage());
        }
    }

    @Test
    void scopesReleaseInnermostFirstAndReuseAddresses() {
        IntTensor first;
        try (Ops.Scope outer = f32.scope()) {
            try (Ops.Scope inner = f32.scope()) {
                first = f32.ints(new int[] {1, 2, 3});
            }
            try (Ops.Scope inner = f32.scope()) {
                IntTensor again = f32.ints(new int[] {4, 5, 6});
                assertEquals(((CudaIntTensor) first).address(), ((CudaIntTensor) again).address());
                assertEquals(List.of(4, 5, 6), java.util.Arrays.stream(f32.toHost(again)).boxed().toList());
            }
            Ops.Scope a = f32.scope();
            Ops.Scope b = f32.scope();
            assertThrows(IllegalStateException.class, a::close);
            b.close();
            a.close();
        }
    }
}
