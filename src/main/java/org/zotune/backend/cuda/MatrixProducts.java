package org.zotune.backend.cuda;

import org.zotune.cuda.Cublas;
import org.zotune.cuda.CublasLt;
import org.zotune.tensor.DType;

/**
 * The matrix products of the CUDA backend, on cuBLAS / cuBLASLt: X·Wᵀ (into dense rows, or padded rows for an
 * output width cuBLAS handles badly), the LM head that keeps its padded rows, the cuBLASLt bias + activation
 * epilogue and its choice, and attention's two strided-batched products. Operands arrive checked (CudaOps checks
 * shapes and dtypes); temporaries come from the activation arena. Owns the cuBLAS handle.
 */
final class MatrixProducts implements AutoCloseable {
    /** Output elements from which a GEMM with an unaligned output row is computed into padded rows. */
    private static final long PADDED_GEMM_MIN = 1L << 16;

    private final Cublas cublas;
    private final DeviceMemory memory;
    private final DType computeType;
    private final CudaOptions options;
    private final int vecWidth;
    private boolean ltEpilogue;

    /** Takes ownership of {@code cublas}. */
    MatrixProducts(Cublas cublas, DeviceMemory memory, DType computeType, CudaOptions options) {
        this.cublas = cublas;
        this.memory = memory;
        this.computeType = computeType;
        this.options = options;
        this.vecWidth = 16 / computeType.bytes();
        this.ltEpilogue = options.ltEpilogue();
    }

    /** out = a·wtᵀ, out [a.rows, wt.rows] dense (allocated by the caller, not empty). */
    void linear(CudaTensor a, CudaTensor wt, CudaTensor out) {
        int m = wt.rows();
        if (m % vecWidth != 0 && (long) a.rows() * m >= PADDED_GEMM_MIN) {
            DeviceArena.Mark mark = memory.mark();
            try {
                CudaTensor padded = padded(a, wt);
                long eb = computeType.bytes();
                memory.copyRows(out.address(), m * eb, padded.address(), padded.ld() * eb, m * eb, a.rows(), "linear");
            } finally {
                memory.reset(mark);
            }
        } else {
            // row-major Y = X·Wᵀ is column-major Yᵀ = W·Xᵀ: A = W (k×m stored, transposed), B = X
            cublas.gemm(true, false, m, a.rows(), a.cols(), 1f, wt.address(), computeType, wt.cols(),
                    a.address(), computeType, a.cols(), 0f, out.address(), computeType, m);
        }
    }

    /**
     * Whether the LM head a·wtᵀ keeps padded rows ({@link #padded}): strided logits on, an output width that is not a
     * multiple of 16 bytes, and a product large enough to matter. Otherwise it is a {@link #linear} product.
     */
    boolean keepsPaddedRows(CudaTensor a, CudaTensor wt) {
        return options.stridedLogits() && a.cols() == wt.cols() && wt.rows() % vecWidth != 0
                && (long) a.rows() * wt.rows() >= PADDED_GEMM_MIN;
    }

    /**
     * X·Wᵀ into rows padded to a multiple of 64 elements. An output width that is not a multiple of 16
     * bytes (GPT-2's vocabulary, 50257) makes cuBLAS fall back to an align-1 sm75 kernel, 10x slower,
     * even with a padded ldc (measured): so the aligned bulk of W's rows is one GEMM and the last
     * (fewer than 8) rows a second, tiny one, both writing into the padded rows.
     */
    CudaTensor padded(CudaTensor a, CudaTensor wt) {
        int m = wt.rows();
        int ldc = (m + 63) / 64 * 64;
        long eb = computeType.bytes();
        CudaTensor padded = new CudaTensor(memory.allocate((long) a.rows() * ldc * eb), a.rows(), m, computeType, ldc);
        int bulk = m / vecWidth * vecWidth;
        if (bulk > 0) {
            cublas.gemm(true, false, bulk, a.rows(), a.cols(), 1f, wt.address(), computeType, wt.cols(),
                    a.address(), computeType, a.cols(), 0f, padded.address(), computeType, ldc);
        }
        cublas.gemm(true, false, m - bulk, a.rows(), a.cols(), 1f, wt.address() + (long) bulk * wt.cols() * eb,
                computeType, wt.cols(), a.address(), computeType, a.cols(), 0f, padded.address() + bulk * eb,
                computeType, ldc);
        return padded;
    }

    // ---- cuBLASLt's bias + activation epilogue -----------------------------------------------------------------

    /** Switches the epilogue on or off (bf16 / f16 only; default {@link CudaOptions#ltEpilogue()}). */
    void ltEpilogue(boolean on) {
        this.ltEpilogue = on;
    }

    /**
     * Whether a product with a bias may take the epilogue at all: switched on, and not f32 (our pass keeps float32
     * results in the reference's order). {@link #epilogue} decides per shape.
     */
    boolean epilogueEnabled() {
        return ltEpilogue && computeType != DType.F32;
    }

    /** Products that took cuBLASLt's epilogue so far. */
    long ltProducts() {
        return cublas.lt().products();
    }

    /**
     * epilogue(a·wtᵀ + b) as one cuBLASLt product into a new tensor, or null (nothing allocated) where that does not
     * apply: mismatched sizes (the unfused path reports them), widths or addresses not 16-byte multiples, or no
     * cuBLASLt algorithm for the shape.
     */
    CudaTensor epilogue(CudaTensor a, CudaTensor wt, CudaTensor b, CublasLt.Epilogue epilogue) {
        if (a.cols() != wt.cols() || b.numel() != wt.rows()) {
            return null;
        }
        int m = wt.rows();
        if (a.rows() == 0 || m % vecWidth != 0 || a.cols() % vecWidth != 0
                || !KernelSet.aligned(a.address(), wt.address(), b.address())) {
            return null;
        }
        DeviceArena.Mark mark = memory.mark();
        CudaTensor out = memory.alloc(a.rows(), m, computeType);
        if (!KernelSet.aligned(out.address()) || !cublas.lt().matmulTransA(m, a.rows(), a.cols(), wt.address(),
                wt.cols(), a.address(), a.cols(), out.address(), m, b.address(), computeType, epilogue)) {
            memory.reset(mark);
            return null;
        }
        return out;
    }

    // ---- attention's products over B·H heads of [T, D] ---------------------------------------------------------

    /** scores[bh] (row-major [T, T], f32) = Q·Kᵀ·scale for Q, K [B·H, T, D]. */
    void attentionScores(CudaTensor qh, CudaTensor kh, CudaTensor scores, int heads, int t, int d, float scale) {
        attentionScores(qh, kh, scores, heads, t, t, d, scale);
    }

    /** scores[bh] (row-major [Tq, Tk], f32) = Q·Kᵀ·scale for Q [B·H, Tq, D], K [B·H, Tk, D]. */
    void attentionScores(CudaTensor qh, CudaTensor kh, CudaTensor scores, int heads, int tq, int tk, int d,
                         float scale) {
        // column-major that is K(ᵀ stored)·Q
        cublas.gemmStridedBatched(true, false, tk, tq, d, scale,
                kh.address(), computeType, d, (long) tk * d,
                qh.address(), computeType, d, (long) tq * d,
                0f, scores.address(), DType.F32, tk, (long) tq * tk, heads);
    }

    /** out[bh] (row-major [T, D]) = P·V for P [B·H, T, T], V [B·H, T, D]. */
    void attentionValues(CudaTensor probs, CudaTensor vh, CudaTensor oh, int heads, int t, int d) {
        attentionValues(probs, vh, oh, heads, t, t, d);
    }

    /** out[bh] (row-major [Tq, D]) = P·V for P [B·H, Tq, Tk], V [B·H, Tk, D]. */
    void attentionValues(CudaTensor probs, CudaTensor vh, CudaTensor oh, int heads, int tq, int tk, int d) {
        // column-major Oᵀ = Vᵀ·Pᵀ with both stored as-is
        cublas.gemmStridedBatched(false, false, d, tq, tk, 1f,
                vh.address(), computeType, d, (long) tk * d,
                probs.address(), computeType, tk, (long) tq * tk,
                0f, oh.address(), computeType, d, (long) tq * d, heads);
    }

    @Override
    public void close() {
        cublas.close();
    }
}
