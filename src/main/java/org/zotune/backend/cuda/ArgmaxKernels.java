package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.cuda.Kernel;

/** Launchers of native/kernels/argmax.cu: each row's argmax (greedy decoding's next tokens on the device). */
final class ArgmaxKernels {
    private final KernelSet k;

    ArgmaxKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("argmax_rows_" + t, "piip");
        }
        return s;
    }

    /** out[r] = the index of row r's largest value (lowest on ties, NaN never; -1 for a row of NaN only). */
    void rows(CudaTensor x, CudaIntTensor out) {
        Kernel rows = k.get("argmax_rows", x.dtype());
        rows.args().ptr(0, x.address()).i32(1, x.ld()).i32(2, x.cols()).ptr(3, out.address());
        rows.launch(x.rows(), 1, 1, Math.min(1024, KernelSet.rowThreads(x.cols())), 1, 1, 0, k.stream);
    }
}
