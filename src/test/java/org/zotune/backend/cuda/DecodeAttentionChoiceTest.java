package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * When the fused decode attention is chosen (host logic, no GPU: a grid of (H, B·T) blocks), and its shared memory, counted by hand from the
 * kernel's layout: q [D], G = 128 / (D / N) partial output rows of D, a score per key, all float32; within the 48 KiB a
 * block gets without opting in, at the largest shape it takes.
 */
class DecodeAttentionChoiceTest {
    @Test
    void takesAFewQueriesOfWholeVectorHeadsOverABoundedCache() {
        assertTrue(DecodeAttentionKernels.takes(16, 1, 64, 160, 8), "GPT-2's decode step, bf16");
        assertTrue(DecodeAttentionKernels.takes(16, 8, 128, 8184, 8), "8 queries over the most rows");
        assertTrue(DecodeAttentionKernels.takes(16, 1, 4, 0, 4), "f32, D = 4, an empty cache");
        assertFalse(DecodeAttentionKernels.takes(16, 9, 64, 160, 8), "9 queries: each block would reread the cache");
        assertFalse(DecodeAttentionKernels.takes(16, 0, 64, 160, 8), "no query");
        assertFalse(DecodeAttentionKernels.takes(16, 1, 60, 160, 8), "D = 60 is not whole 16-byte bf16 vectors");
        assertTrue(DecodeAttentionKernels.takes(16, 1, 60, 160, 4), "but it is whole f32 vectors");
        assertFalse(DecodeAttentionKernels.takes(16, 1, 264, 16, 8), "D > 256");
        assertFalse(DecodeAttentionKernels.takes(16, 1, 64, 8192, 8), "8193 keys");
        assertTrue(DecodeAttentionKernels.takes(65535, 1, 64, 160, 8), "65535 query tokens: the grid's y limit");
        assertFalse(DecodeAttentionKernels.takes(16384, 4, 64, 160, 8), "65536 query tokens");
    }

    @Test
    void sharedMemoryFollowsTheLayout() {
        // D = 64 bf16: 8 vectors a row, 16 groups: 64 + 16·64 + 160 + 1 floats
        assertEquals(4 * (64 + 1024 + 161), DecodeAttentionKernels.sharedBytes(1, 64, 160, 8));
        // D = 64 f32: 16 vectors a row, 8 groups
        assertEquals(4 * (64 + 512 + 161), DecodeAttentionKernels.sharedBytes(1, 64, 160, 4));
        // D = 40 bf16: 5 vectors a row, 25 groups (125 threads sum values)
        assertEquals(4 * (40 + 25 * 40 + 13), DecodeAttentionKernels.sharedBytes(3, 40, 10, 8));
        int worst = 0;
        for (int d = 8; d <= 256; d += 8) {
            worst = Math.max(worst, DecodeAttentionKernels.sharedBytes(8, d, 8184, 8));
        }
        for (int d = 4; d <= 256; d += 4) {
            worst = Math.max(worst, DecodeAttentionKernels.sharedBytes(8, d, 8184, 4));
        }
        assertTrue(worst + 128 <= 48 * 1024, "the largest block's shared memory " + worst + " + 128 static bytes");
    }
}
