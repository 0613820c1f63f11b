package org.zotune.backend.cpu;

import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;

/** A row-major float matrix view into a Java array (values already rounded to {@code dtype}). */
final class CpuTensor implements Tensor {
    final float[] data;
    final int offset;
    private final int rows;
    private final int cols;
    private final DType dtype;

    CpuTensor(float[] data, int offset, int rows, int cols, DType dtype) {
        if ((long) offset + (long) rows * cols > data.length) {
            throw new IllegalArgumentException("view [" + rows + ", " + cols + "] at " + offset
                    + " exceeds " + data.length + " elements");
        }
        this.data = data;
        this.offset = offset;
        this.rows = rows;
        this.cols = cols;
        this.dtype = dtype;
    }

    CpuTensor(int rows, int cols, DType dtype) {
        this(new float[Math.multiplyExact(rows, cols)], 0, rows, cols, dtype);
    }

    float get(int r, int c) {
        return data[offset + r * cols + c];
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public DType dtype() {
        return dtype;
    }
}
