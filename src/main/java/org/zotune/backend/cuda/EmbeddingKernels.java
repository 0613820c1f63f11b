package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.cuda.Kernel;

/** Launchers of native/kernels/embedding.cu. */
final class EmbeddingKernels {
    private final KernelSet k;

    EmbeddingKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("embedding_gather_" + t, "pppiii");
        }
        return s;
    }

    /** out[r] = table[ids[r]] (out has ids.length rows; at least one). */
    void gather(CudaIntTensor ids, CudaTensor table, CudaTensor out) {
        Kernel g = k.get("embedding_gather", k.computeType);
        g.args().ptr(0, ids.address()).ptr(1, table.address()).ptr(2, out.address())
                .i32(3, ids.length()).i32(4, table.cols()).i32(5, table.rows());
        g.launch(k.grid(out.numel()), KernelSet.THREADS, k.stream);
    }
}
