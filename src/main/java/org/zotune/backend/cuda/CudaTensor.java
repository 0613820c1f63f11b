package org.zotune.backend.cuda;

import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;

/** A row-major [rows, cols] matrix at a device address; memory owned by an arena scope or Parameters. */
record CudaTensor(long address, int rows, int cols, DType dtype) implements Tensor {
    long bytes() {
        return (long) rows * cols * dtype.bytes();
    }
}
