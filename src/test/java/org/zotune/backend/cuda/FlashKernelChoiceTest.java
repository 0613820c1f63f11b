package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * Which fused attention kernel the launcher picks (host logic, no GPU): the short kernel for T ≤ 256 when switched
 * on and its shared memory fits the device's opt-in limit, else the two-stage kernel for D ≤ 80 when switched on,
 * else the one-stage kernel; and the short kernel's shared-memory size, counted by hand from its layout (K and V of
 * roundup64(T) rows of D + 8 elements, then roundup64(T) ints).
 */
class FlashKernelChoiceTest {
    private static final int H100_OPTIN = 227 * 1024; // cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90
    private static final int SM86_OPTIN = 99 * 1024;

    @Test
    void sharedBytesFollowTheKernelsLayout() {
        // GPT-2 1.5B at T = 128: 128 rows · 72 elements · 2 (K, V) · 2 bytes + 128 mask ints · 4 + 64 bias values · 2
        assertEquals(36864 + 512 + 128, FlashAttentionKernels.shortSharedBytes(128, 64, 2));
        // T = 1 still stages one whole 64-row tile
        assertEquals(64 * 72 * 4 + 256 + 128, FlashAttentionKernels.shortSharedBytes(1, 64, 2));
        assertEquals(64 * 72 * 4 + 256 + 128, FlashAttentionKernels.shortSharedBytes(64, 64, 2));
        assertEquals(128 * 72 * 4 + 512 + 128, FlashAttentionKernels.shortSharedBytes(65, 64, 2));
        // the largest: T = 256, D = 128
        assertEquals(256 * 136 * 4 + 1024 + 256, FlashAttentionKernels.shortSharedBytes(256, 128, 2));
    }

    @Test
    void shortKernelUpTo256WhenOnAndItFits() {
        for (int t : new int[] {1, 7, 63, 64, 65, 127, 128, 129, 200, 256}) {
            for (int d : new int[] {64, 80, 96, 128}) {
                String w = t <= 128 ? "s4" : "s8"; // 64 query rows a block up to T = 128, 128 rows above
                assertEquals("flash_attention_" + w + "_d" + d,
                        FlashAttentionKernels.kernelName(true, t, d, true, true, 2, H100_OPTIN), "T=" + t);
                assertEquals("flash_attention_bidir_" + w + "_d" + d,
                        FlashAttentionKernels.kernelName(false, t, d, false, true, 2, H100_OPTIN), "T=" + t);
            }
        }
    }

    @Test
    void longerSequencesAndTheSwitchOffKeepThe64RowKernels() {
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 257, 64, true, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_bidir_p_d80", FlashAttentionKernels.kernelName(false, 512, 80, true, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_d96", FlashAttentionKernels.kernelName(true, 300, 96, true, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 128, 64, true, false, 2,
                H100_OPTIN));
        assertEquals("flash_attention_bidir_d64", FlashAttentionKernels.kernelName(false, 128, 64, false, false, 2,
                H100_OPTIN));
        assertEquals("flash_attention_d128", FlashAttentionKernels.kernelName(true, 64, 128, true, false, 2,
                H100_OPTIN));
    }

    @Test
    void aSmallerSharedMemoryLimitFallsBack() {
        // 99 KB (sm_86 / sm_89): T = 256 at D = 128 needs 137 KB, at D = 64 73 KB
        assertEquals("flash_attention_d128", FlashAttentionKernels.kernelName(true, 256, 128, true, true, 2,
                SM86_OPTIN));
        assertEquals("flash_attention_s8_d64", FlashAttentionKernels.kernelName(true, 256, 64, true, true, 2,
                SM86_OPTIN));
        assertEquals("flash_attention_s4_d128", FlashAttentionKernels.kernelName(true, 128, 128, true, true, 2,
                SM86_OPTIN));
        // no opt-in known (0): never the short kernel
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 128, 64, true, true, 2, 0));
    }

    @Test
    void wideSharedBytesFollowTheKernelsLayout() {
        // two stages of 64 K rows and 64 V rows plus 128 Q rows, 72 elements of 2 bytes each, then 128 mask ints and
        // 64 bias values
        assertEquals((2 * 64 * 2 + 128) * 72 * 2 + 128 * 4 + 64 * 2, FlashAttentionKernels.wideSharedBytes(64, 2));
        assertEquals(55936, FlashAttentionKernels.wideSharedBytes(64, 2));
        assertEquals(384 * 136 * 2 + 512 + 256, FlashAttentionKernels.wideSharedBytes(128, 2));
    }

    @Test
    void wideKernelAbove256WhenSwitchedOnAndItFits() {
        for (int t : new int[] {257, 300, 511, 512, 513, 1000, 1024, 4096}) {
            for (int d : new int[] {64, 80, 96, 128}) {
                assertEquals("flash_attention_w_d" + d,
                        FlashAttentionKernels.kernelName(true, t, d, true, true, true, 2, H100_OPTIN), "T=" + t);
                assertEquals("flash_attention_bidir_w_d" + d,
                        FlashAttentionKernels.kernelName(false, t, d, false, false, true, 2, H100_OPTIN), "T=" + t);
            }
        }
        // switched off (the default): the 64-row kernels, as before
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 512, 64, true, true, false, 2,
                H100_OPTIN));
        assertEquals("flash_attention_bidir_d128", FlashAttentionKernels.kernelName(false, 1024, 128, true, true,
                false, 2, H100_OPTIN));
    }

    @Test
    void theWideSwitchLeavesShortSequencesAlone() {
        // T <= 256: the short kernel where it is on, else the 64-row kernels; never the wide one
        assertEquals("flash_attention_s8_d64", FlashAttentionKernels.kernelName(true, 256, 64, true, true, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_s4_d96", FlashAttentionKernels.kernelName(true, 128, 96, true, true, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 256, 64, true, false, true, 2,
                H100_OPTIN));
        assertEquals("flash_attention_bidir_d96", FlashAttentionKernels.kernelName(false, 64, 96, true, false, true,
                2, H100_OPTIN));
    }

    @Test
    void theWideKernelFallsBackWhereItsSharedMemoryDoesNotFit() {
        // 99 KB (sm_86 / sm_89): D = 128 needs 102.5 KB, D = 96 78.5 KB
        assertEquals("flash_attention_d128", FlashAttentionKernels.kernelName(true, 512, 128, true, true, true, 2,
                SM86_OPTIN));
        assertEquals("flash_attention_w_d96", FlashAttentionKernels.kernelName(true, 512, 96, true, true, true, 2,
                SM86_OPTIN));
        // no opt-in known (0): never the wide kernel
        assertEquals("flash_attention_p_d64", FlashAttentionKernels.kernelName(true, 512, 64, true, true, true, 2,
                0));
    }

    @Test
    void hopperSharedBytesFollowTheKernelsLayout() {
        // 1024 bytes of alignment slack, three stages of a 64 x 64 K and V tile of 2-byte values, three stages of 64
        // mask ints, 64 bias values
        assertEquals(1024 + 3 * 2 * 64 * 64 * 2 + 3 * 64 * 4 + 64 * 2, FlashAttentionKernels.hopperSharedBytes(2));
        assertEquals(51072, FlashAttentionKernels.hopperSharedBytes(2));
    }

    @Test
    void theHopperKernelComesFirstAtD64() {
        for (int t : new int[] {1, 64, 128, 256, 257, 512, 1024, 4096}) {
            assertEquals("flash_attention_h_d64",
                    FlashAttentionKernels.kernelName(true, t, 64, true, true, false, true, 2, H100_OPTIN), "T=" + t);
            assertEquals("flash_attention_bidir_h_d64",
                    FlashAttentionKernels.kernelName(false, t, 64, true, true, true, true, 2, H100_OPTIN), "T=" + t);
        }
        // other head dimensions: as without it
        assertEquals("flash_attention_bidir_p_d80", FlashAttentionKernels.kernelName(false, 512, 80, true, true,
                false, true, 2, H100_OPTIN));
        assertEquals("flash_attention_w_d128", FlashAttentionKernels.kernelName(true, 512, 128, true, true, true,
                true, 2, H100_OPTIN));
        assertEquals("flash_attention_s4_d96", FlashAttentionKernels.kernelName(true, 100, 96, true, true, false,
                true, 2, H100_OPTIN));
        // not taken for this launch (switched off, another compute capability, too small a grid): as before
        assertEquals("flash_attention_bidir_p_d64", FlashAttentionKernels.kernelName(false, 512, 64, true, true,
                false, false, 2, H100_OPTIN));
        assertEquals("flash_attention_s8_d64", FlashAttentionKernels.kernelName(true, 256, 64, true, true, false,
                false, 2, H100_OPTIN));
    }

    @Test
    void theHopperGridIsOneBlockPer128QueryRowsOfEachHead() {
        // RoBERTa-large 32x512: 32 sequences x 16 heads x 4 blocks; GPT-2 1.5B 16x128: 16 x 25 x 1
        assertEquals(2048, FlashAttentionKernels.hopperBlocks(32, 16, 512));
        assertEquals(400, FlashAttentionKernels.hopperBlocks(16, 25, 128));
        // B = 2, H = 4, T = 1000: 64 blocks, fewer than an H100's 132 SMs (the 64-row kernel measured faster there)
        assertEquals(64, FlashAttentionKernels.hopperBlocks(2, 4, 1000));
        assertEquals(8, FlashAttentionKernels.hopperBlocks(2, 4, 1));
        assertEquals(16, FlashAttentionKernels.hopperBlocks(2, 4, 129));
    }

    @Test
    void float32KernelsAtHeadDimensions32And64() {
        assertEquals("flash_attention_x3_d64", FlashAttentionKernels.x3KernelName(true, 64));
        assertEquals("flash_attention_bidir_x3_d32", FlashAttentionKernels.x3KernelName(false, 32));
        for (int d = 1; d <= 256; d++) {
            assertEquals(d == 32 || d == 64, FlashAttentionKernels.x3HeadDim(d), "D=" + d);
        }
        // two stages of a 64-key K and V tile of D floats, 2·64 mask ints, D floats of v's bias:
        // D = 64: 4 · 64 · 64 · 4 = 65536 bytes of tiles + 512 + 256; three blocks fit an H100 SM (228 KB)
        assertEquals(65536 + 512 + 256, FlashAttentionKernels.x3SharedBytes(64));
        assertEquals(32768 + 512 + 128, FlashAttentionKernels.x3SharedBytes(32));
        assertEquals(true, 3 * (FlashAttentionKernels.x3SharedBytes(64) + 1024) <= 228 * 1024);
    }
}
