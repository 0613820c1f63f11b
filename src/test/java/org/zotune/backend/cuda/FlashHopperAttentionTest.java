package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.cuda.Cuda;
import org.zotune.tensor.DType;

/**
 * The Hopper fused attention (flash_attention[_bidir]_h_d64, warpgroup MMA, 128 query rows a block; by default on a
 * compute capability 9.0 GPU at D = 64 where its grid fills the GPU, here at every size: hopperMinBlocks 0, short
 * kernels off) against the plain-Java reference ({@link CpuOps}, the tolerances of {@link CudaOpsTest}) and against
 * the 64-row kernels (the same backend with it off), at lengths on both sides of its 128-row blocks and 64-key tiles:
 * causal and bidirectional, packed q|k|v with and without the fused bias, separate q, k, v with grouped kv heads,
 * key-padding masks with holes, left padding (causal rows with no visible key) and a sequence of padding only (rows
 * of zeros), as {@link FlashWideAttentionTest} does for the wide kernels. Nothing promises the 64-row kernels' bits
 * (wgmma's tensor cores may sum in another order than mma.sync's; on an H100, 2026-12-06, 0 of 180 cases differed in
 * any bit): how many elements differ is printed, the tolerances are asserted. Skipped on GPUs other than compute
 * capability 9.0, which it is not built for.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlashHopperAttentionTest {
    private static final int[] SEQS = {1, 63, 64, 65, 127, 128, 129, 200, 257, 300, 511, 512, 513, 1000, 1024};
    private static final int[] HEAD_DIMS = {64};

    private CudaOps hopperBf16;
    private CudaOps longBf16;
    private CudaOps hopperF16;
    private CudaOps longF16;
    private final FusedAttentionCases cases = new FusedAttentionCases("hopper");

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        int cc = Cuda.computeCapability();
        Assumptions.assumeTrue(cc == FlashAttentionKernels.HOPPER_CC,
                "compute capability " + cc + ": the Hopper kernels are built for 9.0 only");
        hopperBf16 = CudaOps.create(DType.BF16, options(true));
        longBf16 = CudaOps.create(DType.BF16, options(false));
        hopperF16 = CudaOps.create(DType.F16, options(true));
        longF16 = CudaOps.create(DType.F16, options(false));
        System.out.println("device: " + hopperBf16.device() + "; T=512 runs "
                + FlashAttentionKernels.kernelName(false, 512, 64, true, false, false, true, 2,
                        Cuda.maxSharedPerBlockOptin()) + " against "
                + FlashAttentionKernels.kernelName(false, 512, 64, true, false, false, false, 2,
                        Cuda.maxSharedPerBlockOptin()));
    }

    @AfterAll
    void close() {
        System.out.println(cases.summary());
        for (CudaOps o : new CudaOps[] {hopperBf16, longBf16, hopperF16, longF16}) {
            if (o != null) {
                o.close();
            }
        }
    }

    /** The defaults with the fused attention and its pipeline on, short and wide kernels off, Hopper's on or off. */
    private static CudaOptions options(boolean hopper) {
        return FusedAttentionCases.options(false, false, hopper, 0);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void packedQkvWithAndWithoutBias(DType t) {
        CudaOps candidate = t == DType.BF16 ? hopperBf16 : hopperF16;
        assertTrue(candidate.hopperAttention(), "the Hopper kernels are chosen on this device");
        cases.packed(candidate, t == DType.BF16 ? longBf16 : longF16, t, HEAD_DIMS, SEQS, 3, 4000L);
    }

    @ParameterizedTest
    @EnumSource(names = {"BF16", "F16"})
    void separateQkvWithGroupedKvHeads(DType t) {
        cases.separate(t == DType.BF16 ? hopperBf16 : hopperF16, t == DType.BF16 ? longBf16 : longF16, t, HEAD_DIMS,
                SEQS, 4, 2, 11000L);
    }
}
