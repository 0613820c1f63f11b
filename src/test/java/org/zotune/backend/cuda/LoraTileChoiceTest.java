package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** When the host picks the tiled 16-byte LoRA kernels (no GPU needed: a pure decision on shapes and addresses). */
class LoraTileChoiceTest {
    @Test
    void vectorKernelOnlyForWholeVectorsAlignedAddressesAndATileThatFitsSharedMemory() {
        // bf16 / f16: 8 columns a vector; f32: 4
        assertTrue(ElementwiseKernels.loraVector(4800, 8, 8, 0x1000, 0x2000));
        assertTrue(ElementwiseKernels.loraVector(8, 1, 8, 0x1000));
        assertTrue(ElementwiseKernels.loraVector(12, 3, 4, 0x1000), "f32: cols a multiple of 4 suffices");
        assertFalse(ElementwiseKernels.loraVector(12, 3, 8, 0x1000), "bf16: 12 columns straddle a vector");
        assertFalse(ElementwiseKernels.loraVector(4800, 8, 8, 0x1000, 0x2002), "W' two bytes off 16");
        assertFalse(ElementwiseKernels.loraVector(4800, 8, 8, 0x1008), "W eight bytes off 16");
        assertFalse(ElementwiseKernels.loraVector(4800, 0, 8, 0x1000), "rank 0");
        // 32 column vectors of 8·r floats padded by 4: r = 47 is 32·377·4 = 48256 bytes <= 48 KiB, r = 48 (32·388·4) is over
        assertEquals(32L * (8 * 16 + 4) * 4, ElementwiseKernels.loraSharedBytes(16, 8));
        assertEquals(32L * (8 * 3 + 1) * 4, ElementwiseKernels.loraSharedBytes(3, 8), "odd stride when r % 4 != 0");
        assertTrue(ElementwiseKernels.loraVector(4800, 47, 8, 0x1000));
        assertFalse(ElementwiseKernels.loraVector(4800, 48, 8, 0x1000), "the tile of r = 48 exceeds 48 KiB");
        assertTrue(ElementwiseKernels.loraVector(4800, 64, 4, 0x1000), "f32 r = 64: 32·260·4 bytes");
    }
}
