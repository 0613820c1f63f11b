/**
 * The zeroth-order step on a CUDA device (ALGORITHMS.md §1–§5), matching the plain-Java reference
 * {@link org.zotune.zo} element for element.
 *
 * <ul>
 *   <li>Kernels (native/kernels/zo_noise.cu, zo_perturb.cu, zo_update.cu; shared code in native/include/zo.cuh,
 *       the element loop in zo_sweep.cuh: units of 4 f32 / 8 bf16 or f16 elements with 16-byte accesses, one block per
 *       chunk):
 *       noise fill; in-place perturbation of the whole flat parameter buffer in one launch; the shadow
 *       materialisation of one tensor, of a table of segments (every vector of a pass in one launch), and of a
 *       float32 matrix straight as its 3xTF32 split (zo_shadow_split); one fused (restore +) update per optimiser (ZO-SGD with Gaussian or
 *       Rademacher u and the weight-decay mask, ZO-SGD-MMT, ZO-Adam, ZO-AdaMU), f32, bf16 or f16 parameters with
 *       stochastic rounding from the stream-2 bits, state in f32, bf16 or f16 ({@link ZoKernels#stateDType});
 *       the projected gradient from the two
 *       cross-entropy results, on the device.</li>
 *   <li>{@link org.zotune.zo.cuda.ChunkTable}: one launch sweeps every trainable tensor; noise indices follow
 *       {@link org.zotune.zo.noise.NoiseLayout} (offsets rounded to 4), independent of the 256-byte memory
 *       alignment; optimiser state is indexed by noise index, so only trainable elements have state.</li>
 *   <li>{@link org.zotune.zo.cuda.ZoScalars}: every per-step scalar lives in a 128-byte device block the kernels
 *       read, never in launch arguments, so a captured graph replays with the next step's values.</li>
 *   <li>{@link org.zotune.zo.cuda.DeviceZoStep}: the step's sequence over a {@link org.zotune.peft.TrainableSet}
 *       (full fine-tuning: every weight, in the model's own parameter buffer); host writes and the loss read-back
 *       are asynchronous through one pinned slot. Its parts: {@link org.zotune.zo.cuda.ShadowWeights} (θ ± εu of
 *       whichever set trains, materialised into scratch and composed with the frozen weights),
 *       {@code OptimizerState} (m, v for the trainable elements only), {@code StepGraph} (one CUDA graph per batch
 *       shape, up to 8, the least recently replayed dropped first, their activations in one shared region of the
 *       ops; the model's int inputs are re-derived per batch by a dry run of its forward ({@code InputRecorder})
 *       and written into the graph's persistent inputs).</li>
 * </ul>
 *
 * <h2>Numerics</h2>
 * Arithmetic the reference evaluates in float32 uses {@code __fadd_rn}/{@code __fmul_rn}/{@code __fdiv_rn}/
 * {@code __fsqrt_rn} in the reference's order (no FMA contraction), so given equal noise an update is bitwise the
 * Java one (tested with Rademacher noise, stochastic rounding included); the one exception is ZO-AdaMU's
 * (η·g·u) / sqrt(v + σ), taken with the hardware reciprocal square root (~2 ulp). Gaussian noise: Box–Muller with
 * the angle π·(2·u2) as {@link org.zotune.zo.noise.Noise} specifies, through a logarithm and sin/cos(π·x) of our
 * own for exactly those arguments (zo.cuh; exhaustively within 1.3e-7 relative) and the hardware square root; no
 * __logf / __sinf. CPU and GPU normals agree within 1e-6 relative (worst 3.5e-7 over 10^7 values).
 *
 * <h2>Memory</h2>
 * Device memory beyond inference: ZO-SGD none (in place) or two scratch slots of the largest trainable tensor
 * (shadow); ZO-SGD-MMT and ZO-AdaMU one state vector per trainable element (4 bytes an element in f32, 2 in bf16
 * or f16: {@code optimizer.state_dtype}); ZO-Adam two; plus the chunk table
 * (24 bytes per 16384 elements) and 128 bytes of scalars. Both forward passes of a step share one activation
 * region. {@code DeviceZoStepMemoryTest} measures it with cudaMemGetInfo.
 */
package org.zotune.zo.cuda;
