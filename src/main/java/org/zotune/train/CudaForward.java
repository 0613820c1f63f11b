package org.zotune.train;

import java.util.List;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.CausalLM;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * The forward passes of a {@link CpuZoEngine} on a CUDA device: each pass uploads the host's θ (or θ ± εu) into one
 * device parameter buffer and runs the objective on {@link CudaOps}. Used for q &gt; 1 SPSA samples, whose
 * directions (streams 3 + k) the fused kernels do not regenerate: the update stays on the host, bit for bit the
 * CPU engine's, and the losses are the device's. Costs one host-to-device copy of θ per pass.
 */
final class CudaForward implements CpuZoEngine.Forward {
    private final CudaOps ops;
    private final CausalLM model;
    private final Objective objective;
    private final Parameters device;
    private final CudaTheta theta;
    private final int[] from;
    private final int[] count;

    /** Takes ownership of {@code ops}. */
    CudaForward(CudaOps ops, CausalLM model, List<HostTensor> initial, DType dtype, Objective objective) {
        this.ops = ops;
        this.model = model;
        this.objective = objective;
        this.device = ops.createParameters(initial, dtype);
        this.theta = new CudaTheta(ops, device);
        this.from = new int[initial.size()];
        this.count = new int[initial.size()];
        for (int p = 0; p < count.length; p++) {
            count[p] = Math.toIntExact(initial.get(p).numel());
        }
    }

    private void upload(float[] flat, long[] offsets) {
        float[][] v = new float[offsets.length][];
        for (int p = 0; p < offsets.length; p++) {
            v[p] = flat;
            from[p] = Math.toIntExact(offsets[p]);
        }
        theta.upload(v, from, count);
    }

    @Override
    public float loss(float[] flat, long[] offsets, List<PromptBatch> microBatches) {
        upload(flat, offsets);
        float sum = 0f;
        for (PromptBatch b : microBatches) {
            try (Ops.Scope s = ops.scope()) {
                sum += objective.loss(ops, model, device, b);
            }
        }
        return sum / microBatches.size(); // the mean over micro-batches (exact for one)
    }

    @Override
    public <R> R evaluate(float[] flat, long[] offsets, ZoEngine.Evaluation<R> evaluation) {
        upload(flat, offsets);
        return evaluation.run(ops, model, device);
    }

    @Override
    public String device() {
        return "cuda";
    }

    @Override
    public void close() {
        try {
            theta.close();
            device.close();
        } finally {
            ops.close();
        }
    }
}
