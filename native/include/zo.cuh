// Zeroth-order core (ALGORITHMS.md §1–§5) on the device: the per-step scalar block, the chunk table
// and the per-element noise / direction / rounding functions shared by zo_noise.cu, zo_perturb.cu and
// zo_update.cu. The Java reference is org.zotune.zo (package-info.java states the float32 order of
// operations). Every arithmetic step that the reference evaluates in float32 uses an explicit _rn
// intrinsic here, so nvcc can neither contract it into an FMA nor reorder it: given the same noise
// values, an update is bitwise equal to the Java one.
// Noise precision: two variants of Box–Muller over the same Philox words (template parameter FAST; each kernel is
// compiled twice, <name> and <name>_fast, and ZoKernels picks one per run, -Dzotune.noise=exact|fast).
//  - exact (the default): a logarithm and sin/cos(π·x) of our own for exactly the arguments Box–Muller produces (no
//    special cases, exact argument reduction, so no loss next to the zeros of log and of sin/cos), each within
//    1.3e-7 relative, and the hardware square root sqrt.approx (about 1 ulp): within 3.5e-7 relative of
//    org.zotune.zo.noise.Noise (ZoNoiseGpuTest, 1e-6 over 10^7 values).
//  - fast (ALGORITHMS.md §1, "Exactness (revised)"): MUFU lg2/sin/cos/sqrt.approx with the bound argued at
//    box_muller_fast: |n_gpu - n_cpu| <= 1e-4 absolute (about 1.5e-5 by the argument), measured over 10^8 indices
//    by ZoNoiseGpuTest.
// The stochastic-rounding bits and Rademacher signs are the same words in both: bitwise the CPU's.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "dtype.cuh"
#include "philox.cuh"
#include "zo_rules.cuh"

namespace zotune::zo {

// The per-step scalars, in ONE small device buffer: the host writes the input block before each step
// (asynchronously, so a captured graph replays with new values); the device writes the output block.
// Layout mirrored by org.zotune.zo.cuda.ZoScalars (a CPU test reads the static_asserts below).
struct Scalars {
    // ---- inputs (host -> device), bytes [0, 64)
    uint64_t seed;   // s_t
    float eps;       // ε of the two-point estimate
    float eta;       // η_t
    RuleParams params;  // the optimiser's named parameters (zo_rules.cuh), e.g. params.adam.beta1
    int32_t step;    // low 32 bits of t (echoed to the output block)
    uint32_t stream; // the noise stream of this block's SPSA sample k (0 for k = 0, 3 + k after: §1)
    int32_t samples; // q, read from block 0 by the update: blocks 0 .. q-1 hold the q samples' scalars
    int32_t in_pad[1];
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
static_assert(offsetof(Scalars, params) == 16, "params");
static_assert(offsetof(Scalars, step) == 48, "step");
static_assert(offsetof(Scalars, stream) == 52, "stream");
static_assert(offsetof(Scalars, samples) == 56, "samples");
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

// ---- noise, the float32 mapping of org.zotune.zo.noise.Noise ---------------------------------------

// u = ((a >> 8) + 0.5)·2^-24; the sum is rounded to float32 (to even), the scaling is exact.
// One fused multiply-add gives the same float: (a >> 8)·2^-24 + 2^-25 is exact before its one rounding, and
// rounding (a >> 8) + 0.5 first, then scaling by the power of two, rounds the same value at the same place.
__device__ __forceinline__ float unit(uint32_t a) {
    return __fmaf_rn((float)(a >> 8), 5.9604644775390625e-08f, 2.98023223876953125e-08f);  // 2^-24, 2^-25
}
// 2·u, exactly (the same argument, one binade up).
__device__ __forceinline__ float unit2(uint32_t a) {
    return __fmaf_rn((float)(a >> 8), 1.1920928955078125e-07f, 5.9604644775390625e-08f);  // 2^-23, 2^-24
}

// The hardware square root (MUFU, ~1 ulp); its input here is 0 or >= 2^-22, never subnormal.
__device__ __forceinline__ float sqrt_approx(float x) {
    float r;
    asm("sqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

#ifndef ZO_NOISE_LIBM
// ln(u) for u in [2^-25, 1] only (normal and positive, so none of logf's special cases): u = 2^e·m with
// m in [2/3, 4/3), f = m - 1 (exact), ln(1 + f) = f + f²·Q(f) with Q a degree-8 polynomial fitted here for
// the least maximum relative error on [-1/3, 1/3] (Lawson's iteration, coefficients rounded to float32).
// Exhaustively over the 2^24 values of u: at most 7.9e-8 relative from the exact logarithm (~1.3 ulp).
__device__ __forceinline__ float log_unit(float u) {
    const int32_t i = __float_as_int(u);
    const int32_t e = (i - 0x3f2aaaab) >> 23;
    const float f = __fsub_rn(__int_as_float(i - (int32_t)((uint32_t)e << 23)), 1.0f);
    float q = -0x1.109d26p-3f;
    q = __fmaf_rn(q, f, 0x1.1ed6cep-3f);
    q = __fmaf_rn(q, f, -0x1.eeb9fcp-4f);
    q = __fmaf_rn(q, f, 0x1.1ebd10p-3f);
    q = __fmaf_rn(q, f, -0x1.55cd02p-3f);
    q = __fmaf_rn(q, f, 0x1.99d20cp-3f);
    q = __fmaf_rn(q, f, -0x1.fffd6cp-3f);
    q = __fmaf_rn(q, f, 0x1.555502p-2f);
    q = __fmaf_rn(q, f, -0.5f);
    const float p = __fmaf_rn(__fmul_rn(f, f), q, f);
    return __fmaf_rn((float)e, 0x1.62e430p-1f, p);  // + e·ln 2
}

// sin(πx), cos(πx) for x in (0, 2]: q = rint(2x), r = x - q/2 in [-1/4, 1/4] (exact), then
// sin(πr) = r·P(r²), cos(πr) = 1 + r²·C(r²) (degree-3 fits as above) and the quadrant q.
// Exhaustively over the 2^24 angles of Box–Muller: at most 1.3e-7 relative from the exact values, exact zeros.
__device__ __forceinline__ void sincospi_unit(float x, float* sp, float* cp) {
    const float qf = rintf(__fmul_rn(2.0f, x));
    const float r = __fmaf_rn(qf, -0.5f, x);
    const int q = (int)qf;
    const float z = __fmul_rn(r, r);
    float ps = -0x1.2d935ep-1f;
    ps = __fmaf_rn(ps, z, 0x1.465e94p+1f);
    ps = __fmaf_rn(ps, z, -0x1.4abbbap+2f);
    ps = __fmaf_rn(ps, z, 0x1.921fb6p+1f);
    float pc = 0x1.d9d5d2p-3f;
    pc = __fmaf_rn(pc, z, -0x1.55c5e0p+0f);
    pc = __fmaf_rn(pc, z, 0x1.03c1dep+2f);
    pc = __fmaf_rn(pc, z, -0x1.3bd3ccp+2f);
    const float sv = __fmul_rn(r, ps);
    const float cv = __fmaf_rn(z, pc, 1.0f);
    const float S = (q & 1) ? cv : sv;
    const float C = (q & 1) ? sv : cv;
    *sp = (q & 2) ? -S : S;
    *cp = ((q + 1) & 2) ? -C : C;
}
#endif

// Box–Muller as Noise.boxMuller: r = sqrt(-2 log u1), (r cos 2πu2, r sin 2πu2) with the angle taken as
// π·(2·u2) (2·u2 is exact) and reduced exactly. Build with -DZO_NOISE_LIBM for CUDA's logf / sincospif
// instead of the functions above (the variant benchmarks/NOTES.md compares).
__device__ __forceinline__ float2 box_muller_exact(uint32_t a, uint32_t b) {
    float u1 = unit(a);
    float x2 = unit2(b);
    float s, c;
#ifdef ZO_NOISE_LIBM
    float l = logf(u1);
    sincospif(x2, &s, &c);
#else
    float l = log_unit(u1);
    sincospi_unit(x2, &s, &c);
#endif
    float r = sqrt_approx(__fmul_rn(-2.0f, l));
    return make_float2(__fmul_rn(r, c), __fmul_rn(r, s));
}

// ---- the fast variant (ALGORITHMS.md §1, "Exactness (revised)": |n_gpu - n_cpu| <= 1e-4) -------------------
// The same words, uniforms and Box–Muller formula with the special-function unit (MUFU) doing the work:
// lg2.approx for the logarithm, sin/cos.approx after the exact reduction of the angle, sqrt.approx.
//
// Bound (n = r·cos(πx2) or r·sin(πx2), r = sqrt(L), L = -2 ln u1, r <= sqrt(50 ln 2) = 5.89 since u1 >= 2^-25):
//  - L: an absolute error ΔL moves r by ΔL / (2r), unbounded as u1 -> 1 (r -> 0), so L has two forms, selected
//    branch free on d = 1 - u1 (exact for u1 in [1/2, 1], Sterbenz; u1 is the reference's rounded value):
//    d <  2^-5: L = d·(2 + d·(1 + d·2/3)), the series 2·(d + d²/2 + d³/3 + ...) of -2 ln(1 - d) cut after d³
//               (relative error below d³/4 <= 7.6e-6, plus ~3 roundings of 2^-24): Δr = r·(ΔL/L)/2 <= 1e-6 there
//               (r < 0.26);
//    d >= 2^-5: L = (-2 ln 2)·lg2.approx(u1); lg2.approx is within 2^-22 absolute of log2 on the mantissa (PTX
//               ISA), plus the rounding of its result (< 2^-20 for |log2 u1| <= 25): ΔL <= 2 ln 2·(2^-22 + 2^-20)
//               ≈ 1.7e-6 and, with r >= sqrt(-2 ln(1 - 2^-5)) = 0.252, Δr <= 3.4e-6.
//  - sqrt.approx: 2^-23 relative: Δr <= 7e-7.
//  - the angle, straight from the word: t = (int)b >> 8 in [-2^23, 2^23), angle = π·(t + 1/2)·2^-23 in (-π, π),
//    i.e. π·x2 reduced by 2π (x2 = 2u2; for t >= 0 the same x2, for t < 0 x2 - 2 up to the reference's rounding
//    of x2, half an ulp: 2^-24, 1.9e-7 rad). One fma with the rounded constants π·2^-23, π·2^-24 (<= 5.6e-7 rad)
//    and ptxas's own product with 1/(2π) before MUFU (FMUL.RZ, an ulp of at most 1/2 revolution: <= 3.7e-7 rad) add
//    up to <= 1.2e-6 rad; sin/cos.approx are within 2^-20.9 ≈ 5.1e-7 absolute on [-π, π] (PTX ISA):
//    |Δ sin|, |Δ cos| <= 1.7e-6, times r <= 5.89: <= 1e-5.
//  - the products r·c, r·s: half an ulp, <= 3.6e-7.
//  Sum: |n_fast - n_exact| <= ~1.5e-5 everywhere, under a sixth of the contract's 1e-4; ZoNoiseGpuTest measures the
//  worst difference from the CPU over 10^8 consecutive indices and prints it.
__device__ __forceinline__ float lg2_approx(float x) {
    float r;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}
__device__ __forceinline__ float sin_approx(float x) {
    float r;
    asm("sin.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}
__device__ __forceinline__ float cos_approx(float x) {
    float r;
    asm("cos.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

// L = -2 ln u for u in [2^-25, 1], as bounded above.
__device__ __forceinline__ float minus2_log_fast(float u) {
    const float d = __fsub_rn(1.0f, u);
    const float near = __fmul_rn(d, __fmaf_rn(d, __fmaf_rn(d, 0.666666686534881591796875f, 1.0f), 2.0f));  // 2/3
    const float far = __fmul_rn(lg2_approx(u), -1.38629436111989061883f);  // -2 ln 2
    return d < 0.03125f ? near : far;
}

__device__ __forceinline__ float2 box_muller_fast(uint32_t a, uint32_t b) {
    const float u1 = unit(a);
    const float t = (float)((int32_t)b >> 8);
    const float angle = __fmaf_rn(t, 0x1.921fb6p-22f, 0x1.921fb6p-23f);  // π·2^-23, π·2^-24 (rounded)
    const float r = sqrt_approx(minus2_log_fast(u1));
    return make_float2(__fmul_rn(r, cos_approx(angle)), __fmul_rn(r, sin_approx(angle)));
}

// The noise variant: FAST = false is the exact one (ALGORITHMS.md §1), true the hardware approximations above.
template <bool FAST> __device__ __forceinline__ float2 box_muller(uint32_t a, uint32_t b) {
    return FAST ? box_muller_fast(a, b) : box_muller_exact(a, b);
}

template <bool FAST> __device__ __forceinline__ float4 gaussian4(const Philox4& w) {
    float2 a = box_muller<FAST>(w.x, w.y);
    float2 b = box_muller<FAST>(w.z, w.w);
    return make_float4(a.x, a.y, b.x, b.y);
}

__device__ __forceinline__ float rademacher(uint32_t w) { return (int32_t)w >= 0 ? 1.0f : -1.0f; }

template <bool FAST> __device__ __forceinline__ float4 gaussian4(uint64_t seed, uint32_t stream, uint64_t group) {
    return gaussian4<FAST>(noise_words(seed, stream, group));
}

__device__ __forceinline__ float4 rademacher4(const Philox4& w) {
    return make_float4(rademacher(w.x), rademacher(w.y), rademacher(w.z), rademacher(w.w));
}

__device__ __forceinline__ float4 rademacher4(uint64_t seed, uint32_t stream, uint64_t group) {
    return rademacher4(noise_words(seed, stream, group));
}

__device__ __forceinline__ float lane(const float4& v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

__device__ __forceinline__ uint32_t lane(const Philox4& v, int j) {
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// ---- stochastic-rounding bits (StochasticRounding.bits) ---------------------------------------------
// Element i owns 16 bits of stream 2: the Philox block of i >> 3 (counter (lo32, hi32 of i >> 3, 2, 0)),
// word (i & 7) >> 1, low half for even i, high half for odd i. One call serves 8 elements.
__device__ __forceinline__ Philox4 rounding_words(uint64_t seed, uint64_t i) {
    return noise_words(seed, STREAM_ROUNDING, i >> 3);
}
__device__ __forceinline__ Philox4 rounding_words(const PhiloxKeys& K, uint64_t i) {
    return noise_words(K, STREAM_ROUNDING, i >> 3);
}
__device__ __forceinline__ uint32_t rounding_bits(const Philox4& w, int k /* i & 7 */) {
    uint32_t word = lane(w, k >> 1);
    return (k & 1) ? (word >> 16) : (word & 0xffffu);
}

// ---- stochastic rounding (the storage types and their nearest-even rounding are dtype.cuh's) -------------

// Stochastic rounding to bf16 with 16 random bits h, bit for bit StochasticRounding.toBf16(x, h << 16):
// round away from zero iff h < the 16 dropped bits d, i.e. iff d + (0xffff - h) carries into bit 16, so one
// three-input add and a mask do it (no compare, no select). Returns the bf16 value as a float. Branch free: the
// magnitude + 0x10000 never carries into the sign (|x| < 2^31 as bits), ±inf has no dropped bits, and a NaN
// becomes the quiet NaN DType.floatToBf16 makes ((bits >> 16) | 0x40).
__device__ __forceinline__ float stochastic_bf16(float x, uint32_t h) {
    const uint32_t bits = __float_as_uint(x);
    const uint32_t sr = (bits + (0xffffu - h)) & 0xffff0000u;
    const uint32_t nan = (bits & 0xffff0000u) | 0x400000u;
    return __uint_as_float(x != x ? nan : sr);
}

// Stochastic rounding to f16 with 16 random bits h, bit for bit StochasticRounding.toF16(x, h << 16). Normal
// range (|x| >= 2^-14): keep the top 10 mantissa bits, round away from zero iff h >> 3 < the 13 dropped bits
// (probability d / 2^13); the carry may reach the exponent, at most up to 65504. Subnormal range (spacing
// 2^-24): |x|·2^24 = k + f exactly, round up iff h·2^8 < f·2^24. From 65504 up, inf and NaN: nearest even.
__device__ __forceinline__ float stochastic_f16(float x, uint32_t h) {
    const uint32_t bits = __float_as_uint(x);
    const uint32_t a = bits & 0x7fffffffu, s = bits & 0x80000000u;
    if (a >= 0x477fe000u) return round_rn<__half>(x);
    // round up iff (h >> 3) < the 13 dropped bits, i.e. iff they + (0x1fff - (h >> 3)) carry into bit 13
    if (a >= 0x38800000u) return __uint_as_float(s | ((a + (0x1fffu - (h >> 3))) & ~0x1fffu));
    const float m = __fmul_rn(__uint_as_float(a), 0x1p24f);
    const float k = floorf(m);
    const bool up = (float)(h << 8) < __fmul_rn(__fsub_rn(m, k), 0x1p24f);
    return __uint_as_float(s | __float_as_uint(__fmul_rn(__fadd_rn(k, up ? 1.0f : 0.0f), 0x1p-24f)));
}

// Stochastic rounding to the 16-bit parameter type T (bf16 or f16) with 16 random bits, as a float.
template <typename T> __device__ __forceinline__ float stochastic(float x, uint32_t h);
template <> __device__ __forceinline__ float stochastic<float>(float x, uint32_t) { return x; }  // f32: no rounding
template <> __device__ __forceinline__ float stochastic<__nv_bfloat16>(float x, uint32_t h) { return stochastic_bf16(x, h); }
template <> __device__ __forceinline__ float stochastic<__half>(float x, uint32_t h) { return stochastic_f16(x, h); }

// The 16-bit halfword k (0..7, compile-time) of a stream-2 block.
template <int K> __device__ __forceinline__ uint32_t halfword(const Philox4& w) {
    const uint32_t word = K < 2 ? w.x : K < 4 ? w.y : K < 6 ? w.z : w.w;
    return (K & 1) ? (word >> 16) : (word & 0xffffu);
}

// The stochastic-rounding bits of E consecutive global indices from n0 (a multiple of 4): one Philox call
// when n0 is a multiple of 8 (or E == 4), two when an 8-element unit straddles two blocks.
template <int E>
__device__ __forceinline__ void rounding_bits(const PhiloxKeys& K, uint64_t n0, uint32_t (&h)[E]) {
    const Philox4 a = noise_words(K, STREAM_ROUNDING, n0 >> 3);
    if ((n0 & 4) == 0) {
        h[0] = halfword<0>(a); h[1] = halfword<1>(a); h[2] = halfword<2>(a); h[3] = halfword<3>(a);
        if constexpr (E == 8) {
            h[4] = halfword<4>(a); h[5] = halfword<5>(a); h[6] = halfword<6>(a); h[7] = halfword<7>(a);
        }
    } else {
        h[0] = halfword<4>(a); h[1] = halfword<5>(a); h[2] = halfword<6>(a); h[3] = halfword<7>(a);
        if constexpr (E == 8) {
            const Philox4 b = noise_words(K, STREAM_ROUNDING, (n0 >> 3) + 1);
            h[4] = halfword<0>(b); h[5] = halfword<1>(b); h[6] = halfword<2>(b); h[7] = halfword<3>(b);
        }
    }
}

// ---- the per-step scalars, read once per thread ----------------------------------------------------

struct Step {
    uint64_t seed;
    PhiloxKeys keys;
    uint32_t stream;  // of u's Gaussian / Rademacher noise (the sample's stream)
    float eps, eta, g;
    RuleParams params;  // the optimiser's (zo_rules.cuh)
    bool bad;
    int q;                // SPSA samples whose estimates the update averages (1: g alone)
    const Scalars* all;   // their blocks (q > 1)
};

__device__ __forceinline__ Step read_step(const Scalars* S) {
    Step s;
    s.seed = S->seed;
    s.keys = philox_keys(s.seed);
    s.stream = S->stream;
    s.eps = S->eps; s.eta = S->eta; s.g = S->g;
    s.params = S->params;
    s.bad = S->bad != 0;
    s.q = 1;
    s.all = S;
    return s;
}

// ---- the direction u of one group of four consecutive global indices ------------------------------

// u for global indices 4·group .. 4·group+3. For DIR_ADAMU, m holds the momentum of those indices and
// zd/zdd receive ż and z̈ (the update needs them).
template <int DIR, bool FAST>
__device__ __forceinline__ void direction4(const Step& S, uint64_t group, const float* m, float* u, float* zd,
                                           float* zdd) {
    if (DIR == DIR_RADEMACHER) {
        float4 r = rademacher4(noise_words(S.keys, S.stream, group));
        u[0] = r.x; u[1] = r.y; u[2] = r.z; u[3] = r.w;
        return;
    }
    float4 n0 = gaussian4<FAST>(noise_words(S.keys, S.stream, group));
    if (DIR == DIR_GAUSSIAN) {
        u[0] = n0.x; u[1] = n0.y; u[2] = n0.z; u[3] = n0.w;
        return;
    }
    float4 n1 = gaussian4<FAST>(noise_words(S.keys, STREAM_N1, group));
    const AdaMuParams& a = S.params.adamu;
    const float sa = a.sa, sb = a.sb, b1 = a.beta1, omb1 = a.omb1;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        zd[j] = __fmul_rn(sa, lane(n0, j));
        zdd[j] = __fadd_rn(m[j], __fmul_rn(sb, lane(n1, j)));
        u[j] = __fadd_rn(__fmul_rn(b1, zd[j]), __fmul_rn(omb1, zdd[j]));
    }
}

}  // namespace zotune::zo
