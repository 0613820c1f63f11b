package org.zotune.backend.cuda;

import static org.bytedeco.cuda.global.cudart.cudaMemcpy2DAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import java.nio.ByteBuffer;
import java.util.function.Consumer;
import org.bytedeco.javacpp.BytePointer;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.DevicePointer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;

/**
 * The CUDA backend's device memory: the activation arena (reset per scope, so the same ops get the same addresses
 * and a captured graph stays valid), host ↔ device copies ordered on the stream through pinned staging memory, and
 * the pinned pool that owns the host inputs made while a graph is being captured. Nothing here allocates device
 * memory per call once the arena has grown, or waits for the device, except the reads back to the host.
 */
final class DeviceMemory implements AutoCloseable {
    private final CudaStream stream;
    private final DeviceArena main;
    private DeviceArena arena; // where activations go now: the main arena, or a region entered (CudaOps.enter)
    private final PinnedStaging staging;
    private final long chunkBytes;
    private final long captureHostBytes;
    private PinnedBuffer capturePool; // host inputs made inside a capture: owned by the graph
    private long capturePoolUsed;

    DeviceMemory(CudaStream stream, PinnedStaging staging, CudaOptions options) {
        this.stream = stream;
        this.staging = staging;
        this.chunkBytes = options.arenaChunkMiB() << 20;
        this.main = new DeviceArena(chunkBytes);
        this.arena = main;
        this.captureHostBytes = options.captureHostMiB() << 20;
    }

    // ---- the activation arena ----------------------------------------------------------------------

    long allocate(long bytes) {
        return arena.allocate(bytes);
    }

    CudaTensor alloc(int rows, int cols, DType t) {
        return new CudaTensor(arena.allocate((long) rows * cols * t.bytes()), rows, cols, t);
    }

    DeviceArena.Mark mark() {
        return arena.mark();
    }

    void reset(DeviceArena.Mark mark) {
        arena.reset(mark);
    }

    /** Device memory held by the main arena (regions count their own). */
    long reservedBytes() {
        return main.reservedBytes();
    }

    /** A new, empty arena of the main arena's chunk size (a region of its own: {@link CudaOps#region()}). */
    DeviceArena newArena() {
        return new DeviceArena(chunkBytes);
    }

    /** Allocations go to {@code a} from now on; returns the arena they went to before. */
    DeviceArena use(DeviceArena a) {
        DeviceArena before = arena;
        arena = a;
        return before;
    }

    /** Whether allocations go to {@code a} now. */
    boolean using(DeviceArena a) {
        return arena == a;
    }

    // ---- graph capture ------------------------------------------------------------------------------

    /** Host inputs made from now on go to a new pinned pool, which the caller hands to the graph. */
    PinnedBuffer beginCapture() {
        capturePool = PinnedBuffer.allocate(captureHostBytes);
        capturePoolUsed = 0;
        return capturePool;
    }

    void endCapture() {
        capturePool = null;
    }

    boolean capturing() {
        return capturePool != null;
    }

    // ---- copies -------------------------------------------------------------------------------------

    CudaIntTensor ints(int[] values) {
        CudaIntTensor t = new CudaIntTensor(arena.allocate(4L * Math.max(1, values.length)), values.length);
        write(t, values);
        return t;
    }

    void write(CudaIntTensor t, int[] values) {
        if (values.length > 0) {
            upload(t.address(), 4L * values.length, b -> b.asIntBuffer().put(values));
        }
    }

    /** A [rows, cols] tensor of {@code type} holding {@code values} (rounded to the type). */
    CudaTensor tensor(float[] values, int rows, int cols, DType type) {
        CudaTensor t = alloc(rows, cols, type);
        if (values.length > 0) {
            upload(t.address(), t.bytes(), b -> {
                if (type == DType.F32) {
                    b.asFloatBuffer().put(values);
                } else if (type == DType.BF16) {
                    for (float v : values) {
                        b.putShort(DType.floatToBf16(v));
                    }
                } else {
                    for (float v : values) {
                        b.putShort(DType.floatToF16(v));
                    }
                }
            });
        }
        return t;
    }

    /**
     * Host → device through pinned memory, ordered on the stream: the staging ring when eager (fenced
     * so the region is not reused before the copy ran), the graph's own pool while capturing.
     */
    private void upload(long dst, long bytes, Consumer<ByteBuffer> fill) {
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("upload of " + bytes + " bytes: too large for one host staging copy");
        }
        if (capturePool != null) {
            long n = (bytes + 255) / 256 * 256;
            if (capturePoolUsed + n > capturePool.bytes()) {
                throw new ZotuneException("host inputs created inside a CUDA graph capture exceed "
                        + (capturePool.bytes() >> 20) + " MiB: create them before capturing, or raise"
                        + " -Dzotune.cuda.captureHostMiB");
            }
            long off = capturePoolUsed;
            capturePoolUsed += n;
            fill.accept(capturePool.slice(off, (int) bytes));
            copyHtoD(dst, capturePool, off, bytes);
        } else {
            long off = staging.acquire(bytes);
            fill.accept(staging.buffer().slice(off, (int) bytes));
            copyHtoD(dst, staging.buffer(), off, bytes);
            staging.fence();
        }
    }

    private void copyHtoD(long dst, PinnedBuffer src, long srcOffset, long bytes) {
        BytePointer p = new BytePointer(src.pointer()).position(srcOffset);
        Cuda.check(cudaMemcpyAsync(new DevicePointer(dst), p, bytes, cudaMemcpyHostToDevice, stream.handle()),
                "cudaMemcpyAsync(upload)");
    }

    /** dst ← src, {@code bytes} on the device (ordered on the stream). */
    void copy(long dst, long src, long bytes) {
        DeviceBuffer.copy(dst, src, bytes, stream);
    }

    /** {@code rows} rows of {@code rowBytes}: dst rows dstPitch bytes apart, src rows srcPitch apart. */
    void copyRows(long dst, long dstPitch, long src, long srcPitch, long rowBytes, int rows, String what) {
        Cuda.check(cudaMemcpy2DAsync(new DevicePointer(dst), dstPitch, new DevicePointer(src), srcPitch, rowBytes,
                rows, cudaMemcpyDeviceToDevice, stream.handle()), "cudaMemcpy2DAsync(" + what + ")");
    }

    /** The values as float32 (synchronises). */
    float[] toHost(CudaTensor c) {
        long bytes = c.bytes();
        float[] out = new float[(int) c.numel()];
        if (bytes == 0) {
            return out;
        }
        long off = staging.acquire(bytes);
        BytePointer dst = new BytePointer(staging.buffer().pointer()).position(off);
        if (c.dense()) {
            Cuda.check(cudaMemcpyAsync(dst, new DevicePointer(c.address()), bytes, cudaMemcpyDeviceToHost,
                    stream.handle()), "cudaMemcpyAsync(toHost)");
        } else {
            long eb = c.dtype().bytes();
            Cuda.check(cudaMemcpy2DAsync(dst, c.cols() * eb, new DevicePointer(c.address()), c.ld() * eb,
                    c.cols() * eb, c.rows(), cudaMemcpyDeviceToHost, stream.handle()), "cudaMemcpy2DAsync(toHost)");
        }
        stream.synchronize();
        ByteBuffer b = staging.buffer().slice(off, (int) bytes);
        if (c.dtype() == DType.F32) {
            b.asFloatBuffer().get(out);
        } else if (c.dtype() == DType.BF16) {
            for (int i = 0; i < out.length; i++) {
                out[i] = DType.bf16ToFloat(b.getShort(2 * i));
            }
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = DType.f16ToFloat(b.getShort(2 * i));
            }
        }
        return out;
    }

    /** The int values (synchronises). */
    int[] toHost(CudaIntTensor c) {
        int[] out = new int[c.length()];
        if (out.length == 0) {
            return out;
        }
        long bytes = 4L * out.length;
        long off = staging.acquire(bytes);
        BytePointer dst = new BytePointer(staging.buffer().pointer()).position(off);
        Cuda.check(cudaMemcpyAsync(dst, new DevicePointer(c.address()), bytes, cudaMemcpyDeviceToHost,
                stream.handle()), "cudaMemcpyAsync(toHost)");
        stream.synchronize();
        staging.buffer().slice(off, (int) bytes).asIntBuffer().get(out);
        return out;
    }

    /** Frees the main arena and the staging ring (the stream must be idle); regions are their owners' to free. */
    @Override
    public void close() {
        main.close();
        staging.close();
    }
}
