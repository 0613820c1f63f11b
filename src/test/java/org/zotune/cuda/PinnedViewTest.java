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
}
