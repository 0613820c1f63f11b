package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.cuda.Kernel;
import org.zotune.cuda.KernelArgs;

/**
 * Launchers of native/kernels/norm.cu: LayerNorm and RMSNorm, one block per row; the register-held vector kernels
 * (each thread keeps up to {@link #NORM_NV} 16-byte vectors) where the row fits them, and the fused residual
 * addition + norm.
 */
final class NormKernels {
    /** 16-byte vectors per thread in the register-held norm kernels (native/kernels/norm.cu NORM_NV). */
    private static final int NORM_NV = 4;

    private final KernelSet k;

    NormKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("layernorm_" + t, "ppppif");
            s.put("layernorm_v_" + t, "ppppif");
            s.put("rmsnorm_" + t, "pppif");
            s.put("rmsnorm_v_" + t, "pppif");
            s.put("add_layernorm_v_" + t, "ppppppif");
            s.put("add_rmsnorm_v_" + t, "pppppif");
        }
        return s;
    }

    /**
     * Threads per row for the register-held norm kernels (each thread keeps up to NORM_NV vectors), or 0
     * when the row does not fit them (width not a multiple of the vector, unaligned, or too wide).
     */
    int vectorThreads(int cols, long... addresses) {
        int vw = k.vecWidth();
        if (cols % vw != 0 || !KernelSet.aligned(addresses)) {
            return 0;
        }
        int threads = ((cols / vw + NORM_NV - 1) / NORM_NV + 31) / 32 * 32;
        return threads <= 1024 ? Math.max(32, threads) : 0;
    }

    /** out = LayerNorm(x) (bias 0 = none); x has at least one row. */
    void layerNorm(CudaTensor x, long weight, long bias, CudaTensor out, float eps) {
        int vt = vectorThreads(x.cols(), x.address(), weight, bias, out.address());
        Kernel n = k.get(vt > 0 ? "layernorm_v" : "layernorm", k.computeType);
        n.args().ptr(0, x.address()).ptr(1, weight).ptr(2, bias).ptr(3, out.address()).i32(4, x.cols()).f32(5, eps);
        n.launch(x.rows(), 1, 1, vt > 0 ? vt : KernelSet.rowThreads(x.cols()), 1, 1, 0, k.stream);
    }

    /** out = RMSNorm(x); x has at least one row. */
    void rmsNorm(CudaTensor x, long weight, CudaTensor out, float eps) {
        int vt = vectorThreads(x.cols(), x.address(), weight, out.address());
        Kernel n = k.get(vt > 0 ? "rmsnorm_v" : "rmsnorm", k.computeType);
        n.args().ptr(0, x.address()).ptr(1, weight).ptr(2, out.address()).i32(3, x.cols()).f32(4, eps);
        n.launch(x.rows(), 1, 1, vt > 0 ? vt : KernelSet.rowThreads(x.cols()), 1, 1, 0, k.stream);
    }

    /**
     * residual += y + yBias (0 = none), then out = LayerNorm(residual) (normBias 0 = none) or RMSNorm(residual),
     * one row per block of {@code threads} (from {@link #vectorThreads}).
     */
    void addNorm(boolean layerNorm, CudaTensor residual, CudaTensor y, long yBias, long normWeight, long normBias,
                 CudaTensor out, float eps, int threads) {
        int cols = residual.cols();
        Kernel n = k.get(layerNorm ? "add_layernorm_v" : "add_rmsnorm_v", k.computeType);
        KernelArgs a = n.args().ptr(0, residual.address()).ptr(1, y.address()).ptr(2, yBias).ptr(3, normWeight);
        if (layerNorm) {
            a.ptr(4, normBias).ptr(5, out.address()).i32(6, cols).f32(7, eps);
        } else {
            a.ptr(4, out.address()).i32(5, cols).f32(6, eps);
        }
        n.launch(residual.rows(), 1, 1, threads, 1, 1, 0, k.stream);
    }
}
