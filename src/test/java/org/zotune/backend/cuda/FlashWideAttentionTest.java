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
import org.zotune.backend.cpu.CpuOps;
import org.zotune.cuda.Cuda;
import org.zotune.tensor.DType;

/**
 * The wide fused attention (flash_attention[_bidir]_w_d*, 128 query rows a block and 2 m-tiles a warp, chosen for
 * T > 256 with -Dzotune.cuda.flashWide=true) against the plain-Java reference ({@link CpuOps}, the tolerances of
 * {@link CudaOpsTest}) and against the 64-row kernels it replaces (the same backend with flashWide off), on every
 * built head dimension, causal and bidirectional, packed q|k|v with and without the fused bias, separate q, k, v with
 * grouped kv heads, and key-padding masks with holes, left padding (causal rows with no visible key) and a sequence
 * of padding only (rows of zeros), as {@link FlashShortAttentionTest} does for the short kernels. Each case prints
 * its max abs / rel differences to both and how many elements differ from the 64-row kernel's bits (the kernel is
 * built to give the same bits: the same key tiles, fragments and per-row operations; that count is reported, the
 * tolerances are asserted).
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlashWideAttentionTest {
    private static final int[] SEQS = {257, 300, 511, 512, 513, 1000, 1024};
    private static final int[] HEAD_DIMS = {64, 80, 96, 128};

    private CudaOps wideBf16;
    private CudaOps longBf16;
    private CudaOps wideF16;
    private CudaOps longF16;
    private int optin;
    private int cases;
    private int differingCases;

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        wideBf16 = CudaOps.create(DType.BF16, options(true));
        longBf16 = CudaOps.create(DType.BF16, options(false));
        wideF16 = CudaOps.create(DType.F16, options(true));
        longF16 = CudaOps.create(DType.F16, options(false));
        optin = Cuda.maxSharedPerBlockOptin();
        System.out.println("device: " + wideBf16.device() + ", opt-in shared memory per block " + optin + " bytes");
        for (int d : HEAD_DIMS) {
            System.out.printf("D=%d: T=512 runs %s (wide: %d bytes of shared memory) against %s%n", d,
                    FlashAttentionKernels.kernelName(true, 512, d, true, true, true, 2, optin),
                    FlashAttentionKernels.wideSharedBytes(d, 2),
                    FlashAttentionKernels.kernelName(true, 512, d, true, true, false, 2, optin));
        }
    }

    @AfterAll
    void close() {
        if (cases > 0) {
            System.out.printf("wide vs 64-row kernel: %d of %d cases differ in some bit%n", differingCases, cases);
        }
        for (CudaOps o : new CudaOps[] {wideBf16, longBf16, wideF16, longF16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    /** The defaults with the fused attention, its pipeline and the short kernels on, and the wide ones on or off. */
    private static CudaOptions options(boolean flashWide) {
        CudaOptions d = CudaOptions.fromSystemProperties();
        return new CudaOptions(d.fuseNorm(), d.fuseBias(), d.stridedLogits(), true, true, true, true,
                d.ltEpilogue(), d.arenaChunkMiB(), d.captureHostMiB(), flashWide);
    }

    /** Whether the wide kernel runs at head dimension d here (its shared memory fits); says so when it does not. */
    private boolean wideRuns(int d) {
        if (FlashAttentionKernels.useWide(1024, d, true, 2, optin)) {
            return true;
        }
        System.out.printf("D=%d: the wide kernel needs %d bytes of shared memory, this device allows %d: not run%n",
                d, FlashAttentionKernels.wideSharedBytes(d, 2), optin);
        return false;
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void packedQkvWithAndWithoutBias(DType t) {
        CudaOps wideOps = t == DType.BF16 ? wideBf16 : wideF16;
        CudaOps longOps = t == DType.BF16 ? longBf16 : longF16;
        CpuOps cpu = new CpuOps(t);
        int b = 3; // sequence 0: a hole; 1: left padding; 2: padding only
        int h = 3; // B·H = 9
        for (int d : HEAD_DIMS) {
            if (!wideRuns(d)) {
                continue;
            }
            for (int seq : SEQS) {
                Random r = new Random(3000L * d + seq);
                int tokens = b * seq;
                int width = 3 * h * d;
                float[] qkv = gaussian(r, tokens * width, 1.5);
                float[] bias = gaussian(r, width, 0.5);
                int[] mask = FlashShortAttentionTest.mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, h, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    for (boolean withBias : new boolean[] {false, true}) {
                        float[] expected = cpu.toHost(cpu.attentionPacked(cpu.tensor(qkv, tokens, width),
                                withBias ? cpu.tensor(bias, 3, width / 3) : null, cpu.ints(mask),
                                cpu.ints(new int[tokens]), spec));
                        float[] wide = FlashShortAttentionTest.packed(wideOps, qkv, bias, withBias, mask, tokens,
                                width, spec);
                        float[] current = FlashShortAttentionTest.packed(longOps, qkv, bias, withBias, mask, tokens,
                                width, spec);
                        compare(expected, wide, current, t, "packed D=" + d + " T=" + seq + " B=" + b + " H=" + h
                                + (causal ? " causal" : " bidir") + " bias=" + withBias + " " + t);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void separateQkvWithGroupedKvHeads(DType t) {
        CudaOps wideOps = t == DType.BF16 ? wideBf16 : wideF16;
        CudaOps longOps = t == DType.BF16 ? longBf16 : longF16;
        CpuOps cpu = new CpuOps(t);
        int b = 3;
        int h = 4;
        int hkv = 2;
        for (int d : HEAD_DIMS) {
            if (!wideRuns(d)) {
                continue;
            }
            for (int seq : SEQS) {
                Random r = new Random(9000L * d + seq);
                int tokens = b * seq;
                float[] q = gaussian(r, tokens * h * d, 1.5);
                float[] k = gaussian(r, tokens * hkv * d, 1.5);
                float[] v = gaussian(r, tokens * hkv * d, 1.0);
                int[] mask = FlashShortAttentionTest.mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, hkv, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    float[] expected = cpu.toHost(cpu.attention(cpu.tensor(q, tokens, h * d),
                            cpu.tensor(k, tokens, hkv * d), cpu.tensor(v, tokens, hkv * d), cpu.ints(mask),
                            cpu.ints(new int[tokens]), spec));
                    float[] wide = FlashShortAttentionTest.separate(wideOps, q, k, v, mask, tokens, spec);
                    float[] current = FlashShortAttentionTest.separate(longOps, q, k, v, mask, tokens, spec);
                    compare(expected, wide, current, t, "gqa D=" + d + " T=" + seq + " H=" + h + " Hkv=" + hkv
                            + (causal ? " causal" : " bidir") + " " + t);
                }
            }
        }
    }

    /**
     * Prints max |abs| and max rel differences of the wide kernel to the reference and to the 64-row kernel and how
     * many elements differ in their bits, then holds both to the fused attention's tolerance against the reference
     * (and each other).
     */
    private void compare(float[] expected, float[] wide, float[] current, DType t, String what) {
        assertEquals(expected.length, wide.length, what + ": length");
        double absRef = 0;
        double relRef = 0;
        double absCur = 0;
        double relCur = 0;
        int differing = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = Math.abs(wide[i] - expected[i]);
            absRef = Math.max(absRef, e);
            relRef = Math.max(relRef, e / Math.max(Math.abs(expected[i]), 1e-3));
            double c = Math.abs(wide[i] - current[i]);
            absCur = Math.max(absCur, c);
            relCur = Math.max(relCur, c / Math.max(Math.abs(current[i]), 1e-3));
            if (Float.floatToRawIntBits(wide[i]) != Float.floatToRawIntBits(current[i])) {
                differing++;
            }
        }
        cases++;
        if (differing > 0) {
            differingCases++;
        }
        System.out.printf("%-52s vs CPU: max abs %.3e rel %.3e | vs 64-row kernel: max abs %.3e rel %.3e, %d of %d"
                + " differ%n", what, absRef, relRef, absCur, relCur, differing, expected.length);
        assertClose(expected, current, t, what + " (64-row kernel vs CPU)");
        assertClose(expected, wide, t, what + " (wide kernel vs CPU)");
        assertClose(current, wide, t, what + " (wide kernel vs 64-row kernel)");
    }
}
