package org.zotune.backend.cpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** Parameters in one flat float array, each view starting at a 256-byte (in {@code dtype}) boundary. */
final class CpuParameters implements Parameters {
    private final DType dtype;
    private final float[] flat;
    private final long[] offsets;
    private final List<Tensor> views;

    CpuParameters(List<HostTensor> tensors, DType dtype) {
        this.dtype = dtype;
        int align = 256 / dtype.bytes();
        offsets = new long[tensors.size()];
        long total = 0;
        for (int i = 0; i < tensors.size(); i++) {
            offsets[i] = total;
            total = (total + tensors.get(i).numel() + align - 1) / align * align;
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("model too large for the CPU backend: " + total + " elements");
        }
        flat = new float[(int) total];
        List<Tensor> v = new ArrayList<>(tensors.size());
        for (int i = 0; i < tensors.size(); i++) {
            HostTensor t = tensors.get(i);
            float[] values = t.toFloats();
            int off = (int) offsets[i];
            for (int j = 0; j < values.length; j++) {
                float r = dtype.round(values[j]);
                if (Float.isInfinite(r) && Float.isFinite(values[j])) {
                    // f16 tops out at 65504: a silent infinity would poison every forward pass
                    throw new ZotuneException("tensor " + t.name() + ": element " + j + " = " + values[j]
                            + " overflows " + dtype.name().toLowerCase(java.util.Locale.ROOT)
                            + (dtype == DType.F16 ? " (largest finite 65504)" : "") + "; load it as bf16 or f32");
                }
                flat[off + j] = r;
            }
            int rows = t.rank() == 2 ? (int) t.dim(0) : 1;
            int cols = (int) (t.numel() / rows);
            v.add(new CpuTensor(flat, off, rows, cols, dtype));
        }
        views = Collections.unmodifiableList(v);
    }

    /** The flat array (for the ZO reference code that updates all parameters in one pass). */
    float[] flat() {
        return flat;
    }

    @Override
    public Tensor weight(int index) {
        return views.get(index);
    }

    @Override
    public int count() {
        return views.size();
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
        return flat.length;
    }

    @Override
    public List<Tensor> views() {
        return views;
    }

    @Override
    public void close() {
        // heap memory: nothing to release
    }
}
