package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;
import static org.zotune.backend.cuda.GpuTestSupport.gaussian;

import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/**
 * The short-sequence fused attention (flash_attention[_bidir]_s_d*, chosen for T ≤ 256) against the plain-Java
 * reference ({@link CpuOps}, the tolerances of {@link CudaOpsTest}) and against the 64-row kernels it replaces
 * (the same backend with -Dzotune.cuda.flashShort=false), on every built head dimension, causal and bidirectional,
 * packed q|k|v with and without the fused bias, separate q, k, v with grouped kv heads, and key-padding masks with
 * holes, left padding (causal rows with no visible key) and a sequence of padding only (rows of zeros). Each case
 * prints its max abs / rel differences to both and whether the two kernels agree bitwise.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlashShortAttentionTest {
    private static final int[] SEQS = {1, 7, 63, 64, 65, 127, 128, 129, 200, 256};
    private static final int[] HEAD_DIMS = {64, 80, 96, 128};

    private CudaOps shortBf16;
    private CudaOps longBf16;
    private CudaOps shortF16;
    private CudaOps longF16;

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        shortBf16 = CudaOps.create(DType.BF16, options(true));
        longBf16 = CudaOps.create(DType.BF16, options(false));
        shortF16 = CudaOps.create(DType.F16, options(true));
        longF16 = CudaOps.create(DType.F16, options(false));
        System.out.println("device: " + shortBf16.device());
    }

    @AfterAll
    void close() {
        for (CudaOps o : new CudaOps[] {shortBf16, longBf16, shortF16, longF16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    /** The defaults with the fused attention and its pipeline on and the short kernels on or off. */
    private static CudaOptions options(boolean flashShort) {
        CudaOptions d = CudaOptions.fromSystemProperties();
        return new CudaOptions(d.fuseNorm(), d.fuseBias(), d.stridedLogits(), true, true, true, flashShort,
                d.ltEpilogue(), d.arenaChunkMiB(), d.captureHostMiB(), false);
    }

    /** Sequence 0: a hole; sequence 1: left padding; sequence 2: padding only. */
    static int[] mask(int b, int seq) {
        int[] m = new int[b * seq];
        java.util.Arrays.fill(m, 0, Math.min(2, b) * seq, 1);
        if (seq > 2) {
            m[seq / 2] = 0;
        }
        for (int i = 0; i < Math.min(9, seq / 2) && b > 1; i++) {
            m[seq + i] = 0;
        }
        return m;
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void packedQkvWithAndWithoutBias(DType t) {
        CudaOps shortOps = t == DType.BF16 ? shortBf16 : shortF16;
        CudaOps longOps = t == DType.BF16 ? longBf16 : longF16;
        CpuOps cpu = new CpuOps(t);
        int b = 3;
        int h = 5; // B·H = 15: a multiple of nothing the kernels tile by
        for (int d : HEAD_DIMS) {
            for (int seq : SEQS) {
                Random r = new Random(1000L * d + seq);
                int tokens = b * seq;
                int width = 3 * h * d;
                float[] qkv = gaussian(r, tokens * width, 1.5);
                float[] bias = gaussian(r, width, 0.5);
                int[] mask = mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, h, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    for (boolean withBias : new boolean[] {false, true}) {
                        float[] expected = cpu.toHost(cpu.attentionPacked(cpu.tensor(qkv, tokens, width),
                                withBias ? cpu.tensor(bias, 3, width / 3) : null, cpu.ints(mask),
                                cpu.ints(new int[tokens]), spec));
                        float[] fast = packed(shortOps, qkv, bias, withBias, mask, tokens, width, spec);
                        float[] current = packed(longOps, qkv, bias, withBias, mask, tokens, width, spec);
                        compare(expected, fast, current, t, "packed D=" + d + " T=" + seq + " B=" + b + " H=" + h
                                + (causal ? " causal" : " bidir") + " bias=" + withBias + " " + t);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void separateQkvWithGroupedKvHeads(DType t) {
        CudaOps shortOps = t == DType.BF16 ? shortBf16 : shortF16;
        CudaOps longOps = t == DType.BF16 ? longBf16 : longF16;
        CpuOps cpu = new CpuOps(t);
        int b = 3;
        int h = 6;
        int hkv = 2;
        for (int d : HEAD_DIMS) {
            for (int seq : SEQS) {
                Random r = new Random(7000L * d + seq);
                int tokens = b * seq;
                float[] q = gaussian(r, tokens * h * d, 1.5);
                float[] k = gaussian(r, tokens * hkv * d, 1.5);
                float[] v = gaussian(r, tokens * hkv * d, 1.0);
                int[] mask = mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, hkv, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    float[] expected = cpu.toHost(cpu.attention(cpu.tensor(q, tokens, h * d),
                            cpu.tensor(k, tokens, hkv * d), cpu.tensor(v, tokens, hkv * d), cpu.ints(mask),
                            cpu.ints(new int[tokens]), spec));
                    float[] fast = separate(shortOps, q, k, v, mask, tokens, spec);
                    float[] current = separate(longOps, q, k, v, mask, tokens, spec);
                    compare(expected, fast, current, t, "gqa D=" + d + " T=" + seq + " H=" + h + " Hkv=" + hkv
                            + (causal ? " causal" : " bidir") + " " + t);
                }
            }
        }
    }

    static float[] packed(CudaOps g, float[] qkv, float[] bias, boolean withBias, int[] mask, int tokens,
                                  int width, AttentionSpec spec) {
        try (Ops.Scope s = g.scope()) {
            Tensor x = g.tensor(qkv, tokens, width);
            Tensor bb = withBias ? g.tensor(bias, 3, width / 3) : null;
            return g.toHost(g.attentionPacked(x, bb, g.ints(mask), g.ints(new int[tokens]), spec));
        }
    }

    static float[] separate(CudaOps g, float[] q, float[] k, float[] v, int[] mask, int tokens,
                                    AttentionSpec spec) {
        int h = spec.numHeads();
        int hkv = spec.numKvHeads();
        int d = spec.headDim();
        try (Ops.Scope s = g.scope()) {
            return g.toHost(g.attention(g.tensor(q, tokens, h * d), g.tensor(k, tokens, hkv * d),
                    g.tensor(v, tokens, hkv * d), g.ints(mask), g.ints(new int[tokens]), spec));
        }
    }

    /**
     * Prints max |abs| and max rel differences of the short kernel to the reference and to the current kernel, then
     * holds both to the fused attention's tolerance against the reference (and each other).
     */
    private static void compare(float[] expected, float[] fast, float[] current, DType t, String what) {
        assertEquals(expected.length, fast.length, what + ": length");
        double absRef = 0;
        double relRef = 0;
        double absCur = 0;
        double relCur = 0;
        int differing = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = Math.abs(fast[i] - expected[i]);
            absRef = Math.max(absRef, e);
            relRef = Math.max(relRef, e / Math.max(Math.abs(expected[i]), 1e-3));
            double c = Math.abs(fast[i] - current[i]);
            absCur = Math.max(absCur, c);
            relCur = Math.max(relCur, c / Math.max(Math.abs(current[i]), 1e-3));
            if (Float.floatToRawIntBits(fast[i]) != Float.floatToRawIntBits(current[i])) {
                differing++;
            }
        }
        System.out.printf("%-52s vs CPU: max abs %.3e rel %.3e | vs 64-row kernel: max abs %.3e rel %.3e, %d of %d"
                + " differ%n", what, absRef, relRef, absCur, relCur, differing, expected.length);
        assertClose(expected, current, t, what + " (64-row kernel vs CPU)");
        assertClose(expected, fast, t, what + " (short kernel vs CPU)");
        assertClose(current, fast, t, what + " (short kernel vs 64-row kernel)");
    }
}
