package org.zotune.backend.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
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
    private final FusedAttentionCases cases = new FusedAttentionCases("wide");

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
        System.out.println(cases.summary());
        for (CudaOps o : new CudaOps[] {wideBf16, longBf16, wideF16, longF16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    /** The defaults with the fused attention, its pipeline and the short kernels on, and the wide ones on or off. */
    private static CudaOptions options(boolean flashWide) {
        return FusedAttentionCases.options(true, flashWide, false, -1);
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
        cases.packed(t == DType.BF16 ? wideBf16 : wideF16, t == DType.BF16 ? longBf16 : longF16, t, runnableDims(),
                SEQS, 3, 3000L);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void separateQkvWithGroupedKvHeads(DType t) {
        cases.separate(t == DType.BF16 ? wideBf16 : wideF16, t == DType.BF16 ? longBf16 : longF16, t, runnableDims(),
                SEQS, 4, 2, 9000L);
    }

    /** The head dimensions whose wide kernel fits this device's shared memory (says which do not). */
    private int[] runnableDims() {
        return java.util.Arrays.stream(HEAD_DIMS).filter(this::wideRuns).toArray();
    }
}
