// The ZO step's device side after the two forward passes (ALGORITHMS.md §2–§5):
//  - zo_grad: ℓ± = CE sum / count, g = (ℓ+ - ℓ-) / (2ε), all on the device; a NaN/inf loss sets
//    g = 0 and the `bad` flag, which makes the update kernels skip the update (θ and state unchanged);
//  - zo_update_<opt>_<dtype>: one fused pass over the whole flat parameter buffer (chunk table):
//    the pending in-place restore θ = R(θ + εu) when asked, then the optimiser's update and state, the
//    float32 result written back as is (f32) or by stochastic rounding with the stream-2 words (bf16).
// Per-element arithmetic follows org.zotune.zo.optim.{ZoSgd, ZoSgdMomentum, ZoAdam, ZoAdaMu} step by step.
#include "zo.cuh"

namespace {

enum Opt { SGD = 0, MMT = 1, ADAM = 2, ADAMU = 3 };

template <typename T, int OPT>
__device__ void update(T* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* Sp, float* m, float* v,
                       int dir, int restore) {
    const zo::Scalars& S = *Sp;
    const bool bad = S.bad != 0;
    if (bad && !restore) return;
    const float eps = S.eps, eta = S.eta, g = S.g, lam = S.lambda;
    for (int ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
        const zo::Chunk ch = chunks[ci];
        const bool decays = (ch.flags & 1) != 0;
        const int groups = (ch.len + 3) >> 2;
        for (int gi = threadIdx.x; gi < groups; gi += blockDim.x) {
            const int count = min(4, ch.len - 4 * gi);
            const int64_t idx = ch.noise + 4 * gi;
            float u[4], zd[4], zdd[4];
            zo::direction4(OPT == ADAMU ? (int)zo::DIR_ADAMU : dir, S, (uint64_t)idx >> 2,
                           OPT == ADAMU ? m + idx : nullptr, count, u, zd, zdd);
            zotune::Philox4 rw = {0u, 0u, 0u, 0u};
            if (zo::IsBf16<T>::value && !bad) {
                rw = zotune::noise_words(S.seed, zo::STREAM_ROUNDING, (uint64_t)idx >> 2);
            }
            const int64_t base = ch.mem + 4 * gi;
            for (int j = 0; j < count; j++) {
                const int64_t e = base + j;
                const int64_t s = idx + j;
                float th = zo::load(theta, e);
                if (restore) {
                    th = zo::round_rn(__fadd_rn(th, __fmul_rn(eps, u[j])), theta);
                }
                if (bad) {
                    zo::store_rn(theta, e, th);
                    continue;
                }
                float out;
                if (OPT == ADAMU) {
                    const float b2 = S.a4, omb2 = S.a5, sigma = S.a6;
                    float etaG = __fmul_rn(eta, g);
                    float vv = __fadd_rn(__fmul_rn(b2, __fmul_rn(zd[j], zd[j])),
                                         __fmul_rn(omb2, __fmul_rn(zdd[j], zdd[j])));
                    float st = __fdiv_rn(__fmul_rn(etaG, u[j]), __fsqrt_rn(__fadd_rn(vv, sigma)));
                    if (decays && lam > 0.0f) st = __fadd_rn(st, __fmul_rn(lam, th));  // lam = η_t·λ here
                    out = __fsub_rn(th, st);
                    m[s] = u[j];
                } else {
                    float gh = __fadd_rn(0.0f, __fmul_rn(g, u[j]));  // the reference's 0 + g·u (q = 1)
                    if (decays) gh = __fadd_rn(gh, __fmul_rn(lam, th));
                    if (OPT == SGD) {
                        out = __fsub_rn(th, __fmul_rn(eta, gh));
                    } else if (OPT == MMT) {
                        float mm = __fadd_rn(__fmul_rn(S.a0, m[s]), gh);
                        m[s] = mm;
                        out = __fsub_rn(th, __fmul_rn(eta, mm));
                    } else {
                        const float b1 = S.a0, b2 = S.a1, omb1 = S.a2, omb2 = S.a3, c1 = S.a4, c2 = S.a5, ea = S.a6;
                        float mm = __fadd_rn(__fmul_rn(b1, m[s]), __fmul_rn(omb1, gh));
                        float vv = __fadd_rn(__fmul_rn(b2, v[s]), __fmul_rn(omb2, __fmul_rn(gh, gh)));
                        m[s] = mm;
                        v[s] = vv;
                        float mh = __fdiv_rn(mm, c1);
                        float vh = __fdiv_rn(vv, c2);
                        out = __fsub_rn(th, __fdiv_rn(__fmul_rn(eta, mh), __fadd_rn(__fsqrt_rn(vh), ea)));
                    }
                }
                zo::store_update(theta, e, out, zo::lane(rw, j));
            }
        }
    }
}

}  // namespace

#define ZO_UPDATE(name, OPT)                                                                                      \
    __global__ void zo_update_##name##_f32(float* theta, const zo::Chunk* chunks, int nchunks,                   \
                                           const zo::Scalars* S, float* m, float* v, int dir, int restore) {     \
        update<float, OPT>(theta, chunks, nchunks, S, m, v, dir, restore);                                       \
    }                                                                                                             \
    __global__ void zo_update_##name##_bf16(__nv_bfloat16* theta, const zo::Chunk* chunks, int nchunks,         \
                                            const zo::Scalars* S, float* m, float* v, int dir, int restore) {    \
        update<__nv_bfloat16, OPT>(theta, chunks, nchunks, S, m, v, dir, restore);                               \
    }

extern "C" {

ZO_UPDATE(sgd, SGD)
ZO_UPDATE(mmt, MMT)
ZO_UPDATE(adam, ADAM)
ZO_UPDATE(adamu, ADAMU)

// One thread: the projected gradient from the two cross-entropy (sum, count) pairs, as ZoStep does it.
__global__ void zo_grad(zo::Scalars* S) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float lp = __fdiv_rn(S->ce_plus[0], S->ce_plus[1]);
    float lm = __fdiv_rn(S->ce_minus[0], S->ce_minus[1]);
    float g = __fdiv_rn(__fsub_rn(lp, lm), __fmul_rn(2.0f, S->eps));
    bool bad = !isfinite(lp) || !isfinite(lm) || !isfinite(g);
    S->loss_plus = lp;
    S->loss_minus = lm;
    S->g = bad ? 0.0f : g;
    S->bad = bad ? 1 : 0;
    S->step_out = S->step;
}

}  // extern "C"
