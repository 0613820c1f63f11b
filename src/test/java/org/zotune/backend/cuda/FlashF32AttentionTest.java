package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/**
 * The float32 fused attention (flash_attention[_bidir]_x3_d{32,64}_f32: both products on the tensor cores in 3xTF32,
 * each operand split into two TF32 parts) against the plain-Java reference ({@link CpuOps}, float32's tolerances of
 * {@link CudaOpsTest}: 1e-5 absolute plus 1e-5 relative) and against the unfused path it replaces (the same backend
 * with -Dzotune.cuda.flashF32=false: scores through device memory, cuBLAS SGEMM), at D = 32 and 64, at lengths on both
 * sides of its 64-row blocks and key tiles: causal and bidirectional, packed q|k|v with and without the fused bias,
 * separate q, k, v with grouped kv heads, key-padding masks with holes, left padding (causal rows with no visible key)
 * and a sequence of padding only (rows of zeros) ({@link FusedAttentionCases}). The two GPU paths round differently,
 * so the count of differing elements is printed, not asserted.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlashF32AttentionTest {
    private static final int[] SEQS = {1, 7, 63, 64, 65, 127, 128, 129, 200, 257, 511, 512, 513};
    private static final int[] HEAD_DIMS = {32, 64};

    private CudaOps x3;
    private CudaOps unfused;
    private final FusedAttentionCases cases = new FusedAttentionCases("x3", "unfused path");

    @BeforeAll
    void open() {
        GpuTestSupport.assumeGpu();
        CudaOptions d = CudaOptions.fromSystemProperties();
        x3 = CudaOps.create(DType.F32, d.withFlashF32(true));
        unfused = CudaOps.create(DType.F32, d.withFlashF32(false));
        System.out.println("device: " + x3.device());
    }

    @AfterAll
    void close() {
        System.out.println(cases.summary());
        for (CudaOps o : new CudaOps[] {x3, unfused}) {
            if (o != null) {
                o.close();
            }
        }
    }

    @Test
    void theSwitchChoosesThePath() {
        assertTrue(x3.x3Attention(), "flashF32 on: the 3xTF32 kernels run");
        assertFalse(unfused.x3Attention(), "flashF32 off: the unfused path runs");
    }

    @Test
    void packedQkvWithAndWithoutBias() {
        // B·H = 15: a multiple of nothing the kernel tiles by
        cases.packed(x3, unfused, DType.F32, HEAD_DIMS, SEQS, 5, 21000L);
    }

    @Test
    void separateQkvWithGroupedKvHeads() {
        cases.separate(x3, unfused, DType.F32, HEAD_DIMS, SEQS, 6, 2, 23000L);
    }
}
