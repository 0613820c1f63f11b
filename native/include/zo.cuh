// Zeroth-order core (ALGORITHMS.md §1–§5) on the device: the per-step scalar block, the chunk table
// and the per-element noise / direction / rounding functions shared by zo_noise.cu, zo_perturb.cu and
// zo_update.cu. The Java reference is org.zotune.zo (package-info.java states the float32 order of
// operations). Every arithmetic step that the reference evaluates in float32 uses an explicit _rn
// intrinsic here, so nvcc can neither contract it into an FMA nor reorder it: given the same noise
// values, an update is bitwise equal to the Java one. No fast-math intrinsics (__logf, __sinf): their
// absolute error (~2^-21) would break the 1e-6 relative agreement of the noise near zeros of sin/cos.
#pragma once
#include <cuda_bf16.h>
#include <stddef.h>
#include <stdint.h>
#include "philox.cuh"

namespace zo {

// The per-step scalars, in ONE small device buffer: the host writes the input block before each step
// (asynchronously, so a captured graph replays with new values); the device writes the output block.
// Layout mirrored by org.zotune.zo.cuda.ZoScalars (a CPU test reads the static_asserts below).
struct Scalars {
    // ---- inputs (host -> device), bytes [0, 64)
    uint64_t seed;   // s_t
    float eps;       // ε of the two-point estimate
    float eta;       // η_t
    float lambda;    // weight decay λ (SGD, MMT, Adam); AdaMU: η_t·λ (decoupled)
    float a0;        // MMT: μ;       Adam: β1;      AdaMU: sqrt(α)
    float a1;        // Adam: β2;     AdaMU: sqrt(1 - α)
    float a2;        // Adam: 1 - β1; AdaMU: β1
    float a3;        // Adam: 1 - β2; AdaMU: 1 - β1
    float a4;        // Adam: 1 - β1^t; AdaMU: β2
    float a5;        // Adam: 1 - β2^t; AdaMU: 1 - β2
    float a6;        // Adam: ε_adam; AdaMU: σ
    int32_t step;    // low 32 bits of t (echoed to the output block)
    int32_t in_pad[3];
    // ---- device-computed, bytes [64, 128)
    float ce_plus[2];   // cross-entropy (sum, count) of the + pass
    float ce_minus[2];  // ... of the - pass
    float loss_plus;    // ℓ+ = sum / count
    float loss_minus;   // ℓ-
    float g;            // (ℓ+ - ℓ-) / (2ε), or 0 when the step is bad
    int32_t bad;        // 1 when ℓ+, ℓ- or g is NaN/inf: the update is skipped
    int32_t step_out;   // the step these outputs belong to
    int32_t out_pad[7];
};
static_assert(offsetof(Scalars, seed) == 0, "seed");
static_assert(offsetof(Scalars, eps) == 8, "eps");
static_assert(offsetof(Scalars, eta) == 12, "eta");
static_assert(offsetof(Scalars, lambda) == 16, "lambda");
static_assert(offsetof(Scalars, a0) == 20, "a0");
static_assert(offsetof(Scalars, a1) == 24, "a1");
static_assert(offsetof(Scalars, a2) == 28, "a2");
static_assert(offsetof(Scalars, a3) == 32, "a3");
static_assert(offsetof(Scalars, a4) == 36, "a4");
static_assert(offsetof(Scalars, a5) == 40, "a5");
static_assert(offsetof(Scalars, a6) == 44, "a6");
static_assert(offsetof(Scalars, step) == 48, "step");
static_assert(offsetof(Scalars, ce_plus) == 64, "ce_plus");
static_assert(offsetof(Scalars, ce_minus) == 72, "ce_minus");
static_assert(offsetof(Scalars, loss_plus) == 80, "loss_plus");
static_assert(offsetof(Scalars, loss_minus) == 84, "loss_minus");
static_assert(offsetof(Scalars, g) == 88, "g");
static_assert(offsetof(Scalars, bad) == 92, "bad");
static_assert(offsetof(Scalars, step_out) == 96, "step_out");
static_assert(sizeof(Scalars) == 128, "size");

// One piece of one trainable tensor: `len` elements at element `mem` of the flat parameter buffer,
// whose global noise index (NoiseLayout, a multiple of 4) starts at `noise`; optimiser state is
// indexed by the noise index too. Built once on the host (org.zotune.zo.cuda.ChunkTable).
struct Chunk {
    int64_t mem;
    int64_t noise;
    int32_t len;
    int32_t flags;  // bit 0: weight decay applies (ParamSpec.Role.decays())
};
static_assert(sizeof(Chunk) == 24, "chunk size");

enum Direction : int {
    DIR_GAUSSIAN = 0,    // u = n0
    DIR_RADEMACHER = 1,  // u = ±1 from the top bit of the stream-0 word
    DIR_ADAMU = 2        // u = β1·sqrt(α)·n0 + (1-β1)·(m + sqrt(1-α)·n1)
};

enum Stream : uint32_t { STREAM_N0 = 0, STREAM_N1 = 1, STREAM_ROUNDING = 2 };

// ---- noise, exactly the float32 mapping of org.zotune.zo.noise.Noise -------------------------------

__device__ __forceinline__ float unit(uint32_t a) {
    return __fmul_rn(__fadd_rn((float)(a >> 8), 0.5f), 5.9604644775390625e-08f);  // 2^-24
}

// Box–Muller as Noise.boxMuller: r = sqrt(-2 log u1), t = 2π(float)·u2, (r cos t, r sin t).
// logf (1 ulp), sinf/cosf (2 ulp) are CUDA's full-precision functions; the CPU rounds double results.
__device__ __forceinline__ float2 box_muller(uint32_t a, uint32_t b) {
    float u1 = unit(a);
    float u2 = unit(b);
    float r = __fsqrt_rn(__fmul_rn(-2.0f, logf(u1)));
    float t = __fmul_rn(6.2831855f, u2);
    float s, c;
    sincosf(t, &s, &c);
    return make_float2(__fmul_rn(r, c), __fmul_rn(r, s));
}

__device__ __forceinline__ float4 gaussian4(uint64_t seed, uint32_t stream, uint64_t group) {
    zotune::Philox4 w = zotune::noise_words(seed, stream, group);
    float2 a = box_muller(w.x, w.y);
    float2 b = box_muller(w.z, w.w);
    return make_float4(a.x, a.y, b.x, b.y);
}

__device__ __forceinline__ float rademacher(uint32_t w) { return (int32_t)w >= 0 ? 1.0f : -1.0f; }

__device__ __forceinline__ float4 rademacher4(uint64_t seed, uint32_t stream, uint64_t group) {
    zotune::Philox4 w = zotune::noise_words(seed, stream, group);
    return make_float4(rademacher(w.x), rademacher(w.y), rademacher(w.z), rademacher(w.w));
}

__device__ __forceinline__ float lane(const float4& v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

__device__ __forceinline__ uint32_t lane(const zotune::Philox4& v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// ---- storage: float32 or bf16 parameters, float32 compute ----------------------------------------

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }

// R: round to the parameter dtype, nearest even (DType.round).
__device__ __forceinline__ void store_rn(float* p, int64_t i, float x) { p[i] = x; }
__device__ __forceinline__ void store_rn(__nv_bfloat16* p, int64_t i, float x) { p[i] = __float2bfloat16_rn(x); }

__device__ __forceinline__ float round_rn(float x, const float*) { return x; }
__device__ __forceinline__ float round_rn(float x, const __nv_bfloat16*) {
    return __bfloat162float(__float2bfloat16_rn(x));
}

// Stochastic rounding to bf16 with random word r, bit for bit StochasticRounding.toBf16.
__device__ __forceinline__ __nv_bfloat16 stochastic_bf16(float x, uint32_t r) {
    uint32_t bits = __float_as_uint(x);
    uint32_t a = bits & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return __float2bfloat16_rn(x);
    }
    uint32_t s = bits & 0x80000000u;
    uint32_t lo = a & 0xffff0000u;
    uint32_t d = a & 0xffffu;
    uint32_t up = (r >> 16) < d ? 0x10000u : 0u;
    return __ushort_as_bfloat16((unsigned short)((s | (lo + up)) >> 16));
}

__device__ __forceinline__ void store_update(float* p, int64_t i, float x, uint32_t) { p[i] = x; }
__device__ __forceinline__ void store_update(__nv_bfloat16* p, int64_t i, float x, uint32_t r) {
    p[i] = stochastic_bf16(x, r);
}

template <typename T> struct IsBf16 { static constexpr bool value = false; };
template <> struct IsBf16<__nv_bfloat16> { static constexpr bool value = true; };

// ---- the direction u of one group of four consecutive global indices ------------------------------

// u for global indices 4·group .. 4·group+3. For DIR_ADAMU, m points at the momentum of index
// 4·group (count valid lanes; the others read as 0) and zd/zdd receive ż and z̈ (the update needs them).
__device__ __forceinline__ void direction4(int dir, const Scalars& S, uint64_t group, const float* m, int count,
                                           float u[4], float zd[4], float zdd[4]) {
    if (dir == DIR_RADEMACHER) {
        float4 r = rademacher4(S.seed, STREAM_N0, group);
        u[0] = r.x; u[1] = r.y; u[2] = r.z; u[3] = r.w;
        return;
    }
    float4 n0 = gaussian4(S.seed, STREAM_N0, group);
    if (dir == DIR_GAUSSIAN) {
        u[0] = n0.x; u[1] = n0.y; u[2] = n0.z; u[3] = n0.w;
        return;
    }
    float4 n1 = gaussian4(S.seed, STREAM_N1, group);
    const float sa = S.a0, sb = S.a1, b1 = S.a2, omb1 = S.a3;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float mj = j < count ? m[j] : 0.0f;
        zd[j] = __fmul_rn(sa, lane(n0, j));
        zdd[j] = __fadd_rn(mj, __fmul_rn(sb, lane(n1, j)));
        u[j] = __fadd_rn(__fmul_rn(b1, zd[j]), __fmul_rn(omb1, zdd[j]));
    }
}

}  // namespace zo
