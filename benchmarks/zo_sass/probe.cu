// SASS probes of the ZO kernels' per-unit work (benchmarks/zo_sass/count.py): one grid-stride loop per kernel
// over full, aligned units on the path a real step takes (a good step, restore fused into the update, no weight
// decay, units starting on a rounding block: n0 a multiple of 8), so the loop body counted is the instructions of
// one unit of E elements. Compiled only by count.py (not part of the fatbin).
#include "zo_sweep.cuh"

namespace zotune {
namespace {

template <typename T, typename S, class Rule, int DIR, bool FAST>
__device__ __forceinline__ void probe(T* theta, S* m, S* v, const zo::Scalars* Sp, int64_t units, uint64_t block8,
                                     float c) {
    zo::Step P = zo::read_step(Sp);
    P.bad = false;
    constexpr int E = zo::unit_elems<T>();
    const int64_t stride = (int64_t)blockDim.x * gridDim.x;
#pragma unroll 1
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < units; k += stride) {
        // n0 = 8·(block8 + k·E/8) for bf16 / f16 (E = 8), 4·(2·block8 + k) for f32: a multiple of E
        const uint64_t n0 = (uint64_t)E * (((uint64_t)E == 8 ? block8 : 2 * block8) + (uint64_t)k);
        zo::unit<T, S, Rule, DIR, FAST, E, true>(theta, theta, m, v, k * E, n0, E, P, c, !zo::IsPerturb<Rule>::value,
                                                 false);
    }
}

}  // namespace

#define PROBE(name, RULE, DIR, tname, T, S)                                                                        \
    __global__ void probe_##name##_##tname##_exact(T* t, S* m, S* v, const zo::Scalars* s, int64_t u, uint64_t b, \
                                                   float c) {                                                       \
        probe<T, S, RULE, DIR, false>(t, m, v, s, u, b, c);                                                         \
    }                                                                                                               \
    __global__ void probe_##name##_##tname##_fast(T* t, S* m, S* v, const zo::Scalars* s, int64_t u, uint64_t b,  \
                                                  float c) {                                                        \
        probe<T, S, RULE, DIR, true>(t, m, v, s, u, b, c);                                                          \
    }
#define PROBES(tname, T)                                                                                            \
    PROBE(perturb, zo::PerturbPass, zo::DIR_GAUSSIAN, tname, T, float)                                              \
    PROBE(perturb_adamu, zo::PerturbPass, zo::DIR_ADAMU, tname, T, float)                                           \
    PROBE(sgd, zo::SgdRule, zo::DIR_GAUSSIAN, tname, T, float)                                                      \
    PROBE(mmt, zo::MmtRule, zo::DIR_GAUSSIAN, tname, T, float)                                                      \
    PROBE(adam, zo::AdamRule, zo::DIR_GAUSSIAN, tname, T, float)                                                    \
    PROBE(adamu, zo::AdaMuRule, zo::DIR_ADAMU, tname, T, float)                                                     \
    PROBE(perturb_rad, zo::PerturbPass, zo::DIR_RADEMACHER, tname, T, float)                                        \
    PROBE(sgd_rad, zo::SgdRule, zo::DIR_RADEMACHER, tname, T, float)

extern "C" {
PROBES(f32, float)
PROBES(bf16, __nv_bfloat16)
PROBES(f16, __half)
}

}  // namespace zotune
