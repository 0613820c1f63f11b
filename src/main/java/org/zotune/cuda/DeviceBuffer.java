package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.javacpp.Pointer;

/**
 * Device memory from {@code cudaMalloc}, freed by {@link #close()} (never by the garbage collector).
 * Copies are asynchronous on the given stream; host memory for them should be pinned
 * ({@link PinnedBuffer}) and must stay untouched until the stream has passed the copy.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final long bytes;
    private long address;
    private final DevicePointer scratch = new DevicePointer();

    private DeviceBuffer(long address, long bytes) {
        this.address = address;
        this.bytes = bytes;
    }

    public static DeviceBuffer allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("device allocation of " + bytes + " bytes");
        }
        Cuda.require();
        DevicePointer p = new DevicePointer();
        int rc = cudaMalloc(p, bytes);
        if (rc != cudaSuccess) {
            cudaGetLastError(); // clear the sticky-free error state of a failed allocation
            throw new CudaException("cudaMalloc(" + bytes + " bytes = " + (bytes >> 20) + " MiB)", rc,
                    Cuda.errorText(rc));
        }
        return new DeviceBuffer(p.address(), bytes);
    }

    public long address() {
        if (address == 0) {
            throw new IllegalStateException("device buffer is closed");
        }
        return address;
    }

    public long bytes() {
        return bytes;
    }

    public boolean isClosed() {
        return address == 0;
    }

    private void range(long offset, long n) {
        if (offset < 0 || n < 0 || offset + n > bytes) {
            throw new IndexOutOfBoundsException("bytes [" + offset + ", " + (offset + n) + ") of a " + bytes
                    + "-byte device buffer");
        }
    }

    /** Host → device, {@code n} bytes from {@code host} (at its position) to {@code offset}. */
    public void copyFromHost(Pointer host, long offset, long n, CudaStream stream) {
        range(offset, n);
        Cuda.check(cudaMemcpyAsync(scratch.set(address() + offset), host, n, cudaMemcpyHostToDevice,
                stream.handle()), "cudaMemcpyAsync(host to device)");
    }

    /** Device → host, {@code n} bytes from {@code offset} into {@code host} (at its position). */
    public void copyToHost(long offset, Pointer host, long n, CudaStream stream) {
        range(offset, n);
        Cuda.check(cudaMemcpyAsync(host, scratch.set(address() + offset), n, cudaMemcpyDeviceToHost,
                stream.handle()), "cudaMemcpyAsync(device to host)");
    }

    /** Sets {@code n} bytes from {@code offset} to {@code value}. */
    public void fill(long offset, long n, int value, CudaStream stream) {
        range(offset, n);
        Cuda.check(cudaMemsetAsync(scratch.set(address() + offset), value, n, stream.handle()), "cudaMemsetAsync");
    }

    /** Device → device between raw addresses, asynchronously on {@code stream}. */
    public static void copy(long dst, long src, long n, CudaStream stream) {
        Cuda.check(cudaMemcpyAsync(new DevicePointer(dst), new DevicePointer(src), n, cudaMemcpyDeviceToDevice,
                stream.handle()), "cudaMemcpyAsync(device to device)");
    }

    @Override
    public void close() {
        if (address != 0) {
            long a = address;
            address = 0;
            Cuda.check(cudaFree(new DevicePointer(a)), "cudaFree");
        }
    }
}
