package org.zotune.backend.cuda;

import java.util.ArrayDeque;
import org.zotune.cuda.CudaEvent;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.PinnedBuffer;

/**
 * A ring of pinned host memory for small asynchronous uploads. Each upload's region is fenced by an
 * event recorded after its copy; a region is handed out again only once the copies that used it on
 * the previous lap are done, so uploads never wait for the device unless the ring has wrapped onto
 * work still in flight.
 */
final class PinnedStaging implements AutoCloseable {
    private record Fence(long start, CudaEvent event) {
    }

    private final CudaStream stream;
    private PinnedBuffer buffer;
    private long capacity;
    private long head; // logical position; physical = head % capacity
    private final ArrayDeque<Fence> fences = new ArrayDeque<>();
    private final ArrayDeque<CudaEvent> spare = new ArrayDeque<>();
    private long lastStart;

    PinnedStaging(CudaStream stream, long capacity) {
        this.stream = stream;
        this.capacity = capacity;
        this.buffer = PinnedBuffer.allocate(capacity);
    }

    /** A region of {@code bytes} free for writing; returns its physical offset in {@link #buffer()}. */
    long acquire(long bytes) {
        long n = (bytes + 255) / 256 * 256;
        if (n > capacity) {
            // grow: wait for everything in flight, then replace the ring
            stream.synchronize();
            drainFences();
            buffer.close();
            capacity = Math.max(2 * capacity, n);
            buffer = PinnedBuffer.allocate(capacity);
            head = 0;
        }
        long phys = head % capacity;
        if (phys + n > capacity) {
            head += capacity - phys; // skip the tail: regions never straddle the end
            phys = 0;
        }
        long start = head;
        head += n;
        // regions of the previous lap that this one overlaps must be done
        while (!fences.isEmpty() && fences.peekFirst().start() < head - capacity) {
            Fence f = fences.pollFirst();
            f.event().synchronize();
            spare.addLast(f.event());
        }
        lastStart = start;
        return phys;
    }

    /** Records that the region last acquired is read by work now queued on the stream. */
    void fence() {
        CudaEvent e = spare.isEmpty() ? CudaEvent.create(false) : spare.pollFirst();
        e.record(stream);
        fences.addLast(new Fence(lastStart, e));
    }

    PinnedBuffer buffer() {
        return buffer;
    }

    private void drainFences() {
        for (Fence f : fences) {
            spare.addLast(f.event());
        }
        fences.clear();
    }

    @Override
    public void close() {
        drainFences();
        for (CudaEvent e : spare) {
            e.close();
        }
        spare.clear();
        buffer.close();
    }
}
