// The ZO step's device side after the two forward passes (ALGORITHMS.md §2–§5):
//  - zo_grad: ℓ± = CE sum / count, g = (ℓ+ - ℓ-) / (2ε), all on the device; a NaN/inf loss sets
//    g = 0 and the `bad` flag, which makes the update kernels skip the update (θ and state unchanged);
//  - loss_pair_sum: data-parallel ranks' gathered (value, count) loss pairs added in rank order (double), as the host does;
//  - zo_update_<opt>_<param>_<state>: one fused pass over the whole flat parameter buffer (chunk table):
//    the pending in-place restore θ = R(θ + εu) when asked, then the optimiser's update and state (the estimate
//    averaged over q SPSA samples, one scalar block each, when q > 1), the float32 result written back as is
//    (f32) or by stochastic rounding with the stream-2 bits (bf16, f16);
//    optimiser state (m, v) stored in f32, bf16 or f16 (rounded to nearest even; computed in float32).
// Per-element arithmetic: the optimiser's rule in zo_rules.cuh, which follows org.zotune.zo.optim.{ZoSgd,
// ZoSgdMomentum, ZoAdam, ZoAdaMu} step by step, except ZO-AdaMU's (η·g·u) / sqrt(v + σ), taken with the hardware
// reciprocal square root (~2 ulp).
#include "zo_sweep.cuh"

namespace zotune {
namespace {

// Sp points at q = Sp->samples consecutive blocks (q = 1 for a single-sample rule such as ZO-AdaMU's): the restore
// regenerates the last sample's direction (its block's stream), the estimate averages the q samples, and any
// sample's non-finite flag skips it.
template <typename T, typename S, class Rule, bool FAST>
__device__ void update(T* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* Sp, S* m, S* v, int dir,
                       int restore) {
    const int q = Rule::single_sample ? 1 : max(1, Sp->samples);
    zo::Step P = zo::read_step(Sp + (q - 1));
    P.q = q;
    P.all = Sp;
    for (int k = 0; k < q; k++) P.bad = P.bad || Sp[k].bad != 0;
    if (P.bad && !restore) return;
    const bool rr = restore != 0;
    if constexpr (Rule::adamu_direction) {
        zo::sweep_chunks<T, S, Rule, zo::DIR_ADAMU, FAST>(theta, chunks, nchunks, P, m, v, 0.0f, rr);
    } else {
        if (Rule::rademacher && dir == zo::DIR_RADEMACHER) {
            if (q > 1) {
                zo::sweep_chunks<T, S, Rule, zo::DIR_RADEMACHER, FAST, true>(theta, chunks, nchunks, P, m, v, 0.0f, rr);
            } else {
                zo::sweep_chunks<T, S, Rule, zo::DIR_RADEMACHER, FAST>(theta, chunks, nchunks, P, m, v, 0.0f, rr);
            }
        } else if (q > 1) {
            zo::sweep_chunks<T, S, Rule, zo::DIR_GAUSSIAN, FAST, true>(theta, chunks, nchunks, P, m, v, 0.0f, rr);
        } else {
            zo::sweep_chunks<T, S, Rule, zo::DIR_GAUSSIAN, FAST>(theta, chunks, nchunks, P, m, v, 0.0f, rr);
        }
    }
}

}  // namespace

// zo_update_<opt>_<param dtype>_<state dtype>: one line per optimiser below. A rule without state (ZO-SGD) has
// kernels for f32 state only (S unused).
#define ZO_UPDATE_V(name, RULE, tname, T, sname, S, FAST, vsuffix)                                               \
    __global__ void zo_update_##name##_##tname##_##sname##vsuffix(T* theta, const zo::Chunk* chunks, int nchunks, \
                                                                  const zo::Scalars* S_, S* m, S* v, int dir,     \
                                                                  int restore) {                                  \
        update<T, S, RULE, FAST>(theta, chunks, nchunks, S_, m, v, dir, restore);                                \
    }
// each kernel twice: the exact noise, and _fast with the fast variant (zo.cuh)
#define ZO_UPDATE(name, RULE, tname, T, sname, S)                                                                 \
    ZO_UPDATE_V(name, RULE, tname, T, sname, S, false, )                                                          \
    ZO_UPDATE_V(name, RULE, tname, T, sname, S, true, _fast)
#define ZO_UPDATE_PARAMS(name, RULE, sname, S)                                                                    \
    ZO_UPDATE(name, RULE, f32, float, sname, S)                                                                   \
    ZO_UPDATE(name, RULE, bf16, __nv_bfloat16, sname, S)                                                          \
    ZO_UPDATE(name, RULE, f16, __half, sname, S)
#define ZO_UPDATE_STATELESS(name, RULE) ZO_UPDATE_PARAMS(name, RULE, f32, float)
#define ZO_UPDATE_STATEFUL(name, RULE)                                                                            \
    ZO_UPDATE_PARAMS(name, RULE, f32, float)                                                                      \
    ZO_UPDATE_PARAMS(name, RULE, bf16, __nv_bfloat16)                                                             \
    ZO_UPDATE_PARAMS(name, RULE, f16, __half)

extern "C" {

ZO_UPDATE_STATELESS(sgd, zo::SgdRule)
ZO_UPDATE_STATEFUL(mmt, zo::MmtRule)
ZO_UPDATE_STATEFUL(adam, zo::AdamRule)
ZO_UPDATE_STATEFUL(adamu, zo::AdaMuRule)

// One thread: the projected gradient from the two (sum, count) pairs, as ZoStep does it. Each loss is added to 0
// as ZoStep's micro-batch sum starts from 0: the identity except that a loss of −0 (−F1 or −accuracy at 0) becomes +0.
__global__ void zo_grad(zo::Scalars* S) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float lp = __fadd_rn(0.0f, __fdiv_rn(S->ce_plus[0], S->ce_plus[1]));
    float lm = __fadd_rn(0.0f, __fdiv_rn(S->ce_minus[0], S->ce_minus[1]));
    float g = __fdiv_rn(__fsub_rn(lp, lm), __fmul_rn(2.0f, S->eps));
    bool bad = !isfinite(lp) || !isfinite(lm) || !isfinite(g);
    S->loss_plus = lp;
    S->loss_minus = lm;
    S->g = bad ? 0.0f : g;
    S->bad = bad ? 1 : 0;
    S->step_out = S->step;
}

// Data-parallel ranks' loss pairs (ALGORITHMS.md §10), gathered in rank order ([world][pairs] (value, count)
// pairs): out[i] = ((float)(S / C), 1) with S = 0 + v_0 + v_1 + ... and C likewise, added in double in rank
// order as the host all-reduce (Collective#allReduceSum) and AdditiveObjective#fromSums do, so the same bits on every
// rank and the same as the eager data-parallel step. A rank that did not evaluate a pair sends (0, 0).
__global__ void loss_pair_sum(const float* gathered, int world, int pairs, float* out) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += gridDim.x * blockDim.x) {
        double s = 0.0, c = 0.0;
        for (int r = 0; r < world; r++) {
            const float* p = gathered + 2 * ((int64_t)r * pairs + i);
            s = __dadd_rn(s, (double)p[0]);
            c = __dadd_rn(c, (double)p[1]);
        }
        out[2 * i] = __double2float_rn(__ddiv_rn(s, c));
        out[2 * i + 1] = 1.f;
    }
}

}  // extern "C"

}  // namespace zotune
