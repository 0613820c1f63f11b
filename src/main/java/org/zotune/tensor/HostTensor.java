package org.zotune.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor in host memory: raw little-endian bytes (often a slice of a memory-mapped checkpoint) with
 * a dtype and a row-major shape. Immutable view; {@link #toFloats()} decodes to float32.
 */
public final class HostTensor {
    private final String name;
    private final DType dtype;
    private final long[] shape;
    private final ByteBuffer data;

    public HostTensor(String name, DType dtype, long[] shape, ByteBuffer data) {
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long expected = numel() * dtype.bytes();
        if (this.data.remaining() != expected) {
            throw new IllegalArgumentException("tensor " + name + ": " + this.data.remaining()
                    + " bytes for shape " + Arrays.toString(shape) + " " + dtype + " (expected " + expected + ")");
        }
    }

    /** Wraps float32 values. */
    public static HostTensor ofFloats(String name, float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new HostTensor(name, DType.F32, shape, b);
    }

    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The raw bytes (little-endian), positioned at 0. */
    public ByteBuffer bytes() {
        return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Decodes every element to float32. */
    public float[] toFloats() {
        long n = numel();
        if (n > Integer.MAX_VALUE) {
            throw new IllegalStateException("tensor " + name + " has " + n + " elements: too many for a Java array");
        }
        float[] out = new float[(int) n];
        ByteBuffer b = bytes();
        switch (dtype) {
            case F32:
                b.asFloatBuffer().get(out);
                break;
            case BF16:
                for (int i = 0; i < out.length; i++) {
                    out[i] = DType.bf16ToFloat(b.getShort(2 * i));
                }
                break;
            case F16:
                for (int i = 0; i < out.length; i++) {
                    out[i] = DType.f16ToFloat(b.getShort(2 * i));
                }
                break;
            default:
                throw new AssertionError(dtype);
        }
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
