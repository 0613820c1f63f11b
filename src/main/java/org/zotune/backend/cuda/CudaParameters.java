package org.zotune.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Parameters in ONE device buffer of one dtype; parameter i is a view at a 256-byte-aligned element
 * offset, so one kernel launch can sweep every parameter (ZO perturbation and update).
 */
public final class CudaParameters implements Parameters {
    private static final long ALIGN_BYTES = 256;
    private static final int UPLOAD_CHUNK = 16 << 20;

    private final DType dtype;
    private final DeviceBuffer buffer;
    private final long[] offsets;
    private final long totalElements;
    private final List<Tensor> views;

    private CudaParameters(DType dtype, DeviceBuffer buffer, long[] offsets, long totalElements, List<Tensor> views) {
        this.dtype = dtype;
        this.buffer = buffer;
        this.offsets = offsets;
        this.totalElements = totalElements;
        this.views = views;
    }

    static CudaParameters upload(List<HostTensor> tensors, DType dtype, CudaStream stream) {
        int[][] shapes = new int[tensors.size()][];
        for (int i = 0; i < tensors.size(); i++) {
            shapes[i] = matrixShape(tensors.get(i));
        }
        return allocate(shapes, dtype, stream, (buf, offsets) -> {
            try (PinnedBuffer staging = PinnedBuffer.allocate(UPLOAD_CHUNK)) {
                for (int i = 0; i < tensors.size(); i++) {
                    uploadOne(tensors.get(i), dtype, buf, offsets[i] * dtype.bytes(), staging, stream);
                }
                stream.synchronize(); // the staging buffer is freed next
            }
        });
    }

    /** Parameters of the given [rows, cols] shapes, all zero: the layout of {@link #upload}, cleared on the device. */
    static CudaParameters zeros(int[][] shapes, DType dtype, CudaStream stream) {
        for (int i = 0; i < shapes.length; i++) {
            if (shapes[i].length != 2 || shapes[i][0] <= 0 || shapes[i][1] <= 0) {
                throw new ZotuneException("zero parameter " + i + ": shape " + java.util.Arrays.toString(shapes[i])
                        + " is not [rows > 0, cols > 0]");
            }
        }
        return allocate(shapes, dtype, stream, (buf, offsets) -> { });
    }

    /** Writes the parameters into the zeroed buffer, parameter i at element offsets[i]; done when it returns. */
    private interface Fill {
        void into(DeviceBuffer buf, long[] offsets);
    }

    /**
     * One buffer for {@code shapes}, each parameter at a 256-byte-aligned element offset, cleared (padding is zero,
     * never garbage), then {@code fill}ed; its views.
     */
    private static CudaParameters allocate(int[][] shapes, DType dtype, CudaStream stream, Fill fill) {
        long alignElems = ALIGN_BYTES / dtype.bytes();
        long[] offsets = new long[shapes.length];
        long total = 0;
        for (int i = 0; i < shapes.length; i++) {
            offsets[i] = total;
            total += ((long) shapes[i][0] * shapes[i][1] + alignElems - 1) / alignElems * alignElems;
        }
        DeviceBuffer buf = DeviceBuffer.allocate(Math.max(ALIGN_BYTES, total * dtype.bytes()));
        try {
            buf.fill(0, buf.bytes(), 0, stream);
            fill.into(buf, offsets);
            stream.synchronize();
        } catch (RuntimeException e) {
            buf.close();
            throw e;
        }
        List<Tensor> views = new ArrayList<>();
        for (int i = 0; i < shapes.length; i++) {
            views.add(new CudaTensor(buf.address() + offsets[i] * dtype.bytes(), shapes[i][0], shapes[i][1], dtype));
        }
        return new CudaParameters(dtype, buf, offsets, total, Collections.unmodifiableList(views));
    }

    /** [n] → [1, n]; [r, c] → [r, c]; higher ranks fold the leading dimensions into rows. */
    private static int[] matrixShape(HostTensor t) {
        long cols = t.rank() == 0 ? 1 : t.dim(t.rank() - 1);
        long rows = cols == 0 ? 0 : t.numel() / cols;
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE || t.numel() == 0) {
            throw new ZotuneException("tensor " + t.name() + ": shape " + java.util.Arrays.toString(t.shape())
                    + " cannot be a CUDA parameter (empty, or a dimension over 2^31)");
        }
        return new int[] {(int) rows, (int) cols};
    }

    private static void uploadOne(HostTensor t, DType dtype, DeviceBuffer buf, long byteOffset, PinnedBuffer staging,
                                  CudaStream stream) {
        ByteBuffer src = t.bytes();
        long n = t.numel();
        int perChunk = UPLOAD_CHUNK / Math.max(t.dtype().bytes(), dtype.bytes());
        for (long start = 0; start < n; start += perChunk) {
            int count = (int) Math.min(perChunk, n - start);
            stream.synchronize(); // the previous chunk has left the staging buffer
            ByteBuffer dst = staging.slice(0, count * dtype.bytes());
            if (t.dtype() == dtype) {
                ByteBuffer s = src.duplicate();
                s.position((int) (start * dtype.bytes())).limit((int) ((start + count) * dtype.bytes()));
                dst.put(s);
            } else {
                ByteBuffer s = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                for (int j = 0; j < count; j++) {
                    long e = start + j;
                    float v;
                    switch (t.dtype()) {
                        case F32: v = s.getFloat((int) (e * 4)); break;
                        case BF16: v = DType.bf16ToFloat(s.getShort((int) (e * 2))); break;
                        default: v = DType.f16ToFloat(s.getShort((int) (e * 2))); break;
                    }
                    switch (dtype) {
                        case F32: dst.putFloat(v); break;
                        case BF16: dst.putShort(DType.floatToBf16(v)); break;
                        default: {
                            short h = DType.floatToF16(v);
                            if ((h & 0x7fff) == 0x7c00 && Float.isFinite(v)) {
                                throw overflow(t, e, v);
                            }
                            dst.putShort(h);
                        }
                    }
                }
            }
            buf.copyFromHost(staging.pointer(), byteOffset + start * dtype.bytes(), (long) count * dtype.bytes(),
                    stream);
        }
    }

    /** A finite value that rounds to infinity in f16 (beyond 65504): refused rather than uploaded as inf. */
    private static ZotuneException overflow(HostTensor t, long element, float v) {
        return new ZotuneException("tensor " + t.name() + ": element " + element + " = " + v
                + " overflows f16 (largest finite 65504); load it as bf16 or f32");
    }

    @Override
    public Tensor weight(int index) {
        return views.get(index);
    }

    @Override
    public int count() {
        return offsets.length;
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public long offset(int index) {
        return offsets[index];
    }

    @Override
    public long totalElements() {
        return totalElements;
    }

    @Override
    public List<Tensor> views() {
        return views;
    }

    /** Device address of the flat buffer (for kernels that sweep every parameter). */
    public long address() {
        return buffer.address();
    }

    @Override
    public void close() {
        buffer.close();
    }
}
