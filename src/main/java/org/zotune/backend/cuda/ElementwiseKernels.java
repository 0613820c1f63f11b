package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.cuda.Kernel;
import org.zotune.tensor.DType;

/**
 * Launchers of native/kernels/elementwise.cu: element-wise ops (GELU tanh and erf, ReLU, ...; 16-byte vector kernels where every address is
 * aligned, scalar ones otherwise), bias rows, the fused bias + activation / bias + residual passes after a GEMM,
 * and dtype casts.
 */
final class ElementwiseKernels {
    private final KernelSet k;

    ElementwiseKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : KernelSet.TYPES) {
            for (String v : new String[] {"", "_v"}) {
                s.put("add_inplace" + v + "_" + t, "ppl");
                s.put("gelu_tanh_inplace" + v + "_" + t, "pl");
                s.put("gelu_erf_inplace" + v + "_" + t, "pl");
                s.put("relu_inplace" + v + "_" + t, "pl");
                s.put("tanh_inplace" + v + "_" + t, "pl");
                s.put("silu_mul" + v + "_" + t, "pppl");
                s.put("add_bias_rows" + v + "_" + t, "ppli");
            }
            s.put("add_bias_flat_v_" + t, "ppli");
            s.put("bias_gelu_rows_v_" + t, "ppli");
            s.put("bias_relu_rows_v_" + t, "ppli");
            s.put("bias_gelu_erf_rows_v_" + t, "ppli");
            s.put("add_bias_residual_v_" + t, "pppli");
            s.put("lora_weight_" + t, "pppfplii");
            s.put("lora_down_" + t, "ppplii");
            s.put("lora_up_" + t, "pppflii");
            s.put("lora_weight_v_" + t, "pppfplii");
            s.put("lora_up_v_" + t, "pppflii");
        }
        s.put("bias_gelu_erf_rows_split_f32", "pplipi");
        s.put("cast_f32_to_bf16", "ppl");
        s.put("cast_bf16_to_f32", "ppl");
        s.put("cast_f32_to_f16", "ppl");
        s.put("cast_f16_to_f32", "ppl");
        return s;
    }

    /** {@code base} over n elements with pointer arguments {@code ptrs} then n: the vector kernel when aligned. */
    void elementwise(String base, long n, long... ptrs) {
        if (n == 0) {
            return;
        }
        boolean vec = KernelSet.aligned(ptrs);
        Kernel e = k.get(vec ? base + "_v" : base, k.computeType);
        for (int i = 0; i < ptrs.length; i++) {
            e.args().ptr(i, ptrs[i]);
        }
        e.args().i64(ptrs.length, n);
        e.launch(k.grid(vec ? (n + k.vecWidth() - 1) / k.vecWidth() : n), KernelSet.THREADS, k.stream);
    }

    /** out[r, :] += bias (one pass; out not empty). */
    void addBiasRows(CudaTensor out, CudaTensor bias) {
        boolean vec = out.cols() % k.vecWidth() == 0 && KernelSet.aligned(out.address(), bias.address());
        // other widths: vectors over the flat array where it is aligned (add_bias_flat_v), else element by element
        boolean flat = !vec && KernelSet.aligned(out.address());
        Kernel e = k.get(vec ? "add_bias_rows_v" : flat ? "add_bias_flat_v" : "add_bias_rows", k.computeType);
        e.args().ptr(0, out.address()).ptr(1, bias.address()).i64(2, out.rows()).i32(3, out.cols());
        e.launch(k.grid(vec || flat ? out.numel() / k.vecWidth() : out.numel()), KernelSet.THREADS, k.stream);
    }

    /**
     * y = activation(y + bias) by the vector kernel {@code fused} (bias_gelu_rows_v, bias_gelu_erf_rows_v,
     * bias_relu_rows_v).
     */
    void biasActivation(String fused, CudaTensor y, CudaTensor bias) {
        Kernel e = k.get(fused, k.computeType);
        e.args().ptr(0, y.address()).ptr(1, bias.address()).i64(2, y.rows()).i32(3, y.cols());
        e.launch(k.grid(y.numel() / k.vecWidth()), KernelSet.THREADS, k.stream);
    }

    /**
     * y = GELU(y + bias) (erf form) as bias_gelu_erf_rows_v computes it, in float32, also writing y's 3xTF32 split
     * into {@code split} [rows, 3·cols] as rows [lo | hi | hi] (columns a multiple of 4, addresses 16-byte aligned).
     * With {@code storeY} false only the split is written (y keeps the product it held).
     */
    void biasGeluErfSplit(CudaTensor y, CudaTensor bias, long split, boolean storeY) {
        Kernel e = k.get("bias_gelu_erf_rows_split_f32");
        e.args().ptr(0, y.address()).ptr(1, bias.address()).i64(2, y.rows()).i32(3, y.cols()).ptr(4, split)
                .i32(5, storeY ? 1 : 0);
        e.launch(k.grid(y.numel() / 4), KernelSet.THREADS, k.stream);
    }

    /** residual += y + bias (vector kernel). */
    void addBiasResidual(CudaTensor residual, CudaTensor y, CudaTensor bias) {
        Kernel e = k.get("add_bias_residual_v", k.computeType);
        e.args().ptr(0, residual.address()).ptr(1, y.address()).ptr(2, bias.address()).i64(3, y.rows())
                .i32(4, y.cols());
        e.launch(k.grid(y.numel() / k.vecWidth()), KernelSet.THREADS, k.stream);
    }

    /**
     * out = w + s·B·A (LoRA; w, out in the compute type, b [rows, r] and at [cols, r] float32, not empty): the tiled
     * 16-byte kernel lora_weight_v where {@link #loraVector} allows it, else the scalar one; bitwise the same W'.
     */
    void loraWeight(CudaTensor w, CudaTensor b, CudaTensor at, float scale, CudaTensor out) {
        int r = b.cols();
        if (loraVector(out.cols(), r, k.vecWidth(), w.address(), out.address())) {
            Kernel e = k.get("lora_weight_v", k.computeType);
            e.args().ptr(0, w.address()).ptr(1, b.address()).ptr(2, at.address()).f32(3, scale).ptr(4, out.address())
                    .i64(5, out.rows()).i32(6, out.cols()).i32(7, r);
            launchLoraTile(e, out.rows(), out.cols(), r);
            return;
        }
        Kernel e = k.get("lora_weight", k.computeType);
        e.args().ptr(0, w.address()).ptr(1, b.address()).ptr(2, at.address()).f32(3, scale).ptr(4, out.address())
                .i64(5, out.rows()).i32(6, out.cols()).i32(7, r);
        e.launch(k.grid(out.numel()), KernelSet.THREADS, k.stream);
    }

    /** Rows of a row group of the tiled LoRA kernels (ZT_LORA_ROWS in elementwise.cu), column vectors per tile. */
    private static final int LORA_ROWS = 4;
    private static final int LORA_TILE = 32;
    /** Dynamic shared memory the tiled LoRA kernels may ask for without opting in to more (48 KiB). */
    private static final int LORA_SHARED_MAX = 48 * 1024;

    /**
     * Whether the tiled 16-byte LoRA kernels (lora_weight_v, lora_up_v) take a [rows, cols] pass of rank r: cols a
     * multiple of the vector width {@code vec} (a vector never straddles two rows), the compute-type matrices
     * ({@code addresses}) 16-byte aligned, and one tile of the column factor (32 column vectors of vec·r floats,
     * padded) within 48 KiB of shared memory. The float32 factors need no alignment (read as floats).
     */
    static boolean loraVector(int cols, int r, int vec, long... addresses) {
        return r > 0 && cols % vec == 0 && KernelSet.aligned(addresses) && loraSharedBytes(r, vec) <= LORA_SHARED_MAX;
    }

    /** Shared memory of one tile: 32 column vectors of vec·r floats, each padded by 4 floats (by 1 if r % 4 != 0). */
    static long loraSharedBytes(int r, int vec) {
        long stride = (long) vec * r + (r % 4 == 0 ? 4 : 1);
        return LORA_TILE * stride * Float.BYTES;
    }

    /**
     * Grid of a tiled LoRA kernel: x the column tiles, y enough row-group sweeps for about four blocks per
     * multiprocessor (each block stages its tile once, then sweeps rows; more blocks would re-stage it for nothing).
     */
    private void launchLoraTile(Kernel e, int rows, int cols, int r) {
        int vec = k.vecWidth();
        int tiles = (cols / vec + LORA_TILE - 1) / LORA_TILE;
        long groups = ((long) rows + LORA_ROWS - 1) / LORA_ROWS;
        long warpGroups = (groups + KernelSet.THREADS / 32 - 1) / (KernelSet.THREADS / 32);
        long want = Math.max(1, k.maxGrid() / 8 / tiles);
        int gy = (int) Math.max(1, Math.min(Math.min(warpGroups, want), 65535));
        e.launch(tiles, gy, 1, KernelSet.THREADS, 1, 1, (int) loraSharedBytes(r, vec), k.stream);
    }

    /**
     * y += s·(x·Aᵀ)·Bᵀ (LoRA's skinny product; x [n, in] and y [n, out] in the compute type, at [in, r], b [out, r]
     * and t [n, r] float32, y not empty): lora_down forms t (one warp per row), lora_up (its tiled 16-byte form
     * lora_up_v where {@link #loraVector} allows it, bitwise the same) adds s·t·Bᵀ into y.
     */
    void loraDelta(CudaTensor x, CudaTensor at, CudaTensor b, float scale, CudaTensor t, CudaTensor y) {
        Kernel down = k.get("lora_down", k.computeType);
        down.args().ptr(0, x.address()).ptr(1, at.address()).ptr(2, t.address()).i64(3, x.rows()).i32(4, x.cols())
                .i32(5, at.cols());
        down.launch(k.grid(32L * x.rows()), KernelSet.THREADS, k.stream);
        boolean vec = loraVector(y.cols(), b.cols(), k.vecWidth(), y.address());
        Kernel up = k.get(vec ? "lora_up_v" : "lora_up", k.computeType);
        up.args().ptr(0, y.address()).ptr(1, t.address()).ptr(2, b.address()).f32(3, scale).i64(4, y.rows())
                .i32(5, y.cols()).i32(6, b.cols());
        if (vec) {
            launchLoraTile(up, y.rows(), y.cols(), b.cols());
        } else {
            up.launch(k.grid(y.numel()), KernelSet.THREADS, k.stream);
        }
    }

    /** out ← in converted (f32 ↔ bf16, f32 ↔ f16; same shape, not empty, different dtypes). */
    void cast(CudaTensor in, CudaTensor out) {
        DType from = in.dtype();
        DType to = out.dtype();
        String name;
        if (from == DType.F32 && to != DType.F32) {
            name = "cast_f32_to_" + KernelSet.suffix(to);
        } else if (from != DType.F32 && to == DType.F32) {
            name = "cast_" + KernelSet.suffix(from) + "_to_f32";
        } else {
            throw new ZotuneException("cast from " + from + " to " + to + " is not supported on CUDA");
        }
        Kernel e = k.get(name);
        e.args().ptr(0, in.address()).ptr(1, out.address()).i64(2, in.numel());
        e.launch(k.grid(in.numel()), KernelSet.THREADS, k.stream);
    }
}
