// The optimisers' per-element updates on the device (ALGORITHMS.md §3–§5), one rule per optimiser: its named
// per-step parameters (a struct in the scalar block's 32-byte parameter union, written by the host from
// org.zotune.zo.optim.ZoOptimizerConfig.deviceScalars in the struct's field order; ZoScalarsLayoutTest compares
// the field names with DeviceRule.fields()) and `apply`, the update of one element in the reference's float32
// order with explicit _rn intrinsics (org.zotune.zo.optim.{ZoSgd, ZoSgdMomentum, ZoAdam, ZoAdaMu}). zo_sweep.cuh
// loads θ and the state, forms u and the estimate ĝ, calls `apply`, rounds and stores.
//
// To add an optimiser: its params struct and a member of RuleParams, its rule, and one instantiation line in
// native/kernels/zo_update.cu.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace zotune::zo {

// ---- the per-step parameters of each rule (float32 each, host-computed) ---------------------------------

struct SgdParams {
    float lambda;      // weight decay λ (decaying tensors)
};
struct MmtParams {
    float lambda;      // λ, added to the estimate
    float mu;          // momentum μ
};
struct AdamParams {
    float lambda;      // λ (L2 inside the moments)
    float beta1;
    float beta2;
    float omb1;        // 1 - β1
    float omb2;        // 1 - β2
    float c1;          // 1 - β1^t
    float c2;          // 1 - β2^t
    float eps;         // ε_adam
};
struct AdaMuParams {
    float eta_lambda;  // η_t·λ (decoupled weight decay)
    float sa;          // sqrt(α)
    float sb;          // sqrt(1 - α)
    float beta1;
    float omb1;        // 1 - β1
    float beta2;
    float omb2;        // 1 - β2
    float sigma;       // σ inside the square root
};

// Bytes [16, 48) of the scalar block: the parameters of the run's optimiser.
union RuleParams {
    SgdParams sgd;
    MmtParams mmt;
    AdamParams adam;
    AdaMuParams adamu;
    float raw[8];
};
static_assert(sizeof(RuleParams) == 32, "rule parameters: 32 bytes of the input block");
static_assert(sizeof(SgdParams) <= 32 && sizeof(MmtParams) <= 32 && sizeof(AdamParams) <= 32 &&
              sizeof(AdaMuParams) <= 32, "rule parameters fit the union");

// The hardware reciprocal square root (MUFU, ~1 ulp); its input is v + σ >= σ > 0.
__device__ __forceinline__ float rsqrt_approx(float x) {
    float r;
    asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
}

// What a rule sees of one element: θ, the estimate ĝ before weight decay (the average of g_k·u_k over the q
// samples), u, ZO-AdaMU's parts ż and z̈, the step's η_t and g (sample 0's), and whether weight decay applies.
struct Elem {
    float theta, ghat, u, zd, zdd, eta, g;
    bool decays;
};

// A rule: Params and params(): its member of RuleParams; reads_m / writes_m / uses_v: which state vectors it
// reads and writes (m's dtype is the state dtype); single_sample: defines no q-sample estimate (q = 1);
// adamu_direction: u is ZO-AdaMU's (reads m), else Gaussian or (rademacher) Rademacher noise; apply: the new θ
// (float32, before rounding to the parameter dtype), updating m and v in place.

struct SgdRule {
    typedef SgdParams Params;
    static constexpr bool reads_m = false, writes_m = false, uses_v = false, single_sample = false;
    static constexpr bool adamu_direction = false, rademacher = true;
    static __device__ __forceinline__ const Params& params(const RuleParams& r) { return r.sgd; }
    static __device__ __forceinline__ float apply(const Params& p, const Elem& e, float&, float&) {
        float gh = e.ghat;
        if (e.decays) gh = __fadd_rn(gh, __fmul_rn(p.lambda, e.theta));
        return __fsub_rn(e.theta, __fmul_rn(e.eta, gh));
    }
};

struct MmtRule {
    typedef MmtParams Params;
    static constexpr bool reads_m = true, writes_m = true, uses_v = false, single_sample = false;
    static constexpr bool adamu_direction = false, rademacher = false;
    static __device__ __forceinline__ const Params& params(const RuleParams& r) { return r.mmt; }
    static __device__ __forceinline__ float apply(const Params& p, const Elem& e, float& m, float&) {
        float gh = e.ghat;
        if (e.decays) gh = __fadd_rn(gh, __fmul_rn(p.lambda, e.theta));
        const float mn = __fadd_rn(__fmul_rn(p.mu, m), gh);
        m = mn;
        return __fsub_rn(e.theta, __fmul_rn(e.eta, mn));
    }
};

struct AdamRule {
    typedef AdamParams Params;
    static constexpr bool reads_m = true, writes_m = true, uses_v = true, single_sample = false;
    static constexpr bool adamu_direction = false, rademacher = false;
    static __device__ __forceinline__ const Params& params(const RuleParams& r) { return r.adam; }
    static __device__ __forceinline__ float apply(const Params& p, const Elem& e, float& m, float& v) {
        float gh = e.ghat;
        if (e.decays) gh = __fadd_rn(gh, __fmul_rn(p.lambda, e.theta));
        const float mn = __fadd_rn(__fmul_rn(p.beta1, m), __fmul_rn(p.omb1, gh));
        const float vn = __fadd_rn(__fmul_rn(p.beta2, v), __fmul_rn(p.omb2, __fmul_rn(gh, gh)));
        m = mn;
        v = vn;
        const float mh = __fdiv_rn(mn, p.c1);
        const float vh = __fdiv_rn(vn, p.c2);
        return __fsub_rn(e.theta, __fdiv_rn(__fmul_rn(e.eta, mh), __fadd_rn(__fsqrt_rn(vh), p.eps)));
    }
};

struct AdaMuRule {
    typedef AdaMuParams Params;
    static constexpr bool reads_m = false, writes_m = true, uses_v = false, single_sample = true;
    static constexpr bool adamu_direction = true, rademacher = false;
    static __device__ __forceinline__ const Params& params(const RuleParams& r) { return r.adamu; }
    static __device__ __forceinline__ float apply(const Params& p, const Elem& e, float& m, float&) {
        const float etaG = __fmul_rn(e.eta, e.g);
        const float w = __fadd_rn(__fmul_rn(p.beta2, __fmul_rn(e.zd, e.zd)), __fmul_rn(p.omb2, __fmul_rn(e.zdd, e.zdd)));
        // (η·g·u) / sqrt(w + σ) as a product with the hardware reciprocal square root: within ~2 ulp of the
        // reference's IEEE division and square root (ZoAdaMu), ~15 instructions fewer
        float st = __fmul_rn(__fmul_rn(etaG, e.u), rsqrt_approx(__fadd_rn(w, p.sigma)));
        if (e.decays && p.eta_lambda > 0.0f) st = __fadd_rn(st, __fmul_rn(p.eta_lambda, e.theta));
        m = e.u;
        return __fsub_rn(e.theta, st);
    }
};

// Not an update: the perturbation pass θ ± c·εu (zo_perturb.cu), which reads no state of its own.
struct PerturbPass {
    static constexpr bool reads_m = false, writes_m = false, uses_v = false, single_sample = true;
    static constexpr bool adamu_direction = false, rademacher = true;
};

}  // namespace zotune::zo
