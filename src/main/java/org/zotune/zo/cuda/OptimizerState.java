package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.zotune.ZotuneException;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;

/**
 * An optimiser's state vectors on the device (m; m and v for Adam) for the trainable elements only, in the
 * optimiser's state dtype, indexed by global noise index (padding included), zero at the start. Reads a vector back
 * as floats and writes one from floats (a resumed run). Owns its memory.
 */
final class OptimizerState implements AutoCloseable {
    private final GpuOptimizer opt;
    private final long elements;
    private DeviceBuffer m;
    private DeviceBuffer v;

    /** Allocates and zeroes the optimiser's state vectors for {@code elements} noise indices (asynchronously). */
    OptimizerState(GpuOptimizer opt, long elements, CudaStream s) {
        this.opt = opt;
        this.elements = elements;
        long bytes = opt.stateBytes(elements);
        try {
            if (opt.stateVectors() >= 1) {
                m = DeviceBuffer.allocate(bytes);
                m.fill(0, bytes, 0, s);
            }
            if (opt.stateVectors() >= 2) {
                v = DeviceBuffer.allocate(bytes);
                v.fill(0, bytes, 0, s);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Device address of m, or 0 when the optimiser keeps none (the kernels' convention). */
    long m() {
        return m == null ? 0L : m.address();
    }

    /** Device address of v, or 0. */
    long v() {
        return v == null ? 0L : v.address();
    }

    /** Bytes of pinned memory {@link #readSlices} reads through at a time. */
    private static final long SLICE_CHUNK = 64L << 20;
    private static final byte[] ZEROS = new byte[1 << 16];

    /**
     * State vector {@code which} (0 = m, 1 = v): elements {@code [offsets[p], offsets[p] + sizes[p])} as float32
     * little-endian bytes, one buffer per p, read through a pinned buffer of at most 64 MiB (synchronises): never the
     * whole vector on the host, nor a limit of 2^31 elements (a checkpoint of ZO-AdaMU at 1.5B parameters is 12 GB of
     * m and v).
     */
    ByteBuffer[] readSlices(int which, long[] offsets, long[] sizes, CudaStream s) {
        DeviceBuffer b = which == 0 ? m : which == 1 ? v : null;
        if (b == null) {
            throw new IllegalArgumentException(opt.name() + " has no state vector " + which);
        }
        DType st = opt.stateDType();
        int eb = st.bytes();
        ByteBuffer[] out = new ByteBuffer[offsets.length];
        for (int p = 0; p < out.length; p++) {
            if (offsets[p] < 0 || sizes[p] < 0 || offsets[p] + sizes[p] > elements) {
                throw new IllegalArgumentException("slice " + p + ": [" + offsets[p] + ", " + (offsets[p] + sizes[p])
                        + ") outside the " + elements + " state elements");
            }
            out[p] = ByteBuffer.allocate(Math.toIntExact(4 * sizes[p])).order(ByteOrder.LITTLE_ENDIAN);
        }
        if (elements == 0) {
            return out;
        }
        long per = SLICE_CHUNK / eb;
        try (PinnedBuffer host = PinnedBuffer.allocate(Math.min(SLICE_CHUNK, elements * eb))) {
            for (long c0 = 0; c0 < elements; c0 += per) {
                long c1 = Math.min(elements, c0 + per);
                b.copyToHost(c0 * eb, host.pointer(), (c1 - c0) * eb, s);
                s.synchronize();
                scatter(host.slice(0, (int) ((c1 - c0) * eb)), c0, c1, st, offsets, sizes, out);
            }
        }
        return out;
    }

    /**
     * Elements {@code [c0, c1)} of a state vector, stored as {@code st} in {@code chunk} (element c0 at index 0), into
     * the slices they fall in: slice p holds elements {@code [offsets[p], offsets[p] + sizes[p])} as float32.
     */
    static void scatter(ByteBuffer chunk, long c0, long c1, DType st, long[] offsets, long[] sizes, ByteBuffer[] out) {
        for (int p = 0; p < out.length; p++) {
            long lo = Math.max(c0, offsets[p]);
            long hi = Math.min(c1, offsets[p] + sizes[p]);
            for (long i = lo; i < hi; i++) {
                int at = (int) (i - c0);
                float value = st == DType.F32 ? chunk.getFloat(4 * at)
                        : st == DType.BF16 ? DType.bf16ToFloat(chunk.getShort(2 * at))
                        : DType.f16ToFloat(chunk.getShort(2 * at));
                out[p].putFloat((int) (4 * (i - offsets[p])), value);
            }
        }
    }

    /**
     * Sets state vector {@code which} from per-tensor float32 little-endian slices (slice p: elements
     * {@code [offsets[p], offsets[p] + sizes[p])}; elements outside every slice become 0), through a pinned buffer of
     * at most 64 MiB (synchronises): {@link #readSlices}'s inverse, exact for values read from a 16-bit state.
     */
    void writeSlices(int which, long[] offsets, long[] sizes, ByteBuffer[] slices, CudaStream s) {
        DeviceBuffer b = which == 0 ? m : which == 1 ? v : null;
        if (b == null) {
            throw new ZotuneException(opt.name() + " has no optimiser state " + (which == 0 ? "m" : "v"));
        }
        for (int p = 0; p < slices.length; p++) {
            if (offsets[p] < 0 || sizes[p] < 0 || offsets[p] + sizes[p] > elements
                    || slices[p].remaining() != 4 * sizes[p]) {
                throw new ZotuneException("optimiser state slice " + p + ": " + slices[p].remaining() / 4
                        + " values at [" + offsets[p] + ", " + (offsets[p] + sizes[p]) + ") of " + elements
                        + " state elements");
            }
        }
        if (elements == 0) {
            return;
        }
        DType st = opt.stateDType();
        int eb = st.bytes();
        long per = SLICE_CHUNK / eb;
        try (PinnedBuffer host = PinnedBuffer.allocate(Math.min(SLICE_CHUNK, elements * eb))) {
            for (long c0 = 0; c0 < elements; c0 += per) {
                long c1 = Math.min(elements, c0 + per);
                s.synchronize(); // the previous chunk has left the pinned buffer
                gather(host.slice(0, (int) ((c1 - c0) * eb)), c0, c1, st, offsets, sizes, slices);
                b.copyFromHost(host.pointer(), c0 * eb, (c1 - c0) * eb, s);
            }
            s.synchronize();
        }
    }

    /** {@link #scatter}'s inverse: elements {@code [c0, c1)} from the slices into {@code chunk} as {@code st}, 0 elsewhere. */
    static void gather(ByteBuffer chunk, long c0, long c1, DType st, long[] offsets, long[] sizes, ByteBuffer[] in) {
        int eb = st.bytes();
        int bytes = (int) ((c1 - c0) * eb);
        for (int at = 0; at < bytes; at += ZEROS.length) { // elements outside every slice (alignment gaps) are 0
            chunk.put(at, ZEROS, 0, Math.min(ZEROS.length, bytes - at));
        }
        for (int p = 0; p < in.length; p++) {
            long lo = Math.max(c0, offsets[p]);
            long hi = Math.min(c1, offsets[p] + sizes[p]);
            ByteBuffer src = in[p].duplicate().order(ByteOrder.LITTLE_ENDIAN);
            int base = src.position();
            for (long i = lo; i < hi; i++) {
                float value = src.getFloat(base + (int) (4 * (i - offsets[p])));
                int at = (int) (i - c0);
                if (st == DType.F32) {
                    chunk.putFloat(4 * at, value);
                } else {
                    chunk.putShort(2 * at, st == DType.BF16 ? DType.floatToBf16(value) : DType.floatToF16(value));
                }
            }
        }
    }

    @Override
    public void close() {
        if (m != null) {
            m.close();
            m = null;
        }
        if (v != null) {
            v.close();
            v = null;
        }
    }
}
