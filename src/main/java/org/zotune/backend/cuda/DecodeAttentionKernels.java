package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.backend.AttentionSpec;
import org.zotune.cuda.Kernel;
import org.zotune.model.ModelConfig;

/**
 * Launchers of native/kernels/decode_attention.cu: a few queries per sequence (a decode step) attending over a
 * key/value prefix or a batched cache where it lies, one block per (query token, head).
 */
final class DecodeAttentionKernels {
    /** Threads per block: 128 keys scored at a time, 128 / (D / N) value rows summed at a time. */
    static final int THREADS = 128;
    /** The most keys (prefix rows read plus own tokens) a block holds scores for in shared memory (32 KiB). */
    static final int MAX_KEYS = 8192;
    /** The most query tokens per sequence the kernel is chosen for: each block reads the whole cache again. */
    static final int MAX_QUERIES = 8;

    private final KernelSet k;

    DecodeAttentionKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("attention_decode_" + t, "pipipippppppppiiiiiiifiiddddi");
        }
        return s;
    }

    /** The grid's second dimension holds the B·T query tokens, and CUDA allows at most this many there. */
    static final int MAX_TOKENS = 65535;

    /** Whether the kernel takes this shape ({@link #takes}). */
    boolean supports(AttentionSpec spec, int prefixRows) {
        return takes(spec.batch(), spec.seq(), spec.headDim(), prefixRows, k.vecWidth());
    }

    /**
     * Whether the kernel takes {@code batch} sequences of {@code queries} tokens of head dimension {@code d} over
     * {@code prefixRows} rows, with {@code vecWidth} elements in 16 bytes: at most {@link #MAX_QUERIES} queries, D a
     * whole number of vectors and at most 256, the keys' scores within {@link #MAX_KEYS}, B·T within
     * {@link #MAX_TOKENS}.
     */
    static boolean takes(int batch, int queries, int d, int prefixRows, int vecWidth) {
        return queries >= 1 && queries <= MAX_QUERIES && d > 0 && d % vecWidth == 0 && d <= 256
                && (long) prefixRows + queries <= MAX_KEYS && batch >= 1 && (long) batch * queries <= MAX_TOKENS;
    }

    /** The dynamic shared memory of a block: q [D], the partial outputs [G·D], the scores [prefixRows + queries]. */
    static int sharedBytes(int queries, int d, int prefixRows, int vecWidth) {
        int groups = THREADS / (d / vecWidth);
        return 4 * (d + groups * d + prefixRows + queries);
    }

    /**
     * out [B·T, H·D] = attention of q's rows over the prefix / cache rows {@code keys}, {@code values} [rows, Hkv·D]
     * (16-byte aligned; {@code stride} 0 shared, else sequence b's block at row b·stride, {@code np} rows of it
     * read, those before fixed + max(pos[b·T], 0) visible) and the tokens' own k, v (biases 0 or the packed bias's q,
     * k and v parts, added and rounded as the unfused path adds them).
     */
    void launch(long q, int ldq, long kAddr, int ldk, long vAddr, int ldv, long qBias, long kBias, long vBias,
                long keys, long values, CudaIntTensor mask, CudaIntTensor pos, CudaTensor out, AttentionSpec spec,
                int np, int stride, int fixed) {
        Kernel kd = k.get("attention_decode", k.computeType);
        ModelConfig.RopeScaling rs = spec.ropeScaling();
        int d = spec.headDim();
        int shared = sharedBytes(spec.seq(), d, np, k.vecWidth());
        kd.args().ptr(0, q).i32(1, ldq).ptr(2, kAddr).i32(3, ldk).ptr(4, vAddr).i32(5, ldv)
                .ptr(6, qBias).ptr(7, kBias).ptr(8, vBias).ptr(9, keys).ptr(10, values)
                .ptr(11, mask.address()).ptr(12, pos == null ? 0L : pos.address()).ptr(13, out.address())
                .i32(14, spec.seq()).i32(15, spec.numHeads()).i32(16, spec.numKvHeads()).i32(17, d)
                .i32(18, np).i32(19, stride).i32(20, fixed).f32(21, spec.scale())
                .i32(22, spec.causal() ? 1 : 0).i32(23, spec.rope() ? 1 : 0)
                .f64(24, spec.ropeTheta())
                .f64(25, rs == null ? 0 : rs.factor())
                .f64(26, rs == null ? 0 : rs.lowFreqFactor())
                .f64(27, rs == null ? 0 : rs.highFreqFactor())
                .i32(28, rs == null ? 0 : rs.originalMaxPositions());
        kd.launch(spec.numHeads(), spec.batch() * spec.seq(), 1, THREADS, 1, 1, shared, k.stream);
    }
}
