package org.zotune.train;

import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.bytedeco.javacpp.BytePointer;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaParameters;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.DevicePointer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * θ between the host and a flat {@link CudaParameters} buffer: values in, values out, exact (the values are
 * representable in the parameter dtype). θ is every entry of the buffer, or some of them (a set of the model's
 * parameters in the model's buffer, say a linear probe's head: {@link #CudaTheta(CudaOps, Parameters, int[])}); the
 * other entries are never read or written here. Owns a pinned staging buffer the size of the device buffer, so that
 * an upload of the whole buffer is one asynchronous copy.
 */
final class CudaTheta implements AutoCloseable {
    private final CudaOps ops;
    private final CudaParameters params;
    private final PinnedBuffer staging;
    private final int[] entries; // θ's tensor k is buffer entry entries[k]; null: entry k, every entry
    /** Whether the staging buffer is lent out (closed from a writer thread, hence atomic). */
    private final AtomicBoolean lent = new AtomicBoolean();
    /** {@link #checksum}'s bounce buffer, allocated on first use. */
    private PinnedBuffer chunk;
    private static final int CHUNK_BYTES = 8 << 20;

    /** θ is every entry of {@code params}, in its order. */
    CudaTheta(CudaOps ops, Parameters params) {
        this(ops, params, null);
    }

    /** θ's tensor k is entry {@code entries[k]} of {@code params} (null: every entry, in order). */
    CudaTheta(CudaOps ops, Parameters params, int[] entries) {
        this.ops = ops;
        this.params = (CudaParameters) params;
        this.entries = entries == null ? null : entries.clone();
        long bytes = Math.max(4L, this.params.totalElements() * this.params.dtype().bytes());
        this.staging = PinnedBuffer.allocate(bytes);
        // pinned memory is not zeroed: the alignment padding between tensors is uploaded too, keep it 0
        for (long at = 0; at < bytes; at += 1 << 20) {
            int n = (int) Math.min(1 << 20, bytes - at);
            staging.slice(at, n).put(new byte[n]);
        }
    }

    /** The buffer entry of θ's tensor k. */
    private int entry(int k) {
        return entries == null ? k : entries[k];
    }

    /** θ's tensor p's values are {@code values[p]}, starting at {@code from[p]} (float32 values of the dtype). */
    void upload(float[][] values, int[] from, int[] count) {
        requireFree("upload θ");
        DType dtype = params.dtype();
        long total = params.totalElements() * dtype.bytes();
        int tensors = entries == null ? params.count() : entries.length;
        if (values.length != tensors) {
            throw new IllegalArgumentException(values.length + " tensors for a θ of " + tensors);
        }
        ops.stream().synchronize(); // the staging buffer may still feed the previous upload
        for (int p = 0; p < tensors; p++) {
            long at = params.offset(entry(p)) * dtype.bytes();
            int n = count[p];
            ByteBuffer b = staging.slice(at, n * dtype.bytes());
            float[] v = values[p];
            int o = from[p];
            if (dtype == DType.F32) {
                b.asFloatBuffer().put(v, o, n);
            } else if (dtype == DType.BF16) {
                for (int j = 0; j < n; j++) {
                    b.putShort(DType.floatToBf16(v[o + j]));
                }
            } else {
                for (int j = 0; j < n; j++) {
                    b.putShort(DType.floatToF16(v[o + j]));
                }
            }
        }
        if (entries == null) {
            Cuda.check(cudaMemcpyAsync(new DevicePointer(params.address()), staging.pointer(), total,
                    cudaMemcpyHostToDevice, ops.stream().handle()), "cudaMemcpyAsync(θ upload)");
            return;
        }
        for (int p = 0; p < tensors; p++) { // θ's entries alone: the others (frozen) keep their values
            long at = params.offset(entry(p)) * dtype.bytes();
            long bytes = (long) count[p] * dtype.bytes();
            if (bytes > 0) {
                Cuda.check(cudaMemcpyAsync(new DevicePointer(params.address() + at),
                        new BytePointer(staging.pointer()).position(at), bytes, cudaMemcpyHostToDevice,
                        ops.stream().handle()), "cudaMemcpyAsync(θ upload)");
            }
        }
    }

    /** Uploads host tensors (the model's order and shapes) and waits. */
    void upload(List<HostTensor> tensors) {
        int n = tensors.size();
        float[][] v = new float[n][];
        int[] from = new int[n];
        int[] count = new int[n];
        for (int p = 0; p < n; p++) {
            v[p] = tensors.get(p).toFloats();
            count[p] = v[p].length;
        }
        upload(v, from, count);
        ops.stream().synchronize();
    }

    /** θ as host tensors of the parameter dtype, copies the caller owns (synchronises). */
    List<HostTensor> download(List<ParamSpec> specs) {
        return borrow(specs, views -> {
            List<HostTensor> out = new ArrayList<>(views.size());
            for (HostTensor v : views) {
                ByteBuffer copy = ByteBuffer.allocate(Math.toIntExact(v.numel() * v.dtype().bytes()));
                copy.put(v.bytes()).flip();
                out.add(new HostTensor(v.name(), v.dtype(), v.shape(), copy));
            }
            return out;
        });
    }

    /**
     * Runs {@code use} on θ as host tensors that are views of the pinned staging buffer: one device-to-host copy
     * per tensor and no copy into the heap (a 1.5B-parameter θ is 3 GB in bf16). The views are valid only inside
     * the call: the next upload or borrow overwrites them.
     */
    <R> R borrow(List<ParamSpec> specs, Function<List<HostTensor>, R> use) {
        try (ZoEngine.Lease<List<HostTensor>> lease = lend(specs)) {
            return use.apply(lease.value());
        }
    }

    /**
     * θ as views of the staging buffer (as {@link #borrow}) until the returned lease is closed, from any thread: the
     * steps never touch the staging buffer, so they may run while a writer holds the views; uploading or lending again
     * before the close is an error.
     */
    ZoEngine.Lease<List<HostTensor>> lend(List<ParamSpec> specs) {
        requireFree("lend θ");
        DType dtype = params.dtype();
        ops.stream().synchronize(); // the staging buffer may still feed the previous upload
        List<HostTensor> views = new ArrayList<>(specs.size());
        for (int p = 0; p < specs.size(); p++) {
            ParamSpec s = specs.get(p);
            long at = params.offset(entry(p)) * dtype.bytes();
            long n = 1;
            for (long d : s.shape()) {
                n *= d;
            }
            int bytes = Math.toIntExact(n * dtype.bytes());
            if (bytes > 0) {
                Cuda.check(cudaMemcpyAsync(new BytePointer(staging.pointer()).position(at),
                        new DevicePointer(params.address() + at), bytes, cudaMemcpyDeviceToHost,
                        ops.stream().handle()), "cudaMemcpyAsync(θ download)");
            }
            views.add(new HostTensor(s.name(), dtype, s.shape(), staging.slice(at, bytes)));
        }
        ops.stream().synchronize();
        lent.set(true);
        return new ZoEngine.Lease<>(List.copyOf(views), () -> lent.set(false));
    }

    /**
     * {@link DataParallelEngine#checksum} of θ without the staging buffer, so that it works while θ is lent (replicas
     * compare checksums while a checkpoint is written): θ comes to the host through a small pinned buffer of its own,
     * a chunk at a time.
     */
    long checksum(List<ParamSpec> specs) {
        return checksum(specs, CHUNK_BYTES);
    }

    /** {@link #checksum(List)} a chunk of at most {@code chunkBytes} at a time (tests: chunks that split tensors). */
    long checksum(List<ParamSpec> specs, int chunkBytes) {
        DType dtype = params.dtype();
        int size = dtype.bytes();
        if (chunkBytes < size || chunkBytes > CHUNK_BYTES) {
            throw new IllegalArgumentException("chunk of " + chunkBytes + " bytes");
        }
        if (chunk == null) {
            chunk = PinnedBuffer.allocate(CHUNK_BYTES);
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        for (int p = 0; p < specs.size(); p++) {
            long n = 1;
            for (long d : specs.get(p).shape()) {
                n *= d;
            }
            long at = params.offset(entry(p)) * size;
            for (long done = 0; done < n; ) {
                int count = (int) Math.min(n - done, chunkBytes / size);
                int bytes = count * size;
                Cuda.check(cudaMemcpyAsync(chunk.pointer(), new DevicePointer(params.address() + at + done * size),
                        bytes, cudaMemcpyDeviceToHost, ops.stream().handle()), "cudaMemcpyAsync(θ checksum)");
                ops.stream().synchronize();
                HostTensor piece = new HostTensor("chunk", dtype, new long[] {count}, chunk.slice(0, bytes));
                DataParallelEngine.update(crc, piece.toFloats());
                done += count;
            }
        }
        return crc.getValue();
    }

    private void requireFree(String what) {
        if (lent.get()) {
            throw new IllegalStateException("cannot " + what + " while θ is lent out (its lease is not closed yet)");
        }
    }

    @Override
    public void close() {
        ops.stream().synchronize();
        if (lent.get()) { // a writer still reads the views: leak the buffer rather than free it under the writer
            throw new IllegalStateException("θ's staging buffer closed while lent out (await the writer first)");
        }
        staging.close();
        if (chunk != null) {
            chunk.close();
        }
    }
}
