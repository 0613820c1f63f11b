package org.zotune.backend.cuda;

import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.tensor.DType;

/**
 * Which way the CUDA backend computes one attention, and that computation: the fused kernel straight on q, k, v
 * ({@link FlashAttentionKernels}); the fused kernel after splitting into [B, H, T, D] heads (RoPE, or rows it cannot
 * address); or the unfused path: split (vector or scalar), Q·Kᵀ and P·V as strided-batched cuBLAS products
 * ({@link MatrixProducts}) around the masked softmax, merge ({@link AttentionKernels}). With a key/value prefix or
 * cache: a few queries per sequence (a decode step) in one kernel reading the cache in place
 * ({@link DecodeAttentionKernels}), else the unfused path over a concatenated copy. Temporaries are released on
 * return.
 */
final class AttentionPaths {
    private final DeviceMemory memory;
    private final DType computeType;
    private final CudaOptions options;
    private final AttentionKernels attention;
    private final FlashAttentionKernels flash;
    private final MatrixProducts products;
    private final DecodeAttentionKernels decode;
    private final int vecWidth;

    AttentionPaths(DeviceMemory memory, DType computeType, CudaOptions options, AttentionKernels attention,
                   FlashAttentionKernels flash, MatrixProducts products, DecodeAttentionKernels decode) {
        this.memory = memory;
        this.computeType = computeType;
        this.options = options;
        this.attention = attention;
        this.flash = flash;
        this.products = products;
        this.decode = decode;
        this.vecWidth = 16 / computeType.bytes();
    }

    /**
     * Whether the fused kernel takes a packed q|k|v bias itself (rather than a biased copy of qkv first): the
     * switch on, the kernel takes the shape, no RoPE, both addresses 16-byte aligned and {@code tokenElements}
     * (T times the packed row width) within 32-bit indices.
     */
    boolean fusesPackedBias(AttentionSpec spec, long biasAddr, long qkvAddr, long tokenElements) {
        return options.flashBias() && flash.supports(spec) && !spec.rope() && KernelSet.aligned(biasAddr, qkvAddr)
                && tokenElements < Integer.MAX_VALUE;
    }

    /**
     * Whether {@link #attend} takes a packed bias at {@code biasAddr} with q, k and v at these addresses and row
     * strides (elements): the fused kernel reads them directly and the bias is aligned as they are.
     */
    boolean fusesBias(AttentionSpec spec, long biasAddr, long qAddr, int ldq, long kAddr, int ldk, long vAddr,
                      int ldv) {
        return options.flashBias() && directFlash(spec, qAddr, ldq, kAddr, ldk, vAddr, ldv)
                && KernelSet.aligned(biasAddr, qAddr);
    }

    private boolean directFlash(AttentionSpec spec, long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv) {
        return flash.supports(spec) && !spec.rope() && ldq % 8 == 0 && ldk % 8 == 0 && ldv % 8 == 0
                && KernelSet.aligned(qAddr, kAddr, vAddr)
                && (long) spec.seq() * Math.max(ldq, Math.max(ldk, ldv)) < Integer.MAX_VALUE;
    }

    /**
     * Attention into a new [B·T, H·D] tensor. q, k, v rows are ldq, ldk, ldv elements apart (their widths H·D, Hkv·D,
     * Hkv·D); {@code packedBias} (0 = none) is a packed q|k|v bias, only passed when {@link #fusesPackedBias}.
     */
    CudaTensor attend(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, long packedBias,
                      IntTensor mask, IntTensor positions, AttentionSpec spec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        CudaIntTensor m = (CudaIntTensor) mask;
        if (m.length() != b * t) {
            throw new IllegalArgumentException("attention: mask has " + m.length() + " values for " + b * t + " tokens");
        }
        boolean directFlash = directFlash(spec, qAddr, ldq, kAddr, ldk, vAddr, ldv);
        if (packedBias != 0 && !directFlash) {
            throw new IllegalStateException("attention: a packed bias needs the fused kernel"); // attentionPacked checks
        }
        CudaIntTensor pos = (CudaIntTensor) positions;
        if (spec.rope()) {
            if (d % 2 != 0) {
                throw new IllegalArgumentException("attention: RoPE needs an even head dimension, got " + d);
            }
            if (pos == null || pos.length() != b * t) {
                throw new IllegalArgumentException("attention: RoPE needs " + b * t + " positions");
            }
        }
        CudaTensor out = memory.alloc(b * t, h * d, computeType);
        if (out.numel() == 0) {
            return out;
        }
        DeviceArena.Mark mark = memory.mark(); // temporaries below are released on return
        try {
            long perHead = (long) t * d;
            long n = (long) b * h * perHead;
            int vw = vecWidth;
            if (flash.supports(spec)) {
                long hd = (long) h * d;
                if (directFlash) {
                    flash.launch(qAddr, t * ldq, ldq, d, kAddr, t * ldk, ldk, d, vAddr, t * ldv, ldv, d, hkv, out,
                            m, packedBias, spec);
                    return out;
                }
                if (hd * t < Integer.MAX_VALUE) {
                    // RoPE (or unaligned rows): rotate and split into [B, H, T, D] first, then fuse the rest
                    CudaTensor qh = memory.alloc(b * h * t, d, computeType);
                    CudaTensor kh = memory.alloc(b * h * t, d, computeType);
                    CudaTensor vh = memory.alloc(b * h * t, d, computeType);
                    attention.splitHeads(qAddr, ldq, kAddr, ldk, vAddr, ldv, qh, kh, vh, pos, spec, n, false);
                    int bs = (int) (hd * t);
                    flash.launch(qh.address(), bs, d, t * d, kh.address(), bs, d, t * d, vh.address(), bs, d, t * d, h,
                            out, m, 0L, spec);
                    return out;
                }
            }
            // 16-byte vectors and 32-bit indices when the head rows allow it
            boolean vec = d % vw == 0 && ldq % vw == 0 && ldk % vw == 0 && ldv % vw == 0
                    && KernelSet.aligned(qAddr, kAddr, vAddr) && n / vw < Integer.MAX_VALUE;
            CudaTensor qh = memory.alloc(b * h * t, d, computeType);
            CudaTensor kh = memory.alloc(b * h * t, d, computeType);
            CudaTensor vh = memory.alloc(b * h * t, d, computeType);
            CudaTensor scores = memory.alloc(b * h * t, t, DType.F32);
            CudaTensor probs = memory.alloc(b * h * t, t, computeType);
            CudaTensor oh = memory.alloc(b * h * t, d, computeType);

            attention.splitHeads(qAddr, ldq, kAddr, ldk, vAddr, ldv, qh, kh, vh, pos, spec, n, vec);
            products.attentionScores(qh, kh, scores, b * h, t, d, spec.scale());
            attention.softmax(scores, probs, m, spec);
            products.attentionValues(probs, vh, oh, b * h, t, d);
            attention.mergeHeads(oh, out, spec, n);
        } finally {
            memory.reset(mark);
        }
        return out;
    }

    /**
     * Attention with a key/value prefix (prefix tuning, the generation's key/value cache) into a new [B·T, H·D]
     * tensor: q, k, v as {@link #attend} takes them (no packed bias), {@code pk}, {@code pv} [Np, Hkv·D] seen by every
     * query, unmasked and not rotated ({@code stride} 0), or a batched cache's blocks ({@code stride} rows per
     * sequence, Np of them read, those before fixed + max(positions[b·T], 0) visible: see {@code KvPrefix}). Unfused:
     * split (RoPE on the sequence's own q and k), the prefix laid before the keys and values, then Q·Kᵀ over Np + T
     * keys, the masked softmax and P·V on cuBLAS as the unfused path does.
     */
    CudaTensor attendPrefix(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, IntTensor mask,
                            IntTensor positions, AttentionSpec spec, CudaTensor pk, CudaTensor pv, int np,
                            int stride, int fixed) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        final int tk = np + t;
        CudaIntTensor m = (CudaIntTensor) mask;
        if (m.length() != b * t) {
            throw new IllegalArgumentException("attention: mask has " + m.length() + " values for " + b * t + " tokens");
        }
        CudaIntTensor pos = (CudaIntTensor) positions;
        if (stride > 0 && (pos == null || pos.length() != b * t)) {
            throw new IllegalArgumentException("attention: a per-sequence prefix needs " + b * t + " positions");
        }
        if (spec.rope()) {
            if (d % 2 != 0) {
                throw new IllegalArgumentException("attention: RoPE needs an even head dimension, got " + d);
            }
            if (pos == null || pos.length() != b * t) {
                throw new IllegalArgumentException("attention: RoPE needs " + b * t + " positions");
            }
        }
        CudaTensor out = memory.alloc(b * t, h * d, computeType);
        if (out.numel() == 0) {
            return out;
        }
        long n = (long) b * h * t * d;
        if ((long) b * h * tk * d >= Integer.MAX_VALUE || (long) b * h * t * tk >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("attention: a prefix of " + np + " rows over B=" + b + " H=" + h
                    + " T=" + t + " exceeds 32-bit indices");
        }
        DeviceArena.Mark mark = memory.mark(); // temporaries below are released on return
        try {
            int vw = vecWidth;
            boolean vec = d % vw == 0 && ldq % vw == 0 && ldk % vw == 0 && ldv % vw == 0
                    && KernelSet.aligned(qAddr, kAddr, vAddr) && n / vw < Integer.MAX_VALUE;
            CudaTensor qh = memory.alloc(b * h * t, d, computeType);
            CudaTensor kh = memory.alloc(b * h * t, d, computeType);
            CudaTensor vh = memory.alloc(b * h * t, d, computeType);
            CudaTensor kx = memory.alloc(b * h * tk, d, computeType);
            CudaTensor vx = memory.alloc(b * h * tk, d, computeType);
            CudaTensor scores = memory.alloc(b * h * t, tk, DType.F32);
            CudaTensor probs = memory.alloc(b * h * t, tk, computeType);
            CudaTensor oh = memory.alloc(b * h * t, d, computeType);

            attention.splitHeads(qAddr, ldq, kAddr, ldk, vAddr, ldv, qh, kh, vh, pos, spec, n, vec);
            attention.concatPrefix(pk, pv, kh, vh, kx, vx, spec, np, stride);
            products.attentionScores(qh, kx, scores, b * h, t, tk, d, spec.scale());
            attention.prefixSoftmax(scores, probs, m, stride > 0 ? pos : null, fixed, spec, np);
            products.attentionValues(probs, vx, oh, b * h, t, tk, d);
            attention.mergeHeads(oh, out, spec, n);
        } finally {
            memory.reset(mark);
        }
        return out;
    }

    /**
     * Whether {@link #attendDecode} takes this prefix attention: the switch on, the kernel takes the shape (a few
     * queries, D a whole number of 16-byte vectors, so every row Hkv·D, the keys within its shared memory), the prefix
     * in the compute type at 16-byte aligned addresses.
     */
    boolean decodes(AttentionSpec spec, CudaTensor pk, CudaTensor pv, int np) {
        return options.decodeAttention() && decode.supports(spec, np) && pk.dtype() == computeType
                && pv.dtype() == computeType && KernelSet.aligned(pk.address(), pv.address());
    }

    /**
     * {@link #attendPrefix} in one kernel ({@link DecodeAttentionKernels}), only where {@link #decodes}; the q, k, v
     * parts of a packed bias ({@code qBias}, {@code kBias}, {@code vBias}: 0 or their addresses) are added in it.
     */
    CudaTensor attendDecode(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, long qBias, long kBias,
                            long vBias, IntTensor mask, IntTensor positions, AttentionSpec spec, CudaTensor pk,
                            CudaTensor pv, int np, int stride, int fixed) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        CudaIntTensor m = (CudaIntTensor) mask;
        if (m.length() != b * t) {
            throw new IllegalArgumentException("attention: mask has " + m.length() + " values for " + b * t + " tokens");
        }
        CudaIntTensor pos = (CudaIntTensor) positions;
        if ((stride > 0 || spec.rope()) && (pos == null || pos.length() != b * t)) {
            throw new IllegalArgumentException("attention: " + (spec.rope() ? "RoPE" : "a per-sequence prefix")
                    + " needs " + b * t + " positions");
        }
        if (spec.rope() && d % 2 != 0) {
            throw new IllegalArgumentException("attention: RoPE needs an even head dimension, got " + d);
        }
        if (stride > 0 && (long) b * stride > pk.rows()) {
            throw new IllegalArgumentException("attention: a cache of " + pk.rows() + " rows has no block of " + stride
                    + " rows for each of " + b + " sequences");
        }
        CudaTensor out = memory.alloc(b * t, h * d, computeType);
        if (out.numel() == 0) {
            return out;
        }
        decode.launch(qAddr, ldq, kAddr, ldk, vAddr, ldv, qBias, kBias, vBias, pk.address(), pv.address(), m, pos,
                out, spec, np, stride, fixed);
        return out;
    }

    /** A batched key/value cache's new rows ({@link AttentionKernels#storeKvSeq}). */
    void storeKvSeq(long kAddr, int ldk, long vAddr, int ldv, long kBias, long vBias, CudaIntTensor pos, long keys,
                    long values, int n, AttentionSpec spec, int stride, int fixed) {
        attention.storeKvSeq(kAddr, ldk, vAddr, ldv, kBias, vBias, pos, keys, values, n, spec, stride, fixed);
    }
}
