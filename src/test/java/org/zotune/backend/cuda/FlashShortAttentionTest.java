package org.zotune.backend.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/**
 * The short-sequence fused attention (flash_attention[_bidir]_s_d*, chosen for T ≤ 256) against the plain-Java
 * reference ({@link CpuOps}, the tolerances of {@link CudaOpsTest}) and against the 64-row kernels it replaces
 * (the same backend with -Dzotune.cuda.flashShort=false), on every built head dimension, causal and bidirectional,
 * packed q|k|v with and without the fused bias, separate q, k, v with grouped kv heads, and key-padding masks with
 * holes, left padding (causal rows with no visible key) and a sequence of padding only (rows of zeros)
 * ({@link FusedAttentionCases}). Each case prints its max abs / rel differences to both and how many elements differ
 * from the 64-row kernel's bits.
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
    private final FusedAttentionCases cases = new FusedAttentionCases("short");

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
        System.out.println(cases.summary());
        for (CudaOps o : new CudaOps[] {shortBf16, longBf16, shortF16, longF16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    /** The defaults with the fused attention and its pipeline on and the short kernels on or off. */
    private static CudaOptions options(boolean flashShort) {
        return FusedAttentionCases.options(flashShort, false, false, -1);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void packedQkvWithAndWithoutBias(DType t) {
        // B·H = 15: a multiple of nothing the kernels tile by
        cases.packed(t == DType.BF16 ? shortBf16 : shortF16, t == DType.BF16 ? longBf16 : longF16, t, HEAD_DIMS, SEQS,
                5, 1000L);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void separateQkvWithGroupedKvHeads(DType t) {
        cases.separate(t == DType.BF16 ? shortBf16 : shortF16, t == DType.BF16 ? longBf16 : longF16, t, HEAD_DIMS,
                SEQS, 6, 2, 7000L);
    }
}
