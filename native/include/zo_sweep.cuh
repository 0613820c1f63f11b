// One pass of a fused ZO kernel over parameter elements (ALGORITHMS.md §2–§5): the perturbation
// θ ± c·εu, and the (restore +) optimiser updates, with u regenerated from (s_t, global index); the per-element
// update arithmetic is the optimiser's rule (zo_rules.cuh), the rest (loads, u, ĝ, rounding, stores) is shared.
// Shared by zo_perturb.cu and zo_update.cu.
//
// Speed (benchmarks/NOTES.md, "ZO kernels"): the kernels are limited by arithmetic (Philox, log, sincos),
// so each thread takes a unit of E elements: 4 for f32, 8 for bf16 / f16 (one 16-byte access of θ), i.e. 1 or 2
// Philox blocks of the noise, and for bf16 / f16 updates one Philox block of stochastic-rounding bits (16 bits an
// element, 8 elements a call). Optimiser state (f32, bf16 or f16, type S) moves in groups of 4 (16 or 8
// bytes). A unit whose θ (or state) is not aligned for vector access takes the scalar path, 4 elements at
// a time; both paths compute every element with the same instructions, so the results are bitwise equal
// whatever the alignment, chunking or launch configuration (ZoKernelsGpuTest checks it).
#pragma once
#include "zo.cuh"

namespace zotune::zo {

template <class Rule> struct IsPerturb { static constexpr bool value = false; };
template <> struct IsPerturb<PerturbPass> { static constexpr bool value = true; };

// Which state a pass touches: its rule's, and m for ZO-AdaMU's direction.
template <class Rule, int DIR> struct Uses {
    static constexpr bool m_read = Rule::reads_m || DIR == DIR_ADAMU;
    static constexpr bool m_write = Rule::writes_m;
    static constexpr bool v = Rule::uses_v;
};

// E elements at src[mem .. mem+E) -> dst[...] (dst == src in place), global indices n0 .. n0+E (n0 a
// multiple of 4; state is indexed by the global index). FULL: all E present and vector-aligned;
// otherwise E == 4 and `count` (1..4) elements, scalar accesses.
// MULTI: the update averages q > 1 SPSA samples (P.q, blocks P.all): ĝ = (Σ_k g_k·u_k) / q in sample order, as
// the reference's AbstractZoOptimizer.estimate; P.stream is the last sample's (the pending restore's direction).
// Rule: the optimiser's update rule, or PerturbPass for θ ± c·εu. FAST: the noise variant (zo.cuh's box_muller).
template <typename T, typename S, class Rule, int DIR, bool FAST, int E, bool FULL, bool MULTI = false>
__device__ __forceinline__ void unit(const T* src, T* dst, S* m, S* v, int64_t mem, uint64_t n0, int count,
                                     const Step& P, float c, bool restore, bool decays) {
    constexpr int G = E / 4;
    using U = Uses<Rule, DIR>;
    float th[E], mm[E], vv[E];
    if (FULL) {
        if constexpr (E == 8) {
            unpack<T>(load16(src + mem), th);  // 8 bf16 or f16, one 16-byte load
        } else {
            load4(src + mem, th);
        }
    } else {
#pragma unroll
        for (int j = 0; j < E; j++) th[j] = j < count ? to_float(src[mem + j]) : 0.0f;
    }
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (U::m_read) {
            if (FULL) {
                load4(m + n0 + 4 * g, mm + 4 * g);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) mm[4 * g + j] = j < count ? to_float(m[n0 + j]) : 0.0f;
            }
        }
        if (U::v) {
            if (FULL) {
                load4(v + n0 + 4 * g, vv + 4 * g);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) vv[4 * g + j] = j < count ? to_float(v[n0 + j]) : 0.0f;
            }
        }
    }
    float u[E], zd[E] = {}, zdd[E] = {};  // ż, z̈: ZO-AdaMU's direction only
#pragma unroll
    for (int g = 0; g < G; g++) {
        direction4<DIR, FAST>(P, (n0 >> 2) + g, mm + 4 * g, u + 4 * g, zd + 4 * g, zdd + 4 * g);
    }

    float out[E];
    bool write_state = false;
    if constexpr (IsPerturb<Rule>::value) {
#pragma unroll
        for (int j = 0; j < E; j++) out[j] = __fadd_rn(th[j], __fmul_rn(c, __fmul_rn(P.eps, u[j])));
    } else {
        if (restore) {
#pragma unroll
            for (int j = 0; j < E; j++) th[j] = round_rn<T>(__fadd_rn(th[j], __fmul_rn(P.eps, u[j])));
        }
        if (P.bad) {
#pragma unroll
            for (int j = 0; j < E; j++) out[j] = th[j];
        } else {
            write_state = U::m_write;
            uint32_t hb[E] = {};
            if (!IsF32<T>::value) rounding_bits<E>(P.keys, n0, hb);
            const float eta = P.eta, g = P.g;
            float ga[E];  // ĝ before weight decay: the reference's 0 + g·u for q = 1
            if constexpr (MULTI && !Rule::single_sample && DIR != DIR_ADAMU) {
#pragma unroll
                for (int j = 0; j < E; j++) ga[j] = 0.0f;
                for (int k = 0; k < P.q; k++) {
                    const float gk = P.all[k].g;
                    float uk[E];
                    if (k == P.q - 1) {
#pragma unroll
                        for (int j = 0; j < E; j++) uk[j] = u[j];
                    } else {
                        Step Pk = P;
                        Pk.stream = P.all[k].stream;
#pragma unroll
                        for (int gr = 0; gr < G; gr++) {
                            direction4<DIR, FAST>(Pk, (n0 >> 2) + gr, nullptr, uk + 4 * gr, nullptr, nullptr);
                        }
                    }
#pragma unroll
                    for (int j = 0; j < E; j++) ga[j] = __fadd_rn(ga[j], __fmul_rn(gk, uk[j]));
                }
                const float qf = (float)P.q;
#pragma unroll
                for (int j = 0; j < E; j++) ga[j] = __fdiv_rn(ga[j], qf);
            } else {
#pragma unroll
                for (int j = 0; j < E; j++) ga[j] = __fadd_rn(0.0f, __fmul_rn(g, u[j]));
            }
            const typename Rule::Params rp = Rule::params(P.params);  // a copy: registers
#pragma unroll
            for (int j = 0; j < E; j++) {
                const Elem e = {th[j], ga[j], u[j], zd[j], zdd[j], eta, g, decays};
                const float x = Rule::apply(rp, e, mm[j], vv[j]);
                if (IsF32<T>::value) {
                    out[j] = x;
                } else {
                    out[j] = stochastic<T>(x, hb[j]);
                }
            }
        }
    }

    // stores: θ rounds to nearest (exact for the stochastically rounded values), state to nearest
    if (FULL) {
        if constexpr (E == 8) {
            store_vec(dst + mem, out);
        } else {
            store4(dst + mem, out);
        }
    } else {
#pragma unroll
        for (int j = 0; j < E; j++) {
            if (j < count) dst[mem + j] = from_float<T>(out[j]);
        }
    }
    if (write_state) {
#pragma unroll
        for (int g = 0; g < G; g++) {
            if (FULL) {
                store4(m + n0 + 4 * g, mm + 4 * g);
                if (U::v) store4(v + n0 + 4 * g, vv + 4 * g);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    if (j < count) {
                        m[n0 + j] = from_float<S>(mm[4 * g + j]);
                        if (U::v) v[n0 + j] = from_float<S>(vv[4 * g + j]);
                    }
                }
            }
        }
    }
}

template <typename T> __device__ __forceinline__ constexpr int unit_elems() { return IsF32<T>::value ? 4 : 8; }

// Vector access of E values of T at p, and of the state (groups of 4 S) at m/v, is aligned.
template <typename T, typename S, int E>
__device__ __forceinline__ bool aligned(const T* p, const S* m, const S* v) {
    return ((uintptr_t)p % (E * sizeof(T))) == 0 && ((uintptr_t)m % (4 * sizeof(S))) == 0 &&
           ((uintptr_t)v % (4 * sizeof(S))) == 0;
}

// Every chunk of the table, one chunk per block at a time, in place.
template <typename T, typename S, class Rule, int DIR, bool FAST, bool MULTI = false>
__device__ __forceinline__ void sweep_chunks(T* theta, const Chunk* chunks, int nchunks, const Step& P, S* m, S* v,
                                             float c, bool restore) {
    constexpr int E = unit_elems<T>();
    for (int ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
        const Chunk ch = chunks[ci];
        const bool decays = (ch.flags & 1) != 0;
        int done = 0;
        if (aligned<T, S, E>(theta + ch.mem, m, v)) {
            const int full = ch.len / E;
            for (int k = threadIdx.x; k < full; k += blockDim.x) {
                unit<T, S, Rule, DIR, FAST, E, true, MULTI>(theta, theta, m, v, ch.mem + (int64_t)k * E,
                                                    (uint64_t)ch.noise + (uint64_t)k * E, E, P, c, restore, decays);
            }
            done = full * E;
        }
        const int rest = (ch.len - done + 3) >> 2;
        for (int k = threadIdx.x; k < rest; k += blockDim.x) {
            const int e = done + 4 * k;
            unit<T, S, Rule, DIR, FAST, 4, false, MULTI>(theta, theta, m, v, ch.mem + e, (uint64_t)ch.noise + (uint64_t)e,
                                                 min(4, ch.len - e), P, c, restore, decays);
        }
    }
}

// One tensor of n elements (global indices from `noise`, a multiple of 4) from src into dst, grid-stride.
template <typename T, typename S, int DIR, bool FAST>
__device__ __forceinline__ void sweep_tensor(const T* src, T* dst, int64_t n, int64_t noise, const Step& P, S* m,
                                             float c) {
    constexpr int E = unit_elems<T>();
    const int64_t stride = (int64_t)blockDim.x * gridDim.x;
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t done = 0;
    if (aligned<T, S, E>(src, m, m) && ((uintptr_t)dst % (E * sizeof(T))) == 0) {
        const int64_t full = n / E;
        for (int64_t k = tid; k < full; k += stride) {
            unit<T, S, PerturbPass, DIR, FAST, E, true>(src, dst, m, (S*)nullptr, k * E, (uint64_t)(noise + k * E), E, P, c,
                                                 false, false);
        }
        done = full * E;
    }
    const int64_t rest = (n - done + 3) >> 2;
    for (int64_t k = tid; k < rest; k += stride) {
        const int64_t e = done + 4 * k;
        unit<T, S, PerturbPass, DIR, FAST, 4, false>(src, dst, m, (S*)nullptr, e, (uint64_t)(noise + e), (int)min((int64_t)4, n - e),
                                              P, c, false, false);
    }
}

}  // namespace zotune::zo
