package org.zotune.backend.cuda;

import org.zotune.cuda.Cublas;
import org.zotune.cuda.CublasLt;
import org.zotune.cuda.Tf32Tuner;
import org.zotune.tensor.DType;

/**
 * The matrix products of the CUDA backend, on cuBLAS / cuBLASLt: X·Wᵀ (into dense rows, or padded rows for an
 * output width cuBLAS handles badly), the LM head that keeps its padded rows, the cuBLASLt bias + activation
 * epilogue and its choice, and attention's two strided-batched products. In float32, X·Wᵀ of at least
 * {@link #X3_MIN_ROWS} rows runs in 3xTF32 where switched on ({@link CudaOptions#gemmF32()}): both operands split
 * into TF32 parts by tf32_split.cu and one cuBLAS TF32 product over the parts (see that file), with the algorithm
 * {@link Tf32Tuner} chose for its shape (bitwise cublasGemmEx's default's results). Operands arrive
 * checked (CudaOps checks shapes and dtypes); temporaries come from the activation arena. Owns the cuBLAS handle.
 */
final class MatrixProducts implements AutoCloseable {
    /** Output elements from which a GEMM with an unaligned output row is computed into padded rows. */
    private static final long PADDED_GEMM_MIN = 1L << 16;
    /**
     * The fewest rows of X, and outputs and inner size, of a float32 product taken in 3xTF32: with fewer rows the
     * split's passes over W cost more than the tensor cores save (a decode step's few rows stay on SGEMM).
     */
    static final int X3_MIN_ROWS = 512;
    static final int X3_MIN_SIZE = 128;
    /**
     * Float32 elements of split rows (3 per element) held at a time: for W 64 MiB (every weight of RoBERTa-large at
     * once; an LM head in chunks), for X 192 MiB (4096 rows of 4096 at once: a chunk of rows is a smaller, slower
     * GEMM). Tests shrink both to reach the chunk loops with small matrices.
     */
    static long x3WeightChunk = 16L << 20;
    static long x3InputChunk = 48L << 20;

    private final Cublas cublas;
    private final DeviceMemory memory;
    private final DType computeType;
    private final CudaOptions options;
    private final int vecWidth;
    /** The split of the 3xTF32 products, or null: float32 products on SGEMM (or not float32). */
    private final Tf32SplitKernels x3Split;
    /** An input split once for the products that read it ({@link #share}), or null. */
    private SharedInput shared;

    /** x (rows ld floats apart) split into {@code split} as rows [lo | hi | hi]. */
    private record SharedInput(long x, int ld, int rows, int cols, long split) {
        /** Whether this is the split of X [rows, cols] at x, rows ld floats apart. */
        boolean of(long at, int rowsApart, int n, int k) {
            return x == at && ld == rowsApart && rows == n && cols == k;
        }
    }
    /** A split its producer wrote with the input of the next product ({@link #offer}), or null. */
    private SharedInput offered;
    /** Whether the offered split's tensor holds its values too (else only the split does). */
    private boolean offeredWritten;
    /** Products that took the split of an activation that holds no values (tests). */
    private long unwrittenTaken;
    /** Products that took an offered split so far (tests). */
    private long offeredTaken;
    /** Whether producers write the split of their output for the next product (tests switch it off to compare). */
    static boolean producersSplit = true;
    /** The matrix whose values are deferred ({@link #defer}), or null. */
    private Deferred deferred;
    /** Split chunks of W taken from a deferred matrix so far (tests, benchmarks). */
    private long deferredSplits;

    /** A dense [rows, cols] float32 matrix at {@code address} whose values {@code values} writes when asked. */
    private record Deferred(long address, int rows, int cols, DeferredMatrix values) {
        boolean overlaps(long from, long bytes) {
            return from < address + (long) rows * cols * Float.BYTES && address < from + bytes;
        }
    }
    private boolean ltEpilogue;

    /**
     * Takes ownership of {@code cublas}. {@code split}: the TF32 split kernels, used for float32 products where
     * options.gemmF32() is on.
     */
    MatrixProducts(Cublas cublas, DeviceMemory memory, DType computeType, CudaOptions options,
                   Tf32SplitKernels split) {
        this.cublas = cublas;
        this.memory = memory;
        this.computeType = computeType;
        this.options = options;
        this.vecWidth = 16 / computeType.bytes();
        this.x3Split = computeType == DType.F32 && options.gemmF32() ? split : null;
        this.ltEpilogue = options.ltEpilogue();
    }

    /** Whether float32 products of this size run in 3xTF32 here (tests check which path they measured). */
    boolean x3(int outputs, int rows, int inner) {
        return x3Split != null && rows >= X3_MIN_ROWS && outputs >= X3_MIN_SIZE && inner >= X3_MIN_SIZE;
    }

    /**
     * Splits x now, into a buffer of the activation arena, for the 3xTF32 products that read it until {@link #unshare}
     * (x must not change meanwhile): q, k and v split their common input once instead of three times. Nothing where
     * x's products would not run in 3xTF32 or would split it in chunks.
     */
    void share(CudaTensor x) {
        int n = x.rows();
        int k = x.cols();
        shared = null;
        if (!splitsWhole(n, k)) {
            return;
        }
        long split = memory.allocate((long) n * 3 * k * Float.BYTES);
        x3Split.splitRows(x.address(), x.ld(), n, k, Tf32SplitKernels.LO_FIRST, split);
        shared = new SharedInput(x.address(), x.ld(), n, k, split);
    }

    /** Ends {@link #share}: later products split their input themselves. */
    void unshare() {
        shared = null;
    }

    /** Whether an input is shared now (tests). */
    boolean sharing() {
        return shared != null;
    }

    /**
     * Whether a producer of an [rows, cols] float32 output should write its split for the next product
     * ({@link #offer}): 3xTF32 products, rows and columns a 3xTF32 product takes as its input, in one chunk.
     */
    boolean takesSplitOf(int rows, int cols) {
        return producersSplit && cols % 4 == 0 && splitsWhole(rows, cols);
    }

    /** Whether a 3xTF32 product would read an [rows, cols] input as its X, split in one chunk. */
    private boolean splitsWhole(int rows, int cols) {
        return x3Split != null && rows >= X3_MIN_ROWS && cols >= X3_MIN_SIZE
                && rows <= chunkRows(x3InputChunk, 3 * cols);
    }

    /**
     * The split of y (rows [lo | hi | hi], in {@code split}) for the NEXT product only: if it reads y as its input it
     * takes this split; whatever it reads, the offer ends with it (so a later tensor at y's address never meets it).
     * With {@code written} false y holds no values, only its split does: the next product must read y and take the
     * split (checked there; {@link #linearTakesSplit} says which products do).
     */
    void offer(CudaTensor y, long split, boolean written) {
        offered = new SharedInput(y.address(), y.ld(), y.rows(), y.cols(), split);
        offeredWritten = written;
    }

    /** Ends an offer the next product has not taken yet. */
    void endOffer() {
        offered = null;
    }

    /**
     * Whether {@link #linear} of an X [rows, inner] by W [outputs, inner] is ONE 3xTF32 product that takes an offered
     * split of X whole (no padded rows, one chunk).
     */
    boolean linearTakesSplit(int outputs, int rows, int inner) {
        return takesSplitOf(rows, inner) && x3(outputs, rows, inner) && outputs % vecWidth == 0;
    }

    /** Products that took the split of an activation whose values were never written, so far. */
    long unwrittenTaken() {
        return unwrittenTaken;
    }

    /** Products that took an offered split so far. */
    long offeredTaken() {
        return offeredTaken;
    }

    /**
     * Whether {@link #defer} takes an [rows, cols] matrix: float32 products in 3xTF32, a matrix that can be a 3xTF32
     * product's W (at least 128 rows and columns), whole 16-byte rows.
     */
    boolean defers(int rows, int cols) {
        return x3Split != null && rows >= X3_MIN_SIZE && cols >= X3_MIN_SIZE && cols % 4 == 0;
    }

    /**
     * Defers t's values to {@code values} (see {@link DeferredMatrix}), replacing a matrix deferred before, which
     * nothing read (its tensor is the same reused slot, or dropped).
     */
    void defer(CudaTensor t, DeferredMatrix values) {
        if (!defers(t.rows(), t.cols()) || !t.dense()) {
            throw new IllegalArgumentException("defer: a " + t.rows() + "x" + t.cols() + " " + t.dtype()
                    + " tensor is not taken (float32 3xTF32 products, at least 128x128, columns a multiple of 4)");
        }
        deferred = new Deferred(t.address(), t.rows(), t.cols(), values);
    }

    /** Writes the deferred matrix if {@code bytes} from {@code from} overlap it: an op is about to read them. */
    void settle(long from, long bytes) {
        Deferred d = deferred;
        if (d != null && d.overlaps(from, bytes)) {
            deferred = null;
            d.values().materialize();
        }
    }

    /** Split chunks of W that products took from a deferred matrix so far. */
    long deferredSplits() {
        return deferredSplits;
    }

    /** Drops the deferred matrix, unwritten, if it lies in {@code bytes} from {@code from} (memory rewritten or freed). */
    void forget(long from, long bytes) {
        Deferred d = deferred;
        if (d != null && d.overlaps(from, bytes)) {
            deferred = null;
        }
    }

    /** {@link #settle} for t's memory. */
    void settle(CudaTensor t) {
        if (deferred != null) {
            settle(t.address(), ((long) Math.max(0, t.rows() - 1) * t.ld() + t.cols()) * t.dtype().bytes());
        }
    }

    /** The deferred matrix if W [m, k] (rows ldw apart) is its first m rows exactly, or null. */
    private DeferredMatrix deferredAt(long w, int m, int k, int ldw) {
        Deferred d = deferred;
        return d != null && d.address() == w && d.cols() == k && ldw == k && m <= d.rows() ? d.values() : null;
    }

    /**
     * Row-major out[n, m] (rows ldc apart) = X·Wᵀ for X [n, k] (rows ldx apart) and W [m, k] (rows ldw apart), in the
     * compute type: SGEMM or 3xTF32 ({@link #x3}) in float32; X's split is the shared one where it is X's.
     */
    private void product(int m, int n, int k, long w, int ldw, long x, int ldx, long out, int ldc) {
        SharedInput once = offered;
        offered = null; // an offer is for the next product, whatever it reads
        DeferredMatrix later = x3(m, n, k) ? deferredAt(w, m, k, ldw) : null;
        if (deferred != null) {
            if (later == null) {
                settle(w, ((long) Math.max(0, m - 1) * ldw + k) * computeType.bytes());
            }
            settle(x, ((long) Math.max(0, n - 1) * ldx + k) * computeType.bytes());
        }
        if (!x3(m, n, k)) {
            unwrittenNotTaken(once, n, k);
            // row-major Y = X·Wᵀ is column-major Yᵀ = W·Xᵀ: A = W (k×m stored, transposed), B = X
            cublas.gemm(true, false, m, n, k, 1f, w, computeType, ldw, x, computeType, ldx, 0f, out, computeType,
                    ldc);
            return;
        }
        // rows of W as [hi | lo | hi] and of X as [lo | hi | hi]: one TF32 product over 3k pairs lo with hi, hi with
        // lo, hi with hi; both split in chunks of rows that bound the scratch
        int k3 = 3 * k;
        int wChunk = chunkRows(x3WeightChunk, k3);
        int xChunk = chunkRows(x3InputChunk, k3);
        // X already split: the shared input (q, k, v), else the split its producer offered (the GELU's output)
        SharedInput s = n > xChunk ? null : shared != null && shared.of(x, ldx, n, k) ? shared
                : once != null && once.of(x, ldx, n, k) ? once : null;
        if (s != null && s == once) {
            offeredTaken++;
            unwrittenTaken += offeredWritten ? 0 : 1;
        }
        if (s != once) {
            unwrittenNotTaken(once, n, k);
        }
        boolean reuse = s != null;
        DeviceArena.Mark mark = memory.mark();
        try {
            long wParts = memory.allocate((long) Math.min(m, wChunk) * k3 * Float.BYTES);
            long xParts = reuse ? s.split() : memory.allocate((long) Math.min(n, xChunk) * k3 * Float.BYTES);
            for (int c0 = 0; c0 < m; c0 += wChunk) {
                int cols = Math.min(wChunk, m - c0);
                if (later != null) { // a deferred weight: split straight from what it is computed from
                    later.splitRows(c0, cols, Tf32SplitKernels.LO_SECOND, wParts);
                    deferredSplits++;
                } else {
                    x3Split.splitRows(w + (long) c0 * ldw * Float.BYTES, ldw, cols, k, Tf32SplitKernels.LO_SECOND,
                            wParts);
                }
                for (int r0 = 0; r0 < n; r0 += xChunk) {
                    int rows = Math.min(xChunk, n - r0);
                    if (!reuse) { // split again for each chunk of W's rows: only an LM head has more than one
                        x3Split.splitRows(x + (long) r0 * ldx * Float.BYTES, ldx, rows, k, Tf32SplitKernels.LO_FIRST,
                                xParts);
                    }
                    gemmX3(cols, rows, k3, wParts, xParts, out + ((long) r0 * ldc + c0) * Float.BYTES, ldc);
                }
            }
        } finally {
            memory.reset(mark);
        }
    }

    /**
     * The TF32 GEMM of a 3xTF32 product: out [n, m] (rows ldc apart) = xParts·wPartsᵀ over k3, both [·, k3] dense.
     * With {@link CudaOptions#tuneProducts} and every address 256-byte aligned (as the tuner's operands), the
     * algorithm {@link Tf32Tuner} chose for the shape where it chose one (bitwise the default's results); otherwise
     * cublasGemmEx's default.
     */
    private void gemmX3(int m, int n, int k3, long wParts, long xParts, long out, int ldc) {
        if (options.tuneProducts() && ((wParts | xParts | out) & 255) == 0) {
            Tf32Tuner.Choice c = Tf32Tuner.choose(m, n, k3, k3, k3, ldc, cublas.workspaceBytes());
            if (c.chosen()) {
                cublas.lt().matmulTf32(m, n, k3, wParts, k3, xParts, k3, out, ldc, c.algo());
                return;
            }
        }
        cublas.gemmTf32(true, false, m, n, k3, 1f, wParts, k3, xParts, k3, 0f, out, ldc);
    }

    /** Products that ran with a tuned algorithm so far (tests, benchmarks). */
    long tunedProducts() {
        return cublas.lt().tf32Products();
    }

    /** Fails where {@code once}, offered to a product that did not take it, holds no values (a bug of the caller). */
    private void unwrittenNotTaken(SharedInput once, int n, int k) {
        if (once != null && !offeredWritten) {
            throw new IllegalStateException("a product of " + n + "x" + k + " did not take the split of the unwritten "
                    + once.rows() + "x" + once.cols() + " activation offered to it");
        }
    }

    /** Rows of 3·k split floats in {@code elements}: a multiple of 128 (GEMM tiles) where that leaves any, at least 1. */
    private static int chunkRows(long elements, int k3) {
        long rows = elements / k3;
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, rows >= 128 ? rows / 128 * 128 : rows));
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
            product(m, a.rows(), a.cols(), wt.address(), wt.cols(), a.address(), a.cols(), out.address(), m);
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
            product(bulk, a.rows(), a.cols(), wt.address(), wt.cols(), a.address(), a.cols(), padded.address(), ldc);
        }
        product(m - bulk, a.rows(), a.cols(), wt.address() + (long) bulk * wt.cols() * eb, wt.cols(), a.address(),
                a.cols(), padded.address() + bulk * eb, ldc);
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
