package org.zotune.backend.cuda;

import org.zotune.backend.IntTensor;
import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;

/**
 * Device addresses of CUDA tensors and tensor views of device memory owned elsewhere, for code outside this
 * package that launches its own kernels on the ops' stream (the zeroth-order engine: shadow weights in its
 * scratch buffer, cross-entropy results copied into its scalar block). Views own nothing.
 */
public final class CudaTensors {
    private CudaTensors() {
    }

    /**
     * The device address of a CUDA tensor's first element. A matrix deferred with {@link CudaOps#defer} holds its
     * values only after {@link CudaOps#settle}: code that reads weights through this address settles them first.
     */
    public static long address(Tensor t) {
        if (!(t instanceof CudaTensor)) {
            throw new IllegalArgumentException("not a CUDA tensor: " + t);
        }
        return ((CudaTensor) t).address();
    }

    /** Elements between the starts of a CUDA tensor's rows (its columns, or more for a padded logits tensor). */
    public static int ld(Tensor t) {
        if (!(t instanceof CudaTensor)) {
            throw new IllegalArgumentException("not a CUDA tensor: " + t);
        }
        return ((CudaTensor) t).ld();
    }

    /** The device address of a CUDA int tensor's first value. */
    public static long address(IntTensor t) {
        if (!(t instanceof CudaIntTensor)) {
            throw new IllegalArgumentException("not a CUDA int tensor: " + t);
        }
        return ((CudaIntTensor) t).address();
    }

    /** {@code length} int32 values at {@code address} (memory owned and kept alive by the caller). */
    public static IntTensor intView(long address, int length) {
        if (address == 0 || length < 0) {
            throw new IllegalArgumentException("bad device int view of " + length + " at " + address);
        }
        return new CudaIntTensor(address, length);
    }

    /** A [rows, cols] tensor of {@code dtype} at {@code address} (memory owned and kept alive by the caller). */
    public static Tensor view(long address, int rows, int cols, DType dtype) {
        if (address == 0 || rows < 0 || cols < 0) {
            throw new IllegalArgumentException("bad device view " + rows + "x" + cols + " at " + address);
        }
        return new CudaTensor(address, rows, cols, dtype);
    }
}
