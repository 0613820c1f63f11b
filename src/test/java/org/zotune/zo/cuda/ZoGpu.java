package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Assumptions;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;

/** Helpers for the zeroth-order GPU tests: skip without a device, host/device copies that synchronise. */
final class ZoGpu {
    private ZoGpu() {
    }

    static void assumeGpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    /** Kernels of the exact noise variant (the tests that compare with the CPU's normals to 1e-6 need it). */
    static ZoKernels kernels() {
        return kernels(NoiseVariant.EXACT);
    }

    static ZoKernels kernels(NoiseVariant noise) {
        return new ZoKernels(Cuda.availability().multiprocessors() * 8, noise);
    }

    /** n values of {@code dtype} at a device address, as floats (synchronises the stream). */
    static float[] download(long address, long n, DType dtype, CudaStream s) {
        int count = Math.toIntExact(n);
        long bytes = (long) count * dtype.bytes();
        float[] out = new float[count];
        if (count == 0) {
            return out;
        }
        try (PinnedBuffer host = PinnedBuffer.allocate(bytes)) {
            org.zotune.cuda.Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(host.pointer(),
                    new org.zotune.cuda.DevicePointer(address), bytes,
                    org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost, s.handle()), "download");
            s.synchronize();
            ByteBuffer b = host.slice(0, (int) bytes);
            for (int i = 0; i < count; i++) {
                out[i] = dtype == DType.F32 ? b.getFloat(4 * i)
                        : dtype == DType.BF16 ? DType.bf16ToFloat(b.getShort(2 * i)) : DType.f16ToFloat(b.getShort(2 * i));
            }
        }
        return out;
    }

    /** Raw 32-bit words at a device address (synchronises; read as ints, never through float). */
    static int[] downloadWords(long address, int n, CudaStream s) {
        int[] w = new int[n];
        try (PinnedBuffer host = PinnedBuffer.allocate(4L * Math.max(1, n))) {
            org.zotune.cuda.Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(host.pointer(),
                    new org.zotune.cuda.DevicePointer(address), 4L * n,
                    org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost, s.handle()), "download");
            s.synchronize();
            host.slice(0, 4 * n).asIntBuffer().get(w);
        }
        return w;
    }

    /** Copies {@code bytes} to {@code dst + offset} and waits for the copy. */
    static void upload(DeviceBuffer dst, long offset, ByteBuffer bytes, CudaStream s) {
        int n = bytes.remaining();
        try (PinnedBuffer host = PinnedBuffer.allocate(Math.max(1, n))) {
            host.slice(0, n).put(bytes.duplicate());
            dst.copyFromHost(host.pointer(), offset, n, s);
            s.synchronize();
        }
    }

    /** Bits of x rounded to a bf16 ulp distance from y: 0 equal, 1 neighbours, ... (both bf16 values). */
    /** Distance in representable values of {@code dtype} (bf16 or f16) between two values of it. */
    static int ulpDistance(DType dtype, float x, float y) {
        if (dtype == DType.BF16) {
            return bf16UlpDistance(x, y);
        }
        int a = DType.floatToF16(x);
        int b = DType.floatToF16(y);
        int ia = (a & 0x8000) != 0 ? -(a & 0x7fff) : (a & 0x7fff);
        int ib = (b & 0x8000) != 0 ? -(b & 0x7fff) : (b & 0x7fff);
        return Math.abs(ia - ib);
    }

    static int bf16UlpDistance(float x, float y) {
        int a = DType.floatToBf16(x);
        int b = DType.floatToBf16(y);
        int ia = (a & 0x8000) != 0 ? -(a & 0x7fff) : (a & 0x7fff);
        int ib = (b & 0x8000) != 0 ? -(b & 0x7fff) : (b & 0x7fff);
        return Math.abs(ia - ib);
    }
}
