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
            s.put("bias_gelu_rows_v_" + t, "ppli");
            s.put("bias_relu_rows_v_" + t, "ppli");
            s.put("add_bias_residual_v_" + t, "pppli");
            s.put("lora_weight_" + t, "pppfplii");
            s.put("lora_down_" + t, "ppplii");
            s.put("lora_up_" + t, "pppflii");
        }
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
        Kernel e = k.get(vec ? "add_bias_rows_v" : "add_bias_rows", k.computeType);
        e.args().ptr(0, out.address()).ptr(1, bias.address()).i64(2, out.rows()).i32(3, out.cols());
        e.launch(k.grid(vec ? out.numel() / k.vecWidth() : out.numel()), KernelSet.THREADS, k.stream);
    }

    /** y = activation(y + bias) by the vector kernel {@code fused} (bias_gelu_rows_v, bias_relu_rows_v). */
    void biasActivation(String fused, CudaTensor y, CudaTensor bias) {
        Kernel e = k.get(fused, k.computeType);
        e.args().ptr(0, y.address()).ptr(1, bias.address()).i64(2, y.rows()).i32(3, y.cols());
        e.launch(k.grid(y.numel() / k.vecWidth()), KernelSet.THREADS, k.stream);
    }

    /** residual += y + bias (vector kernel). */
    void addBiasResidual(CudaTensor residual, CudaTensor y, CudaTensor bias) {
        Kernel e = k.get("add_bias_residual_v", k.computeType);
        e.args().ptr(0, residual.address()).ptr(1, y.address()).ptr(2, bias.address()).i64(3, y.rows())
                .i32(4, y.cols());
        e.launch(k.grid(y.numel() / k.vecWidth()), KernelSet.THREADS, k.stream);
    }

    /** out = w + s·B·A (LoRA; w, out in the compute type, b [rows, r] and at [cols, r] float32, not empty). */
    void loraWeight(CudaTensor w, CudaTensor b, CudaTensor at, float scale, CudaTensor out) {
        Kernel e = k.get("lora_weight", k.computeType);
        e.args().ptr(0, w.address()).ptr(1, b.address()).ptr(2, at.address()).f32(3, scale).ptr(4, out.address())
                .i64(5, out.rows()).i32(6, out.cols()).i32(7, b.cols());
        e.launch(k.grid(out.numel()), KernelSet.THREADS, k.stream);
    }

    /**
     * y += s·(x·Aᵀ)·Bᵀ (LoRA's skinny product; x [n, in] and y [n, out] in the compute type, at [in, r], b [out, r]
     * and t [n, r] float32, y not empty): lora_down forms t (one warp per row), lora_up adds s·t·Bᵀ into y.
     */
    void loraDelta(CudaTensor x, CudaTensor at, CudaTensor b, float scale, CudaTensor t, CudaTensor y) {
        Kernel down = k.get("lora_down", k.computeType);
        down.args().ptr(0, x.address()).ptr(1, at.address()).ptr(2, t.address()).i64(3, x.rows()).i32(4, x.cols())
                .i32(5, at.cols());
        down.launch(k.grid(32L * x.rows()), KernelSet.THREADS, k.stream);
        Kernel up = k.get("lora_up", k.computeType);
        up.args().ptr(0, y.address()).ptr(1, t.address()).ptr(2, b.address()).f32(3, scale).i64(4, y.rows())
                .i32(5, y.cols()).i32(6, b.cols());
        up.launch(k.grid(y.numel()), KernelSet.THREADS, k.stream);
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
