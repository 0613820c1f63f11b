package org.zotune.backend.cuda;

import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;

/**
 * A row-major [rows, cols] matrix at a device address, rows {@code ld} elements apart (ld = cols: dense;
 * ld > cols only for {@link CudaOps#logits} results); memory owned by an arena scope or Parameters.
 */
record CudaTensor(long address, int rows, int cols, DType dtype, int ld) implements Tensor {
    CudaTensor(long address, int rows, int cols, DType dtype) {
        this(address, rows, cols, dtype, cols);
    }

    boolean dense() {
        return ld == cols;
    }

    /** Bytes of the values (dense tensors only span exactly these). */
    long bytes() {
        return (long) rows * cols * dtype.bytes();
    }
}
