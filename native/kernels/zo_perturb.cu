// Perturbation θ ± εu (ALGORITHMS.md §2), u regenerated from (s_t, global index) and optimiser state:
//  - zo_perturb_*: in place over the whole flat parameter buffer in one launch (chunk table),
//    θ = R(θ + c·(ε·u)) with c = +1 or -2 (MeZO's way; R = round to nearest even to the dtype);
//  - zo_shadow_*: one tensor, out = R(θ + sign·(ε·u)) into a scratch buffer, θ untouched.
// ε and the seed come from the device scalar block, so captured graphs replay with new values.
#include "zo.cuh"

namespace {

template <typename T>
__device__ void perturb_inplace(T* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* Sp,
                                const float* m, int dir, float c) {
    const zo::Scalars& S = *Sp;
    for (int ci = blockIdx.x; ci < nchunks; ci += gridDim.x) {
        const zo::Chunk ch = chunks[ci];
        const int groups = (ch.len + 3) >> 2;
        for (int gi = threadIdx.x; gi < groups; gi += blockDim.x) {
            const int count = min(4, ch.len - 4 * gi);
            const int64_t idx = ch.noise + 4 * gi;  // global index of lane 0 (a multiple of 4)
            float u[4], zd[4], zdd[4];
            zo::direction4(dir, S, (uint64_t)idx >> 2, m == nullptr ? nullptr : m + idx, count, u, zd, zdd);
            const int64_t base = ch.mem + 4 * gi;
            for (int j = 0; j < count; j++) {
                float d = __fmul_rn(S.eps, u[j]);
                zo::store_rn(theta, base + j, __fadd_rn(zo::load(theta, base + j), __fmul_rn(c, d)));
            }
        }
    }
}

template <typename T>
__device__ void shadow(const T* theta, T* out, int64_t n, int64_t noise, const zo::Scalars* Sp, const float* m,
                       int dir, float sign) {
    const zo::Scalars& S = *Sp;
    const int64_t groups = (n + 3) >> 2;
    for (int64_t gi = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; gi < groups;
         gi += (int64_t)blockDim.x * gridDim.x) {
        const int count = (int)min((int64_t)4, n - 4 * gi);
        const int64_t idx = noise + 4 * gi;
        float u[4], zd[4], zdd[4];
        zo::direction4(dir, S, (uint64_t)idx >> 2, m == nullptr ? nullptr : m + idx, count, u, zd, zdd);
        for (int j = 0; j < count; j++) {
            float d = __fmul_rn(S.eps, u[j]);
            // sign·d is exact (±1), and a + (-d) is a - d in IEEE arithmetic
            zo::store_rn(out, 4 * gi + j, __fadd_rn(zo::load(theta, 4 * gi + j), __fmul_rn(sign, d)));
        }
    }
}

}  // namespace

extern "C" {

__global__ void zo_perturb_f32(float* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* S,
                               const float* m, int dir, float c) {
    perturb_inplace(theta, chunks, nchunks, S, m, dir, c);
}
__global__ void zo_perturb_bf16(__nv_bfloat16* theta, const zo::Chunk* chunks, int nchunks, const zo::Scalars* S,
                                const float* m, int dir, float c) {
    perturb_inplace(theta, chunks, nchunks, S, m, dir, c);
}

__global__ void zo_shadow_f32(const float* theta, float* out, int64_t n, int64_t noise, const zo::Scalars* S,
                              const float* m, int dir, float sign) {
    shadow(theta, out, n, noise, S, m, dir, sign);
}
__global__ void zo_shadow_bf16(const __nv_bfloat16* theta, __nv_bfloat16* out, int64_t n, int64_t noise, const zo::Scalars* S,
                               const float* m, int dir, float sign) {
    shadow(theta, out, n, noise, S, m, dir, sign);
}

}  // extern "C"
