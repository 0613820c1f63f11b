/**
 * Zeroth-order optimisation: the plain-Java reference of the fused CUDA kernels (ALGORITHMS.md §1–§5).
 *
 * <ul>
 *   <li>{@link org.zotune.zo.noise}: Philox4x32-10, the counter-based noise keyed on (step seed, stream, global
 *       element index) and its Box–Muller / Rademacher mapping, the global index layout, stochastic rounding.</li>
 *   <li>{@link org.zotune.zo.optim}: ZO-SGD (MeZO), ZO-SGD-MMT, ZO-Adam, ZO-AdaMU and the two-point SPSA step
 *       ({@link org.zotune.zo.optim.ZoStep}: in-place or shadow perturbation, q samples, micro-batches,
 *       non-finite losses).</li>
 *   <li>{@link org.zotune.zo.functions}: the 2-D test functions and trajectory plots of ALGORITHMS.md §8.</li>
 * </ul>
 *
 * <h2>For kernel authors</h2>
 * Every element-wise formula is documented in its class in the order Java evaluates it: IEEE float32, round to
 * nearest even, one rounding per operation and no fused multiply-add (Java never contracts a*b+c). A kernel that
 * wants bitwise equality with this reference uses {@code __fmul_rn}/{@code __fadd_rn}/{@code __fdiv_rn}/
 * {@code __fsqrt_rn} (or {@code -fmad=false}) for those steps; log/cos/sin of the Box–Muller transform are
 * computed here in double and rounded once, so a CUDA {@code logf}/{@code cosf}/{@code sinf} may differ by a few
 * ulp (ALGORITHMS.md allows relative 1e-6 between CPU and GPU). Host scalars (η_t, schedule values, bias
 * corrections, 1 - β) are computed in double and passed as float32; the per-element code takes them as given.
 *
 * <p>Per step t: s_t = {@link org.zotune.zo.noise.Noise#stepSeed}(master, t); perturbation d = ε·u;
 * shadow: R(θ + d), R(θ - d); in place: θ = R(θ + d), θ = R(θ - 2d), θ = R(θ + d) (R = round to the parameter
 * dtype, nearest even); g = (ℓ+ - ℓ-) / (2ε); the optimiser's update; for bf16/f16 parameters the update's float32
 * result is written back by {@link org.zotune.zo.noise.StochasticRounding} with the element's 16 stream-2 bits.
 */
package org.zotune.zo;
