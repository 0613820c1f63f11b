package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.backend.AttentionSpec;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.Kernel;
import org.zotune.tensor.DType;

/**
 * Launchers of native/kernels/flash_attention.cu: the fused attention for bf16 and f16 at the head dimensions it is
 * built for, causal ({@code flash_attention[_p]_d*}) or bidirectional ({@code flash_attention_bidir[_p]_d*}), one
 * block per 64 query rows of one head; for T ≤ {@value #SHORT_MAX_T} the short-sequence kernels
 * ({@code flash_attention[_bidir]_s4_d*}, 64 query rows a block, for T ≤ 128 and {@code _s8_d*}, 128 rows, above:
 * every K/V tile the block needs staged at once in dynamic shared memory, registers capped for occupancy) unless
 * options.flashShort() is off; for T > {@value #SHORT_MAX_T} the wide kernels
 * ({@code flash_attention[_bidir]_w_d*}, 128 query rows a block, 2 m-tiles of 16 rows a warp, dynamic shared
 * memory) where options.flashWide() is on; before all of them, on a compute capability 9.0 GPU at D =
 * {@value #HOPPER_D} where the grid of 128-row blocks fills the GPU (options.hopperMinBlocks()), the Hopper kernels
 * ({@code flash_attention[_bidir]_h_d64}: warpgroup MMA, 128 query rows a block, 256 threads, dynamic shared memory)
 * unless options.flashHopper() is off. In float32, at head dimensions {@value #X3_MIN_D} and {@value #X3_MAX_D}, the
 * 3xTF32 kernels ({@code flash_attention[_bidir]_x3_d*_f32}: 64 query rows a block, both products on the tensor cores
 * with each operand split into two TF32 parts, dynamic shared memory) unless options.flashF32() is off.
 */
final class FlashAttentionKernels {
    /** Head dimensions with a fused kernel, bf16 and f16. */
    private static final int[] HEAD_DIMS = {64, 80, 96, 128};
    /**
     * Head dimensions up to this use the two-stage (cp.async) kernel, whose two K/V stages fit static shared
     * memory (unless options.flashPipeline() is off).
     */
    private static final int PIPE_MAX_D = 80;

    /** The longest sequence the short kernels take (their K/V staging holds at most 4 tiles of 64 rows). */
    static final int SHORT_MAX_T = 256;
    /** Up to this length the short kernel of 4 warps (64 query rows a block), above it the one of 8 (128 rows). */
    private static final int SHORT4_MAX_T = 128;
    /** Query rows per block of the wide kernels (4 warps of 2 m-tiles of 16 rows). */
    static final int WIDE_ROWS = 128;
    /** The head dimension of the Hopper kernels; they are built for sm_90a, so run on compute capability 9.0 only. */
    static final int HOPPER_D = 64;
    static final int HOPPER_CC = 90;
    /** Query rows per block of the Hopper kernels (2 warpgroups of 64 rows). */
    static final int HOPPER_ROWS = 128;
    /** K/V tiles in flight in the Hopper kernels. */
    private static final int HOPPER_STAGES = 3;
    /** The head dimensions of the float32 (3xTF32) kernels. */
    static final int X3_MIN_D = 32;
    static final int X3_MAX_D = 64;
    /** Query rows per block of the float32 kernels (4 warps of 16 rows). */
    static final int X3_ROWS = 64;

    private final KernelSet k;
    private final CudaOptions options;
    /** The device's opt-in shared memory per block (bytes); 0 where no kernel with dynamic shared memory is used. */
    private final int sharedOptin;
    /** Whether the Hopper kernels may run: switched on, a 16-bit type, compute capability 9.0, their memory fits. */
    private final boolean hopper;
    /** The fewest 128-row blocks a launch takes the Hopper kernel for. */
    private final int hopperMinBlocks;
    /** Whether the float32 kernels may run: switched on, float32, their shared memory fits. */
    private final boolean x3;

    /** {@code multiprocessors}: the GPU's SM count (the default of options.hopperMinBlocks()). */
    FlashAttentionKernels(KernelSet kernels, CudaOptions options, int multiprocessors) {
        this.k = kernels;
        this.options = options;
        k.register(signatures());
        int optin = 0;
        boolean hopperOn = false;
        boolean any = options.flashShort() || options.flashWide() || options.flashHopper();
        if (options.flashAttention() && any && k.computeType != DType.F32) {
            optin = Cuda.maxSharedPerBlockOptin();
            int bytes = k.computeType.bytes();
            hopperOn = options.flashHopper() && Cuda.computeCapability() == HOPPER_CC
                    && hopperSharedBytes(bytes) <= optin;
            if (hopperOn) {
                for (String dir : new String[] {"", "bidir_"}) {
                    k.get("flash_attention_" + dir + "h_d" + HOPPER_D, k.computeType)
                            .allowDynamicShared(hopperSharedBytes(bytes));
                }
            }
            // once per function: above 48 KB a launch may only ask for what the attribute allows
            for (String dir : new String[] {"", "bidir_"}) {
                for (int d : HEAD_DIMS) {
                    for (int w : options.flashShort() ? new int[] {4, 8} : new int[0]) {
                        int need = shortSharedBytes(w == 4 ? SHORT4_MAX_T : SHORT_MAX_T, d, k.computeType.bytes());
                        k.get("flash_attention_" + dir + "s" + w + "_d" + d, k.computeType)
                                .allowDynamicShared(Math.min(need, optin));
                    }
                    int wide = wideSharedBytes(d, k.computeType.bytes());
                    if (options.flashWide() && wide <= optin) {
                        k.get("flash_attention_" + dir + "w_d" + d, k.computeType).allowDynamicShared(wide);
                    }
                }
            }
        }
        boolean x3On = false;
        if (options.flashAttention() && options.flashF32() && k.computeType == DType.F32) {
            optin = Cuda.maxSharedPerBlockOptin();
            x3On = x3SharedBytes(X3_MAX_D) <= optin;
            if (x3On) {
                for (String dir : new String[] {"", "bidir_"}) {
                    for (int d : new int[] {X3_MIN_D, X3_MAX_D}) {
                        k.get(x3KernelName(dir.isEmpty(), d), DType.F32).allowDynamicShared(x3SharedBytes(d));
                    }
                }
            }
        }
        this.x3 = x3On;
        this.sharedOptin = optin;
        this.hopper = hopperOn;
        this.hopperMinBlocks = options.hopperMinBlocks() < 0 ? multiprocessors : options.hopperMinBlocks();
    }

    /** Whether a launch of b·h heads of length t at head dimension d takes the Hopper kernel. */
    boolean useHopper(int b, int h, int t, int d) {
        return hopper && d == HOPPER_D && hopperBlocks(b, h, t) >= hopperMinBlocks;
    }

    /** The Hopper kernel's grid for b·h heads of length t: one block per 128 query rows of each. */
    static long hopperBlocks(int b, int h, int t) {
        return (long) b * h * ((t + HOPPER_ROWS - 1) / HOPPER_ROWS);
    }

    /**
     * Dynamic shared memory of a Hopper-kernel launch, as the kernel lays it out: 1024 bytes of slack to align the
     * swizzled tiles, {@value #HOPPER_STAGES} stages of a 64-key K and V tile of D = 64, then as many stages of 64
     * mask ints, then D elements of v's bias.
     */
    static int hopperSharedBytes(int elementBytes) {
        return 1024 + HOPPER_STAGES * 2 * 64 * HOPPER_D * elementBytes + HOPPER_STAGES * 64 * 4
                + HOPPER_D * elementBytes;
    }

    /**
     * Dynamic shared memory of a short-kernel launch, as the kernel lays it out: K and V of roundup64(T) rows of
     * D + 8 elements, then roundup64(T) mask ints, then D elements of v's bias.
     */
    static int shortSharedBytes(int t, int d, int elementBytes) {
        int rows = (t + 63) / 64 * 64;
        return rows * (d + 8) * 2 * elementBytes + rows * 4 + d * elementBytes;
    }

    /**
     * Dynamic shared memory of a wide-kernel launch, as the kernel lays it out: two stages of 64 rows of K and of V
     * and a Q tile of 128 rows, each row D + 8 elements, then 2·64 mask ints, then D elements of v's bias.
     */
    static int wideSharedBytes(int d, int elementBytes) {
        return (2 * 2 * 64 + WIDE_ROWS) * (d + 8) * elementBytes + 2 * 64 * 4 + d * elementBytes;
    }

    /**
     * Dynamic shared memory of a float32 (3xTF32) launch at head dimension d, as the kernel lays it out: two stages of
     * a 64-key K and V tile of D floats a row, then 2·64 mask ints, then D floats of v's bias.
     */
    static int x3SharedBytes(int d) {
        return (2 * 2 * 64 * d + 2 * 64 + d) * 4;
    }

    /** The float32 kernel (without its type suffix) for a causal or bidirectional attention at head dimension d. */
    static String x3KernelName(boolean causal, int d) {
        return "flash_attention_" + (causal ? "" : "bidir_") + "x3_d" + d;
    }

    /** Whether the float32 kernels take head dimension d. */
    static boolean x3HeadDim(int d) {
        return d == X3_MIN_D || d == X3_MAX_D;
    }

    /** {@link #kernelName(boolean, int, int, boolean, boolean, boolean, boolean, int, int)}, wide and Hopper off. */
    static String kernelName(boolean causal, int t, int d, boolean pipeline, boolean shortOn, int elementBytes,
                             int sharedOptin) {
        return kernelName(causal, t, d, pipeline, shortOn, false, false, elementBytes, sharedOptin);
    }

    /** {@link #kernelName(boolean, int, int, boolean, boolean, boolean, boolean, int, int)} with Hopper's off. */
    static String kernelName(boolean causal, int t, int d, boolean pipeline, boolean shortOn, boolean wideOn,
                             int elementBytes, int sharedOptin) {
        return kernelName(causal, t, d, pipeline, shortOn, wideOn, false, elementBytes, sharedOptin);
    }

    /**
     * The kernel (without its type suffix) for a causal or bidirectional attention of length {@code t} and head
     * dimension {@code d}: the Hopper kernel where {@code hopperOn} (this launch may take it: see
     * {@link #useHopper}) and D = {@value #HOPPER_D}; else the short kernel (4 warps for T ≤ {@value #SHORT4_MAX_T},
     * else 8) where switched on, T ≤ {@value #SHORT_MAX_T} and its shared memory fits {@code sharedOptin}; else the
     * wide kernel where switched on, T > {@value #SHORT_MAX_T} and its shared memory fits; else the two-stage kernel
     * where switched on and D ≤ {@value #PIPE_MAX_D}; else the one-stage kernel.
     */
    static String kernelName(boolean causal, int t, int d, boolean pipeline, boolean shortOn, boolean wideOn,
                             boolean hopperOn, int elementBytes, int sharedOptin) {
        String dir = causal ? "" : "bidir_";
        if (hopperOn && d == HOPPER_D) {
            return "flash_attention_" + dir + "h_d" + d;
        }
        if (useShort(t, d, shortOn, elementBytes, sharedOptin)) {
            return "flash_attention_" + dir + "s" + shortWarps(t) + "_d" + d;
        }
        if (useWide(t, d, wideOn, elementBytes, sharedOptin)) {
            return "flash_attention_" + dir + "w_d" + d;
        }
        return "flash_attention_" + dir + (pipeline && d <= PIPE_MAX_D ? "p_d" : "d") + d;
    }

    /** Whether the short kernel takes length {@code t} at head dimension {@code d} (see {@link #kernelName}). */
    static boolean useShort(int t, int d, boolean shortOn, int elementBytes, int sharedOptin) {
        return shortOn && t <= SHORT_MAX_T && shortSharedBytes(t, d, elementBytes) <= sharedOptin;
    }

    /** Whether the wide kernel takes length {@code t} at head dimension {@code d} (see {@link #kernelName}). */
    static boolean useWide(int t, int d, boolean wideOn, int elementBytes, int sharedOptin) {
        return wideOn && t > SHORT_MAX_T && wideSharedBytes(d, elementBytes) <= sharedOptin;
    }

    /** Warps per block of the short kernel for length {@code t}. */
    static int shortWarps(int t) {
        return t <= SHORT4_MAX_T ? 4 : 8;
    }

    /** Whether the Hopper kernels run here (switched on, a 16-bit type, compute capability 9.0). */
    boolean hopper() {
        return hopper;
    }

    /** Whether the float32 (3xTF32) kernels run here (switched on, float32, their shared memory fits). */
    boolean x3() {
        return x3;
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        for (String t : new String[] {"bf16", "f16"}) {
            for (String dir : new String[] {"", "bidir_"}) {
                for (int d : HEAD_DIMS) {
                    s.put("flash_attention_" + dir + "d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    for (int w : new int[] {4, 8}) {
                        s.put("flash_attention_" + dir + "s" + w + "_d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    }
                    s.put("flash_attention_" + dir + "w_d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    if (d <= PIPE_MAX_D) {
                        s.put("flash_attention_" + dir + "p_d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                    }
                }
                s.put("flash_attention_" + dir + "h_d" + HOPPER_D + "_" + t, "ppppppiiiiiiiiiiiiiiif");
            }
        }
        for (boolean causal : new boolean[] {true, false}) {
            for (int d : new int[] {X3_MIN_D, X3_MAX_D}) {
                s.put(x3KernelName(causal, d) + "_f32", "ppppppiiiiiiiiiiiiiiif");
            }
        }
        return s;
    }

    /**
     * Whether the fused kernel takes this attention: switched on, a grid that fits, and a built head dimension (bf16 /
     * f16) or the float32 kernels on and D = {@value #X3_MIN_D} or {@value #X3_MAX_D}.
     */
    boolean supports(AttentionSpec spec) {
        if (!options.flashAttention() || (long) spec.batch() * spec.numHeads() > 65535) {
            return false;
        }
        if (k.computeType == DType.F32) {
            return x3 && x3HeadDim(spec.headDim());
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
     * (0 = none) a packed q|k|v bias the kernel takes itself (flash_attention.cu).
     */
    void launch(long q, int sqb, int sqt, int sqh, long kp, int skb, int skt, int skh, long v, int svb, int svt,
                int svh, int hkv, CudaTensor out, CudaIntTensor mask, long packedBias, AttentionSpec spec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        final int bytes = k.computeType.bytes();
        if (k.computeType == DType.F32) {
            Kernel f = k.get(x3KernelName(spec.causal(), d), DType.F32);
            args(f, q, sqb, sqt, sqh, kp, skb, skt, skh, v, svb, svt, svh, hkv, out, mask, packedBias, spec);
            f.launch((t + X3_ROWS - 1) / X3_ROWS, b * h, 1, 128, 1, 1, x3SharedBytes(d), k.stream);
            return;
        }
        final boolean hopperHere = useHopper(b, h, t, d);
        Kernel f = k.get(kernelName(spec.causal(), t, d, options.flashPipeline(), options.flashShort(),
                options.flashWide(), hopperHere, bytes, sharedOptin), k.computeType);
        args(f, q, sqb, sqt, sqh, kp, skb, skt, skh, v, svb, svt, svh, hkv, out, mask, packedBias, spec);
        if (hopperHere) {
            f.launch((t + HOPPER_ROWS - 1) / HOPPER_ROWS, b * h, 1, 256, 1, 1, hopperSharedBytes(bytes), k.stream);
        } else if (useShort(t, d, options.flashShort(), bytes, sharedOptin)) {
            int rows = 16 * shortWarps(t);
            f.launch((t + rows - 1) / rows, b * h, 1, 32 * shortWarps(t), 1, 1, shortSharedBytes(t, d, bytes),
                    k.stream);
        } else if (useWide(t, d, options.flashWide(), bytes, sharedOptin)) {
            f.launch((t + WIDE_ROWS - 1) / WIDE_ROWS, b * h, 1, 128, 1, 1, wideSharedBytes(d, bytes), k.stream);
        } else {
            f.launch((t + 63) / 64, b * h, 1, 128, 1, 1, 0, k.stream);
        }
    }

    /** Every fused kernel's arguments (flash_attention.cu): q, k, v, out, mask, bias, T, H, Hkv, strides, scale. */
    private static void args(Kernel f, long q, int sqb, int sqt, int sqh, long kp, int skb, int skt, int skh, long v,
                             int svb, int svt, int svh, int hkv, CudaTensor out, CudaIntTensor mask, long packedBias,
                             AttentionSpec spec) {
        final int t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        f.args().ptr(0, q).ptr(1, kp).ptr(2, v).ptr(3, out.address()).ptr(4, mask.address()).ptr(5, packedBias)
                .i32(6, t).i32(7, h).i32(8, hkv)
                .i32(9, sqb).i32(10, sqt).i32(11, sqh).i32(12, skb).i32(13, skt).i32(14, skh)
                .i32(15, svb).i32(16, svt).i32(17, svh)
                .i32(18, t * h * d).i32(19, h * d).i32(20, d).f32(21, spec.scale());
    }
}
