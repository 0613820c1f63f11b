// Perturbation θ ± εu (ALGORITHMS.md §2), u regenerated from (s_t, global index) and optimiser state:
//  - zo_perturb_<param>_<state>: in place over the whole flat parameter buffer in one launch (chunk table),
//    θ = R(θ + c·(ε·u)) with c = +1 or -2 (MeZO's way; R = round to nearest even to the dtype);
//  - zo_shadow_<param>_<state>: one tensor, out = R(θ + sign·(ε·u)) into a scratch buffer, θ untouched.
//  - zo_shadow_segments_<param>_<state>: zo_shadow over a table of segments (source, noise index, destination,
//    length) in one launch: every bias and norm vector of a pass at once.
//  - zo_shadow_split_f32_<state>: rows of a float32 matrix as zo_shadow computes them, written straight as the 3xTF32
//    split of tf32_split.cu (no float32 copy): a shadow weight that a 3xTF32 product reads.
// <state> is the dtype of ZO-AdaMU's momentum m (read for its direction; unused by the other directions).
// ε and the seed come from the device scalar block, so captured graphs replay with new values.
// Each kernel also exists as <name>_fast, with the fast noise variant (zo.cuh; ZoKernels picks one per run).
// The element loop (vector accesses, units of 4 or 8 elements) is zo_sweep.cuh's.
#include "tf32.cuh"
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

// One piece of a tensor for zo_shadow_segments: len elements from src (global noise indices from noise, a multiple of
// 4) to dst, both device addresses. ShadowWeights.Segments writes them, 32 bytes each.
struct Segment {
    int64_t src;
    int64_t noise;
    int64_t dst;
    int32_t len;
    int32_t pad;
};
static_assert(sizeof(Segment) == 32, "segment size");

// zo_shadow (sweep_tensor's units, so bitwise its output) over every segment, one block per segment at a time.
template <typename T, typename S, int DIR, bool FAST>
__device__ void shadow_segments_dir(const Segment* segs, int nsegs, const zo::Step& P, S* m, float sign) {
    constexpr int E = zo::unit_elems<T>();
    for (int si = blockIdx.x; si < nsegs; si += gridDim.x) {
        const Segment sg = segs[si];
        const T* src = reinterpret_cast<const T*>(sg.src);
        T* dst = reinterpret_cast<T*>(sg.dst);
        int done = 0;
        if (zo::aligned<T, S, E>(src, m, m) && ((uintptr_t)dst % (E * sizeof(T))) == 0) {
            const int full = sg.len / E;
            for (int k = threadIdx.x; k < full; k += blockDim.x) {
                zo::unit<T, S, zo::PerturbPass, DIR, FAST, E, true>(src, dst, m, (S*)nullptr, (int64_t)k * E,
                        (uint64_t)(sg.noise + (int64_t)k * E), E, P, sign, false, false);
            }
            done = full * E;
        }
        const int rest = (sg.len - done + 3) >> 2;
        for (int k = threadIdx.x; k < rest; k += blockDim.x) {
            const int e = done + 4 * k;
            zo::unit<T, S, zo::PerturbPass, DIR, FAST, 4, false>(src, dst, m, (S*)nullptr, e, (uint64_t)(sg.noise + e),
                    min(4, sg.len - e), P, sign, false, false);
        }
    }
}

template <typename T, typename S, bool FAST>
__device__ void shadow_segments(const Segment* segs, int nsegs, const zo::Scalars* Sp, const S* m, int dir,
                                float sign) {
    const zo::Step P = zo::read_step(Sp);
    S* mm = const_cast<S*>(m);
    if (dir == zo::DIR_RADEMACHER) {
        shadow_segments_dir<T, float, zo::DIR_RADEMACHER, FAST>(segs, nsegs, P, (float*)nullptr, sign);
    } else if (dir == zo::DIR_ADAMU) {
        shadow_segments_dir<T, S, zo::DIR_ADAMU, FAST>(segs, nsegs, P, mm, sign);
    } else {
        shadow_segments_dir<T, float, zo::DIR_GAUSSIAN, FAST>(segs, nsegs, P, (float*)nullptr, sign);
    }
}

// Rows [0, rows) of a float32 matrix of `cols` columns (cols a multiple of 4) at theta, whose element e has global
// noise index noise + e (noise a multiple of 4): w = θ + sign·(ε·u) with the arithmetic of zo_shadow (PerturbPass),
// then out [rows, 3·cols] = each row as [lo | hi | hi] (loPart 0) or [hi | lo | hi] (loPart 1). Grid-stride over
// groups of 4 elements, one Philox group each.
template <typename S, bool FAST>
__device__ void shadow_split(const float* theta, int rows, int cols, int64_t noise, const zo::Scalars* Sp, const S* m,
                             int dir, float sign, int loPart, float* out) {
    const zo::Step P = zo::read_step(Sp);
    const int c4 = cols >> 2;
    const int64_t n4 = (int64_t)rows * c4;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
        const int64_t r = i / c4;
        const int c = (int)(i - r * c4) << 2;
        const int64_t e = r * cols + c;
        const uint64_t n0 = (uint64_t)(noise + e);
        float th[4], mm[4] = {}, u[4], zd[4], zdd[4];
        load4(theta + e, th);
        if (dir == zo::DIR_RADEMACHER) {
            zo::direction4<zo::DIR_RADEMACHER, FAST>(P, n0 >> 2, mm, u, zd, zdd);
        } else if (dir == zo::DIR_ADAMU) {
            load4(m + n0, mm);
            zo::direction4<zo::DIR_ADAMU, FAST>(P, n0 >> 2, mm, u, zd, zdd);
        } else {
            zo::direction4<zo::DIR_GAUSSIAN, FAST>(P, n0 >> 2, mm, u, zd, zdd);
        }
        float w[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            w[j] = __fadd_rn(th[j], __fmul_rn(sign, __fmul_rn(P.eps, u[j])));
        }
        store_split4(out + r * 3 * (int64_t)cols + c, cols, loPart, w);
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
    }                                                                                                              \
    __global__ void zo_shadow_segments_##tname##_##sname##vsuffix(const Segment* segs, int nsegs,                  \
                                                                  const zo::Scalars* S_, const S* m, int dir,      \
                                                                  float sign) {                                    \
        shadow_segments<T, S, FAST>(segs, nsegs, S_, m, dir, sign);                                                \
    }
#define ZO_PERTURB(tname, T, sname, S)                                                                             \
    ZO_PERTURB_V(tname, T, sname, S, false, )                                                                      \
    ZO_PERTURB_V(tname, T, sname, S, true, _fast)
#define ZO_SHADOW_SPLIT_V(sname, S, FAST, vsuffix)                                                                 \
    __global__ void zo_shadow_split_f32_##sname##vsuffix(const float* theta, int rows, int cols, int64_t noise,      \
                                                         const zo::Scalars* S_, const S* m, int dir, float sign,     \
                                                         int loPart, float* out) {                                   \
        shadow_split<S, FAST>(theta, rows, cols, noise, S_, m, dir, sign, loPart, out);                              \
    }
#define ZO_SHADOW_SPLIT(sname, S)                                                                                  \
    ZO_SHADOW_SPLIT_V(sname, S, false, )                                                                           \
    ZO_SHADOW_SPLIT_V(sname, S, true, _fast)

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

ZO_SHADOW_SPLIT(f32, float)
ZO_SHADOW_SPLIT(bf16, __nv_bfloat16)
ZO_SHADOW_SPLIT(f16, __half)

}  // extern "C"

}  // namespace zotune
