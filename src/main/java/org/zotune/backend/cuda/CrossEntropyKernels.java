package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.cuda.Kernel;

/** Launchers of native/kernels/cross_entropy.cu: per-row losses, then their sum and count in one block. */
final class CrossEntropyKernels {
    private final KernelSet k;

    CrossEntropyKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("cross_entropy_rows_" + t, "pppii");
        }
        s.put("cross_entropy_reduce", "pppi");
        return s;
    }

    /** rowLoss[r] = -log softmax(logits[r])[targets[r]] (logits rows ld elements apart; at least one row). */
    void rows(CudaTensor logits, CudaIntTensor targets, long rowLoss) {
        Kernel rows = k.get("cross_entropy_rows", k.computeType);
        rows.args().ptr(0, logits.address()).ptr(1, targets.address()).ptr(2, rowLoss).i32(3, logits.cols())
                .i32(4, logits.ld());
        // one online pass in 16-byte vectors: a 256-thread block streams a 50k-wide row well
        int vw = k.vecWidth();
        rows.launch(logits.rows(), 1, 1, Math.min(256, KernelSet.rowThreads((logits.cols() + vw - 1) / vw)), 1, 1, 0,
                k.stream);
    }

    /** out [1, 2] float32 = (sum of the row losses of counted targets, their count). */
    void reduce(long rowLoss, CudaIntTensor targets, CudaTensor out, int rows) {
        Kernel red = k.get("cross_entropy_reduce");
        red.args().ptr(0, rowLoss).ptr(1, targets.address()).ptr(2, out.address()).i32(3, rows);
        red.launch(1, 1, 1, 1024, 1, 1, 0, k.stream);
    }
}
