// Perturbation θ ± εu (ALGORITHMS.md §2), u regenerated from (s_t, global index) and optimiser state:
//  - zo_perturb_<param>_<state>: in place over the whole flat parameter buffer in one launch (chunk table),
//    θ = R(θ + c·(ε·u)) with c = +1 or -2 (MeZO's way; R = round to nearest even to the dtype);
//  - zo_shadow_<param>_<state>: one tensor, out = R(θ + sign·(ε·u)) into a scratch buffer, θ untouched.
// <state> is the dtype of ZO-AdaMU's momentum m (read for its direction; unused by the other directions).
// ε and the seed come from the device scalar block, so captured graphs replay with new values.
// Each kernel also exists as <name>_fast, with the fast noise variant (zo.cuh; ZoKernels picks one per run).
// The element loop (vector accesses, units of 4 or 8 elements) is zo_sweep.cuh's.
#include "zo_sweep.cuh"

namespace zotune {
namespace {

template <typename T, typename S, bool FAST>
__device__ void perturb_inplace(T* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* Sp, const S* m,
                                int dir, float c) {
    const zo::Step P = zo::read_step(Sp);
    S* mm = const_cast<S*>(m);  // read only: perturbations never write state
    if (dir == zo::DIR_RADEMACHER) {
        zo::sweep_chunks<T, float, zo::PerturbPass, zo::DIR_RADEMACHER, FAST>(theta, chunks, nchunks, P, nullptr, nullptr, c, false);
    } else if (dir == zo::DIR_ADAMU) {
        zo::sweep_chunks<T, S, zo::PerturbPass, zo::DIR_ADAMU, FAST>(theta, chunks, nchunks, P, mm, nullptr, c, false);
    } else {
        zo::sweep_chunks<T, float, zo::PerturbPass, zo::DIR_GAUSSIAN, FAST>(theta, chunks, nchunks, P, nullptr, nullptr, c, false);
    }
}

template <typename T, typename S, bool FAST>
__device__ void shadow(const T* theta, T* out, int64_t n, int64_t noise, const zo::Scalars* Sp, const S* m, int dir,
                       float sign) {
    const zo::Step P = zo::read_step(Sp);
    S* mm = const_cast<S*>(m);
    // sign·d is exact (±1), and a + (-d) is a - d in IEEE arithmetic
    if (dir == zo::DIR_RADEMACHER) {
        zo::sweep_tensor<T, float, zo::DIR_RADEMACHER, FAST>(theta, out, n, noise, P, (float*)nullptr, sign);
    } else if (dir == zo::DIR_ADAMU) {
        zo::sweep_tensor<T, S, zo::DIR_ADAMU, FAST>(theta, out, n, noise, P, mm, sign);
    } else {
        zo::sweep_tensor<T, float, zo::DIR_GAUSSIAN, FAST>(theta, out, n, noise, P, (float*)nullptr, sign);
    }
}

}  // namespace

// vsuffix: empty for the exact noise, _fast for the fast variant (FAST, zo.cuh).
#define ZO_PERTURB_V(tname, T, sname, S, FAST, vsuffix)                                                            \
    __global__ void zo_perturb_##tname##_##sname##vsuffix(T* theta, const zo::Chunk* chunks, int nchunks,          \
                                                          const zo::Scalars* S_, const S* m, int dir, float c) {   \
        perturb_inplace<T, S, FAST>(theta, chunks, nchunks, S_, m, dir, c);                                         \
    }                                                                                                              \
    __global__ void zo_shadow_##tname##_##sname##vsuffix(const T* theta, T* out, int64_t n, int64_t noise,         \
                                                         const zo::Scalars* S_, const S* m, int dir, float sign) { \
        shadow<T, S, FAST>(theta, out, n, noise, S_, m, dir, sign);                                                 \
    }
#define ZO_PERTURB(tname, T, sname, S)                                                                             \
    ZO_PERTURB_V(tname, T, sname, S, false, )                                                                      \
    ZO_PERTURB_V(tname, T, sname, S, true, _fast)

extern "C" {

ZO_PERTURB(f32, float, f32, float)
ZO_PERTURB(f32, float, bf16, __nv_bfloat16)
ZO_PERTURB(f32, float, f16, __half)
ZO_PERTURB(bf16, __nv_bfloat16, f32, float)
ZO_PERTURB(bf16, __nv_bfloat16, bf16, __nv_bfloat16)
ZO_PERTURB(bf16, __nv_bfloat16, f16, __half)
ZO_PERTURB(f16, __half, f32, float)
ZO_PERTURB(f16, __half, bf16, __nv_bfloat16)
ZO_PERTURB(f16, __half, f16, __half)

}  // extern "C"

}  // namespace zotune
