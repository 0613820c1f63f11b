package org.zotune.backend.cuda;

import java.util.ArrayList;
import java.util.List;
import org.zotune.cuda.DeviceBuffer;

/**
 * Bump allocator over device chunks that are kept until {@link #close()}: resetting to a mark reuses
 * the same addresses, so the same sequence of allocations after the same mark yields the same
 * pointers (what CUDA graph replay needs). A request that does not fit the current chunk moves to
 * the next chunk that fits, creating one when none does.
 */
final class DeviceArena implements AutoCloseable {
    static final long ALIGN = 256;

    record Mark(int chunk, long offset) {
    }

    private final long chunkBytes;
    private final List<DeviceBuffer> chunks = new ArrayList<>();
    private int chunk;
    private long offset;

    DeviceArena(long chunkBytes) {
        this.chunkBytes = chunkBytes;
    }

    long allocate(long bytes) {
        long n = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        while (chunk < chunks.size()) {
            DeviceBuffer c = chunks.get(chunk);
            if (offset + n <= c.bytes()) {
                long a = c.address() + offset;
                offset += n;
                return a;
            }
            chunk++;
            offset = 0;
        }
        DeviceBuffer c = DeviceBuffer.allocate(Math.max(chunkBytes, n));
        chunks.add(c);
        chunk = chunks.size() - 1;
        offset = n;
        return c.address();
    }

    Mark mark() {
        return new Mark(chunk, offset);
    }

    void reset(Mark m) {
        chunk = m.chunk();
        offset = m.offset();
    }

    long reservedBytes() {
        long s = 0;
        for (DeviceBuffer c : chunks) {
            s += c.bytes();
        }
        return s;
    }

    @Override
    public void close() {
        for (DeviceBuffer c : chunks) {
            c.close();
        }
        chunks.clear();
        chunk = 0;
        offset = 0;
    }
}
