// Counter-based noise (ALGORITHMS.md §1): fill a buffer with the values of a range of global element
// indices. Each value is a pure function of (seed, stream, index), so the result does not depend on
// the launch configuration. Used by tests and diagnostics; the fused kernels regenerate noise inline.
#include "zo.cuh"

namespace zotune {

namespace {

// out[k] = noise(seed, stream, start + k) for k < n. dist: 0 Gaussian, 1 Rademacher (as float),
// 2 the raw 32-bit Philox word of the element (written as its bits), 3 the element's 16 stochastic-rounding
// bits (StochasticRounding.bits >>> 16, whatever the stream argument: they are stream 2's).
template <bool FAST>
__device__ void noise_fill(float* out, uint64_t seed, uint32_t stream, int64_t start, int64_t n, int dist) {
    if (n <= 0) return;
    const int64_t g0 = start >> 2;
    const int64_t g1 = (start + n - 1) >> 2;
    for (int64_t g = g0 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; g <= g1;
         g += (int64_t)blockDim.x * gridDim.x) {
        float v[4];
        if (dist == 3) {
            Philox4 w = zo::rounding_words(seed, 4 * (uint64_t)g);
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = __uint_as_float(zo::rounding_bits(w, (int)((4 * g + j) & 7)));
        } else if (dist == 2) {
            Philox4 w = noise_words(seed, stream, (uint64_t)g);
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = __uint_as_float(zo::lane(w, j));
        } else {
            float4 q = dist == 1 ? zo::rademacher4(seed, stream, (uint64_t)g) : zo::gaussian4<FAST>(seed, stream, (uint64_t)g);
            v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int64_t k = 4 * g + j - start;
            if (k >= 0 && k < n) out[k] = v[j];
        }
    }
}

}  // namespace

extern "C" {

// The exact noise and the fast variant (zo.cuh).
__global__ void zo_noise_fill(float* out, uint64_t seed, uint32_t stream, int64_t start, int64_t n, int dist) {
    noise_fill<false>(out, seed, stream, start, n, dist);
}
__global__ void zo_noise_fill_fast(float* out, uint64_t seed, uint32_t stream, int64_t start, int64_t n, int dist) {
    noise_fill<true>(out, seed, stream, start, n, dist);
}

}  // extern "C"

}  // namespace zotune
