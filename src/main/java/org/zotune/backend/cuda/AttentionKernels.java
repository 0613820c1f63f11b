package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.backend.AttentionSpec;
import org.zotune.cuda.Kernel;
import org.zotune.model.ModelConfig;

/**
 * Launchers of native/kernels/attention.cu, the pieces of the unfused attention around cuBLAS's two batched
 * products: q/k/v rows split into per-head [B, H, T, D] tensors (RoPE applied, kv heads expanded), the masked
 * softmax of the float32 scores (causal or bidirectional), and the heads merged back into rows; with a key/value
 * prefix (prefix tuning, the generation's key/value cache) the prefix laid before the split keys and values and the
 * softmax over [prefix | own keys]; and the cache's new rows (keys rotated).
 */
final class AttentionKernels {
    private final KernelSet k;

    AttentionKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            s.put("attention_split_qkv_rope_" + t, "pppppppiiiiiiiiiddddi");
            s.put("attention_split_qkv_v_" + t, "ppppppiiiiiiii");
            s.put("attention_merge_heads_" + t, "ppiiii");
            s.put("attention_merge_heads_v_" + t, "ppiiii");
            s.put("attention_prefix_concat_" + t, "ppppppiiiiiii");
            s.put("attention_prefix_causal_softmax_" + t, "ppppiiiii");
            s.put("attention_prefix_bidir_softmax_" + t, "ppppiiiii");
            s.put("attention_store_kv_seq_" + t, "pipipppppiiiiddddiiii");
            if (!t.equals("f32")) {
                s.put("attention_prefix_concat_f32p_" + t, "ppppppiiiiiii");
            }
            for (String dir : new String[] {"causal", "bidir"}) {
                s.put("attention_" + dir + "_softmax_" + t, "pppii");
                for (int nj : new int[] {1, 2, 4, 8}) {
                    s.put("attention_" + dir + "_softmax_w" + nj + "_" + t, "pppiil");
                }
            }
        }
        return s;
    }

    /**
     * q/k/v rows (strided) → per-head [B, H, T, D] tensors, RoPE applied, kv heads expanded to H; n = B·H·T·D.
     * {@code vec}: 16-byte vectors (no RoPE, aligned rows).
     */
    void splitHeads(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, CudaTensor qh, CudaTensor kh,
                    CudaTensor vh, CudaIntTensor pos, AttentionSpec spec, long n, boolean vec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        if (vec && !spec.rope()) {
            Kernel split = k.get("attention_split_qkv_v", k.computeType);
            split.args().ptr(0, qAddr).ptr(1, kAddr).ptr(2, vAddr)
                    .ptr(3, qh.address()).ptr(4, kh.address()).ptr(5, vh.address())
                    .i32(6, b).i32(7, t).i32(8, h).i32(9, hkv).i32(10, d).i32(11, ldq).i32(12, ldk).i32(13, ldv);
            split.launch(k.grid(n / k.vecWidth()), KernelSet.THREADS, k.stream);
        } else {
            Kernel split = k.get("attention_split_qkv_rope", k.computeType);
            ModelConfig.RopeScaling rs = spec.ropeScaling();
            split.args().ptr(0, qAddr).ptr(1, kAddr).ptr(2, vAddr)
                    .ptr(3, qh.address()).ptr(4, kh.address()).ptr(5, vh.address())
                    .ptr(6, spec.rope() ? pos.address() : 0L)
                    .i32(7, b).i32(8, t).i32(9, h).i32(10, hkv).i32(11, d)
                    .i32(12, ldq).i32(13, ldk).i32(14, ldv).i32(15, spec.rope() ? 1 : 0)
                    .f64(16, spec.ropeTheta())
                    .f64(17, rs == null ? 0 : rs.factor())
                    .f64(18, rs == null ? 0 : rs.lowFreqFactor())
                    .f64(19, rs == null ? 0 : rs.highFreqFactor())
                    .i32(20, rs == null ? 0 : rs.originalMaxPositions());
            split.launch(k.grid(n), KernelSet.THREADS, k.stream);
        }
    }

    /** probs = masked softmax of scores [B·H·T, T] (float32, already scaled), causal or not as the spec says. */
    void softmax(CudaTensor scores, CudaTensor probs, CudaIntTensor mask, AttentionSpec spec) {
        final int h = spec.numHeads(), t = spec.seq();
        String base = spec.causal() ? "attention_causal_softmax" : "attention_bidir_softmax";
        long scoreRows = (long) spec.batch() * h * t;
        if (t % 4 == 0 && t <= 1024) {
            // one warp per row with the row in registers: NJ groups of 128 columns
            int nj = t <= 128 ? 1 : t <= 256 ? 2 : t <= 512 ? 4 : 8;
            Kernel sm = k.get(base + "_w" + nj, k.computeType);
            sm.args().ptr(0, scores.address()).ptr(1, probs.address()).ptr(2, mask.address()).i32(3, h).i32(4, t)
                    .i64(5, scoreRows);
            int warpsPerBlock = KernelSet.THREADS / 32;
            sm.launch((int) ((scoreRows + warpsPerBlock - 1) / warpsPerBlock), 1, 1, KernelSet.THREADS, 1, 1, 0,
                    k.stream);
        } else {
            Kernel sm = k.get(base, k.computeType);
            sm.args().ptr(0, scores.address()).ptr(1, probs.address()).ptr(2, mask.address()).i32(3, h).i32(4, t);
            sm.launch((int) scoreRows, 1, 1, KernelSet.rowThreads(t), 1, 1, 0, k.stream);
        }
    }

    /** O [B, H, T, D] → out [B·T, H·D]; n = B·H·T·D. */
    void mergeHeads(CudaTensor oh, CudaTensor out, AttentionSpec spec, long n) {
        int d = spec.headDim();
        int vw = k.vecWidth();
        boolean vecMerge = d % vw == 0 && n / vw < Integer.MAX_VALUE;
        Kernel merge = k.get(vecMerge ? "attention_merge_heads_v" : "attention_merge_heads", k.computeType);
        merge.args().ptr(0, oh.address()).ptr(1, out.address()).i32(2, spec.batch()).i32(3, spec.seq())
                .i32(4, spec.numHeads()).i32(5, d);
        merge.launch(k.grid(vecMerge ? n / vw : n), KernelSet.THREADS, k.stream);
    }

    /**
     * Kx, Vx [B, H, Np + T, D] = the prefix rows pk, pv [Np, Hkv·D] (the compute type, or float32 under a 16-bit one)
     * for every sequence and head (stride 0), or sequence b's rows from row b·stride (a batched cache), then the split
     * kh, vh [B, H, T, D].
     */
    void concatPrefix(CudaTensor pk, CudaTensor pv, CudaTensor kh, CudaTensor vh, CudaTensor kx, CudaTensor vx,
                      AttentionSpec spec, int np, int stride) {
        boolean f32Prefix = pk.dtype() != k.computeType;
        Kernel c = k.get(f32Prefix ? "attention_prefix_concat_f32p" : "attention_prefix_concat", k.computeType);
        c.args().ptr(0, pk.address()).ptr(1, pv.address()).ptr(2, kh.address()).ptr(3, vh.address())
                .ptr(4, kx.address()).ptr(5, vx.address()).i32(6, spec.batch()).i32(7, spec.numHeads())
                .i32(8, spec.numKvHeads()).i32(9, spec.seq()).i32(10, np).i32(11, spec.headDim()).i32(12, stride);
        c.launch(k.grid((long) spec.batch() * spec.numHeads() * (np + spec.seq()) * spec.headDim()),
                KernelSet.THREADS, k.stream);
    }

    /**
     * probs = masked softmax of scores [B·H·T, Np + T] (float32, scaled): prefix columns always visible ({@code pos}
     * null), or, per sequence, the first fixed + max(pos[b·T], 0) of them (a batched cache).
     */
    void prefixSoftmax(CudaTensor scores, CudaTensor probs, CudaIntTensor mask, CudaIntTensor pos, int fixed,
                       AttentionSpec spec, int np) {
        Kernel sm = k.get(spec.causal() ? "attention_prefix_causal_softmax" : "attention_prefix_bidir_softmax",
                k.computeType);
        sm.args().ptr(0, scores.address()).ptr(1, probs.address()).ptr(2, mask.address())
                .ptr(3, pos == null ? 0L : pos.address()).i32(4, spec.numHeads()).i32(5, spec.seq()).i32(6, np)
                .i32(7, pos == null ? 0 : 1).i32(8, fixed);
        long rows = (long) spec.batch() * spec.numHeads() * spec.seq();
        sm.launch((int) rows, 1, 1, KernelSet.rowThreads(np + spec.seq()), 1, 1, 0, k.stream);
    }

    /**
     * A batched cache's new rows: token t of sequence b (n = B·T rows of k and v, ldk, ldv elements apart; kBias, vBias 0 or
     * the packed bias's matching values; keys rotated at pos as {@link #splitHeads} rotates them) into row
     * b·stride + fixed + max(pos[b·T], 0) + t of keys, values [B·stride, Hkv·D], the rows following from the positions
     * on the device (rows past a sequence's block are skipped; the caller checks them where it can).
     */
    void storeKvSeq(long kAddr, int ldk, long vAddr, int ldv, long kBias, long vBias, CudaIntTensor pos, long keys,
                    long values, int n, AttentionSpec spec, int stride, int fixed) {
        Kernel st = k.get("attention_store_kv_seq", k.computeType);
        ModelConfig.RopeScaling rs = spec.ropeScaling();
        st.args().ptr(0, kAddr).i32(1, ldk).ptr(2, vAddr).i32(3, ldv).ptr(4, kBias).ptr(5, vBias)
                .ptr(6, pos.address()).ptr(7, keys).ptr(8, values)
                .i32(9, n).i32(10, spec.numKvHeads()).i32(11, spec.headDim()).i32(12, spec.rope() ? 1 : 0)
                .f64(13, spec.ropeTheta())
                .f64(14, rs == null ? 0 : rs.factor())
                .f64(15, rs == null ? 0 : rs.lowFreqFactor())
                .f64(16, rs == null ? 0 : rs.highFreqFactor())
                .i32(17, rs == null ? 0 : rs.originalMaxPositions())
                .i32(18, spec.seq()).i32(19, stride).i32(20, fixed);
        st.launch(k.grid((long) n * spec.numKvHeads() * spec.headDim()), KernelSet.THREADS, k.stream);
    }
}
