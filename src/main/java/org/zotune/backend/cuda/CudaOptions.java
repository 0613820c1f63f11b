package org.zotune.backend.cuda;

/**
 * The CUDA backend's switches, read once from system properties when a {@link CudaOps} is created (benchmark
 * scripts set them with -D; the names and defaults are those of the switches they replace). Every fused path has
 * its switch so that its gain can be measured against the separate kernels it replaces.
 *
 * @param fuseNorm       zotune.cuda.fuseNorm (true): the residual addition and the following norm in one kernel
 * @param fuseBias       zotune.cuda.fuseBias (true): bias, activation and residual addition fused after a GEMM
 * @param stridedLogits  zotune.cuda.stridedLogits (true): LM-head rows stay padded instead of copied out densely
 * @param flashBias      zotune.cuda.flashBias (true): the fused attention takes a packed q|k|v bias itself (q's as Q
 *                       loads, v's at the output, k's cancelled by the softmax: flash_attention.cu)
 * @param flashPipeline  zotune.cuda.flashPipeline (true): the two-stage (cp.async) fused attention where it fits
 * @param flashAttention zotune.cuda.flashAttention (true): the fused attention; false: scores through device memory
 * @param flashShort     zotune.cuda.flashShort (true): for T ≤ 256 the short-sequence fused attention (every K/V tile
 *                       staged at once); false: the 64-row kernels at every length. Its results are bitwise the
 *                       64-row kernels' (FlashShortAttentionTest on an H100: 0 elements differ in 480 cases); it was
 *                       13–18 % faster at T = 128, but since the per-tile work was reworked (2026-12-06) the two
 *                       time alike there (AttentionKernelBenchmark: 19.2 vs 18.6 µs at gpt2xl-16x128, 22.6 vs 22.5
 *                       at roberta-large-32x128; benchmarks/RESULTS.md)
 * @param ltEpilogue     zotune.cuda.ltEpilogue (false): in bf16 / f16, bias + ReLU / GELU as cuBLASLt's GEMM
 *                       epilogue. Off by default: measured 3–5 % faster forwards but 10–40 % larger logit errors
 *                       against transformers' f32 outputs (benchmarks/NOTES.md, session 8)
 * @param arenaChunkMiB  zotune.cuda.arenaChunkMiB (256): the activation arena grows in chunks of this size
 * @param captureHostMiB zotune.cuda.captureHostMiB (4): pinned memory per captured graph for the host inputs
 *                       created inside the capture
 * @param flashWide      zotune.cuda.flashWide (false): for T > 256 the wide fused attention (128 query rows a block,
 *                       2 m-tiles of 16 rows a warp); false: the 64-row kernels. Off until FlashWideAttentionTest
 *                       has run on a GPU (it is built to give the 64-row kernels' bits)
 * @param decodeAttention zotune.cuda.decodeAttention (true): up to 8 queries per sequence over a key/value cache
 *                       or prefix (generation's decode step) in one kernel reading the cache in place
 *                       (decode_attention.cu); false: the unfused prefix path (split, concatenated copy, cuBLAS)
 * @param flashHopper    zotune.cuda.flashHopper (true): on a compute capability 9.0 GPU (H100, H200) at head
 *                       dimension 64, where its grid fills the GPU (below), the fused attention on warpgroup MMA
 *                       (flash_attention[_bidir]_h_d64, 128 query rows a block) before any kernel above; false: the
 *                       kernels above. Its results are the 64-row kernels' bits on an H100 (FlashHopperAttentionTest,
 *                       native/dev/flash_hopper_check.cu); 1.29x faster than the 64-row kernel at RoBERTa-large
 *                       32x512, 1.31x than the short kernel at 32x128 (benchmarks/RESULTS.md, 2026-12-06 14:16 UTC)
 * @param hopperMinBlocks zotune.cuda.hopperMinBlocks (-1: the GPU's SM count): the fewest blocks of 128 query rows
 *                       (B·H·⌈T/128⌉) for which the Hopper kernel runs; smaller grids leave SMs idle that the 64-row
 *                       kernels' twice as many blocks would use (measured 0.80x at B = 2, H = 4, T = 1000). 0: always
 * @param flashF32       zotune.cuda.flashF32 (true): in float32 at head dimensions 32 and 64, the fused attention on
 *                       the tensor cores in 3xTF32 (flash_attention[_bidir]_x3_d*_f32: each operand split into two TF32
 *                       parts, three products, float32 accumulation, as PyTorch's float32 sdpa computes); false (or
 *                       flashAttention false): scores through device memory, cuBLAS SGEMM. On an H100 2.45x faster
 *                       than that path at RoBERTa-large 32x512 and 4.2x at GPT-2 1.5B's causal 16x512, within 5.3e-6
 *                       of the plain-Java attention where the unfused path is within 8.6e-6 (FlashF32AttentionTest;
 *                       benchmarks/RESULTS.md, 2026-12-06 19:07 UTC)
 * @param gemmF32        zotune.cuda.gemmF32 (true): in float32, X·Wᵀ with at least 512 rows (and 128 outputs and
 *                       inputs) on the TF32 tensor cores in 3xTF32 (MatrixProducts, tf32_split.cu: both operands split
 *                       into two TF32 parts, three products in one cuBLAS TF32 GEMM over a three times longer
 *                       contraction, float32 accumulation); false: cuBLAS SGEMM. On an H100 the float32 RoBERTa-large
 *                       ZO step at 32x128 took 63.6 ms instead of 108.7, within float32's tolerance of the plain-Java
 *                       products (Tf32ProductsTest; benchmarks/RESULTS.md, 2026-12-07 06:09 UTC)
 * @param tuneProducts   zotune.cuda.tuneProducts (true): a 3xTF32 product's TF32 GEMM takes, per shape, the fastest
 *                       cuBLASLt algorithm whose results are BITWISE cublasGemmEx's default's ({@link
 *                       org.zotune.cuda.Tf32Tuner}, timed once per shape on a thread of its own); false: the default
 * @param splitOnlyMlp   zotune.cuda.splitOnlyMlp (true): in float32, BERT's GELU MLP keeps its hidden activation only
 *                       as the 3xTF32 split its down product reads ({@link CudaOps#addGeluErfMlpLayerNorm}); false: the
 *                       hidden activation is written too (linearGeluErf, then addLinearLayerNorm)
 */
public record CudaOptions(boolean fuseNorm, boolean fuseBias, boolean stridedLogits, boolean flashBias,
                          boolean flashPipeline, boolean flashAttention, boolean flashShort, boolean ltEpilogue,
                          long arenaChunkMiB, long captureHostMiB, boolean flashWide, boolean decodeAttention,
                          boolean flashHopper, int hopperMinBlocks, boolean flashF32, boolean gemmF32,
                          boolean tuneProducts, boolean splitOnlyMlp) {

    /** The options the system properties set now (defaults where unset). */
    public static CudaOptions fromSystemProperties() {
        return new CudaOptions(flag("fuseNorm", true), flag("fuseBias", true), flag("stridedLogits", true),
                flag("flashBias", true), flag("flashPipeline", true), flag("flashAttention", true),
                flag("flashShort", true), flag("ltEpilogue", false), Long.getLong("zotune.cuda.arenaChunkMiB", 256L),
                Long.getLong("zotune.cuda.captureHostMiB", 4L), flag("flashWide", false), flag("decodeAttention", true),
                flag("flashHopper", true), Integer.getInteger("zotune.cuda.hopperMinBlocks", -1),
                flag("flashF32", true), flag("gemmF32", true), flag("tuneProducts", true),
                flag("splitOnlyMlp", true));
    }

    /** These options with the fused decode attention on or off. */
    public CudaOptions withDecodeAttention(boolean on) {
        return new CudaOptions(fuseNorm, fuseBias, stridedLogits, flashBias, flashPipeline, flashAttention, flashShort,
                ltEpilogue, arenaChunkMiB, captureHostMiB, flashWide, on, flashHopper, hopperMinBlocks, flashF32,
                gemmF32, tuneProducts, splitOnlyMlp);
    }

    /** These options with the float32 fused attention (3xTF32) on or off. */
    public CudaOptions withFlashF32(boolean on) {
        return new CudaOptions(fuseNorm, fuseBias, stridedLogits, flashBias, flashPipeline, flashAttention, flashShort,
                ltEpilogue, arenaChunkMiB, captureHostMiB, flashWide, decodeAttention, flashHopper, hopperMinBlocks,
                on, gemmF32, tuneProducts, splitOnlyMlp);
    }

    /** These options with the float32 products in 3xTF32 on or off. */
    public CudaOptions withGemmF32(boolean on) {
        return new CudaOptions(fuseNorm, fuseBias, stridedLogits, flashBias, flashPipeline, flashAttention, flashShort,
                ltEpilogue, arenaChunkMiB, captureHostMiB, flashWide, decodeAttention, flashHopper, hopperMinBlocks,
                flashF32, on, tuneProducts, splitOnlyMlp);
    }

    /** These options with the tuned choice of the 3xTF32 products' algorithm on or off. */
    public CudaOptions withTuneProducts(boolean on) {
        return new CudaOptions(fuseNorm, fuseBias, stridedLogits, flashBias, flashPipeline, flashAttention, flashShort,
                ltEpilogue, arenaChunkMiB, captureHostMiB, flashWide, decodeAttention, flashHopper, hopperMinBlocks,
                flashF32, gemmF32, on, splitOnlyMlp);
    }

    private static boolean flag(String name, boolean dflt) {
        return Boolean.parseBoolean(System.getProperty("zotune.cuda." + name, Boolean.toString(dflt)));
    }
}
