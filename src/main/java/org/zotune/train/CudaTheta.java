package org.zotune.train;

import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaParameters;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.DevicePointer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * θ between the host and a flat {@link CudaParameters} buffer: values in, values out, exact (the values are
 * representable in the parameter dtype). Owns a pinned staging buffer the size of the device buffer, so that an
 * upload is one asynchronous copy.
 */
final class CudaTheta implements AutoCloseable {
    private final CudaOps ops;
    private final CudaParameters params;
    private final PinnedBuffer staging;

    CudaTheta(CudaOps ops, Parameters params) {
        this.ops = ops;
        this.params = (CudaParameters) params;
        long bytes = Math.max(4L, this.params.totalElements() * this.params.dtype().bytes());
        this.staging = PinnedBuffer.allocate(bytes);
        // pinned memory is not zeroed: the alignment padding between tensors is uploaded too, keep it 0
        for (long at = 0; at < bytes; at += 1 << 20) {
            int n = (int) Math.min(1 << 20, bytes - at);
            staging.slice(at, n).put(new byte[n]);
        }
    }

    /** Tensor p's values are {@code values[p]}, starting at {@code from[p]} (float32 values of the dtype). */
    void upload(float[][] values, int[] from, int[] count) {
        DType dtype = params.dtype();
        long total = params.totalElements() * dtype.bytes();
        ops.stream().synchronize(); // the staging buffer may still feed the previous upload
        for (int p = 0; p < params.count(); p++) {
            long at = params.offset(p) * dtype.bytes();
            int n = count[p];
            ByteBuffer b = staging.slice(at, n * dtype.bytes());
            float[] v = values[p];
            int o = from[p];
            if (dtype == DType.F32) {
                b.asFloatBuffer().put(v, o, n);
            } else if (dtype == DType.BF16) {
                for (int j = 0; j < n; j++) {
                    b.putShort(DType.floatToBf16(v[o + j]));
                }
            } else {
                for (int j = 0; j < n; j++) {
                    b.putShort(DType.floatToF16(v[o + j]));
                }
            }
        }
        Cuda.check(cudaMemcpyAsync(new DevicePointer(params.address()), staging.pointer(), total,
                cudaMemcpyHostToDevice, ops.stream().handle()), "cudaMemcpyAsync(θ upload)");
    }

    /** Uploads host tensors (the model's order and shapes) and waits. */
    void upload(List<HostTensor> tensors) {
        int n = tensors.size();
        float[][] v = new float[n][];
        int[] from = new int[n];
        int[] count = new int[n];
        for (int p = 0; p < n; p++) {
            v[p] = tensors.get(p).toFloats();
            count[p] = v[p].length;
        }
        upload(v, from, count);
        ops.stream().synchronize();
    }

    /** θ as host tensors of the parameter dtype (synchronises). */
    List<HostTensor> download(List<ParamSpec> specs) {
        List<HostTensor> out = new ArrayList<>(specs.size());
        for (int p = 0; p < specs.size(); p++) {
            ParamSpec s = specs.get(p);
            out.add(HostTensors.of(s.name(), ops.toHost(params.weight(p)), s.shape(), params.dtype()));
        }
        return out;
    }

    @Override
    public void close() {
        ops.stream().synchronize();
        staging.close();
    }
}
