package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.backend.AttentionSpec;
import org.zotune.cuda.Kernel;
import org.zotune.tensor.DType;

/**
 * Launchers of native/kernels/flash_attention.cu: the fused attention for bf16 and f16 at the head dimensions it is
 * built for, causal ({@code flash_attention[_p]_d*}) or bidirectional ({@code flash_attention_bidir[_p]_d*}), one
 * block per 64 query rows of one head.
 */
final class FlashAttentionKernels {
    /** Head dimensions with a fused kernel, bf16 and f16. */
    private static final int[] HEAD_DIMS = {64, 80, 96, 128};
    /**
     * Head dimensions up to this use the two-stage (cp.async) kernel, whose two K/V stages fit static shared
     * memory (unless options.flashPipeline() is off).
     */
    private static final int PIPE_MAX_D = 80;

    private final KernelSet k;
    private final CudaOptions options;

    FlashAttentionKernels(KernelSet kernels, CudaOptions options) {
        this.k = kernels;
        this.options = options;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : new String[] {"bf16", "f16"}) {
            for (String dir : new String[] {"", "bidir_"}) {
                for (int d : HEAD_DIMS) {
                    s.put("flash_attention_" + dir + "d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    if (d <= PIPE_MAX_D) {
                        s.put("flash_attention_" + dir + "p_d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    }
                }
            }
        }
        return s;
    }

    /** Whether the fused kernel takes this attention (switch on, bf16 / f16, a built head dimension, grid fits). */
    boolean supports(AttentionSpec spec) {
        if (!options.flashAttention() || k.computeType == DType.F32
                || (long) spec.batch() * spec.numHeads() > 65535) {
            return false;
        }
        for (int d : HEAD_DIMS) {
            if (d == spec.headDim()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Fused attention into out [B·T, H·D]; q, k, v addressed by (batch, token, head) strides; {@code packedBias}
     * (0 = none) a packed q|k|v bias added while loading.
     */
    void launch(long q, int sqb, int sqt, int sqh, long kp, int skb, int skt, int skh, long v, int svb, int svt,
                int svh, int hkv, CudaTensor out, CudaIntTensor mask, long packedBias, AttentionSpec spec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        Kernel f = k.get("flash_attention_" + (spec.causal() ? "" : "bidir_")
                + (options.flashPipeline() && d <= PIPE_MAX_D ? "p_d" : "d") + d, k.computeType);
        f.args().ptr(0, q).ptr(1, kp).ptr(2, v).ptr(3, out.address()).ptr(4, mask.address()).ptr(5, packedBias)
                .i32(6, t).i32(7, h).i32(8, hkv)
                .i32(9, sqb).i32(10, sqt).i32(11, sqh).i32(12, skb).i32(13, skt).i32(14, skh)
                .i32(15, svb).i32(16, svt).i32(17, svh)
                .i32(18, t * h * d).i32(19, h * d).i32(20, d).f32(21, spec.scale());
        f.launch((t + 63) / 64, b * h, 1, 128, 1, 1, 0, k.stream);
    }
}
