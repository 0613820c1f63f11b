package org.zotune.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.Test;

/** Host views at an offset (the staging ring reads and writes through them); no GPU needed. */
class PinnedViewTest {
    @Test
    void viewIndexZeroIsTheOffsetAndIsLittleEndian() {
        try (BytePointer base = new BytePointer(1024)) {
            for (int i = 0; i < 1024; i++) {
                base.put(i, (byte) i);
            }
            ByteBuffer v = PinnedBuffer.view(base, 256, 16);
            assertEquals(16, v.remaining());
            assertEquals(0, v.position());
            assertEquals(0, v.get(0)); // byte 256 wraps to 0
            assertEquals(5, v.get(5));
            assertEquals((short) 0x0302, v.getShort(2));
            v.asIntBuffer().put(0, 0x11223344);
            assertEquals(0x44, base.get(256));
            assertEquals(0x11, base.get(259));
        }
    }

    @Test
    void anOffsetPastTwoToThe31AddressesTheRightByte() {
        // staging for gpt2-1558M in bf16 is 3.1 GB: offsets past 2^31 once overflowed the view's int indices. The base
        // pointer is placed 3e9 bytes before a real 64-byte block, so the view must land exactly on that block.
        long far = 3_000_000_000L;
        try (BytePointer block = new BytePointer(64)) {
            block.fill(0);
            BytePointer base = new BytePointer() {
                {
                    address = block.address() - far;
                }
            };
            ByteBuffer v = PinnedBuffer.view(base, far + 8, 16);
            assertEquals(16, v.capacity());
            assertEquals(0, v.position());
            v.putInt(0, 0x0A0B0C0D);
            assertEquals(0x0D, block.get(8));
            assertEquals(0x0A, block.get(11));
            assertEquals(0, block.get(7));
        }
    }
}
