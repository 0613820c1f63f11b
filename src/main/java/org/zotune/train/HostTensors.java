package org.zotune.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** Float values to host tensors of a dtype (exact when the values are representable in it, as θ's are). */
final class HostTensors {
    private HostTensors() {
    }

    static HostTensor of(String name, float[] v, long[] shape, DType dtype) {
        switch (dtype) {
            case F32:
                return HostTensor.ofFloats(name, v, shape);
            case BF16: {
                ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : v) {
                    b.putShort(DType.floatToBf16(f));
                }
                b.flip();
                return new HostTensor(name, DType.BF16, shape, b);
            }
            case F16: {
                ByteBuffer b = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : v) {
                    b.putShort(DType.floatToF16(f));
                }
                b.flip();
                return new HostTensor(name, DType.F16, shape, b);
            }
            default:
                throw new IllegalArgumentException("no host tensors of " + dtype);
        }
    }
}
