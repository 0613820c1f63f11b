package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/** Page-locked host memory ({@code cudaMallocHost}) for asynchronous copies; freed by {@link #close()}. */
public final class PinnedBuffer implements AutoCloseable {
    private final long bytes;
    private BytePointer pointer;

    private PinnedBuffer(BytePointer pointer, long bytes) {
        this.pointer = pointer;
        this.bytes = bytes;
    }

    public static PinnedBuffer allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("pinned allocation of " + bytes + " bytes");
        }
        Cuda.require();
        Pointer p = new Pointer();
        Cuda.check(cudaMallocHost(p, bytes), "cudaMallocHost(" + bytes + " bytes)");
        BytePointer b = new BytePointer(p).capacity(bytes);
        b.limit(bytes);
        return new PinnedBuffer(b, bytes);
    }

    public long bytes() {
        return bytes;
    }

    /** The memory as a pointer at position 0 (set a position to address an offset; do not free). */
    public BytePointer pointer() {
        if (pointer == null) {
            throw new IllegalStateException("pinned buffer is closed");
        }
        return pointer;
    }

    /** A little-endian view of {@code [offset, offset + n)} (valid until close). */
    public ByteBuffer slice(long offset, int n) {
        if (offset < 0 || n < 0 || offset + n > bytes) {
            throw new IndexOutOfBoundsException("bytes [" + offset + ", " + (offset + n) + ") of " + bytes);
        }
        return view(pointer(), offset, n);
    }

    /** Bytes {@code [offset, offset + n)} of {@code base} as a little-endian buffer whose index 0 is offset. */
    static ByteBuffer view(BytePointer base, long offset, int n) {
        // the offset goes into the address, not into a buffer position: a ByteBuffer's indices are ints, and
        // staging for a model over 2 GiB (gpt2-1558M in bf16: 3.1 GB) has offsets past 2^31
        BytePointer p = new BytePointer(base).position(0).getPointer(offset);
        p.position(0).capacity(n).limit(n);
        return p.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    public long address() {
        return pointer().address();
    }

    @Override
    public void close() {
        if (pointer != null) {
            Pointer p = pointer;
            pointer = null;
            Cuda.check(cudaFreeHost(p), "cudaFreeHost");
        }
    }
}
