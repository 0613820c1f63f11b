// Greedy decoding's next tokens where the logits are: each row's argmax, so that a decode step copies B ints back
// instead of B rows of V logits. The lowest index wins a tie and NaN is never chosen (a row of NaN only gives -1),
// as Generator.argmax chooses on the host.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {

// Whether (v, i) beats (bv, bi): larger, or equal at a lower index; NaN never beats anything.
__device__ __forceinline__ bool argmax_better(float v, int i, float bv, int bi) {
    return v == v && (bi < 0 || v > bv || (v == bv && i < bi));
}

// One block per row (rows ld elements apart, V values each); blockDim.x a multiple of 32.
template <typename T>
__device__ void argmax_rows(const T* x, int ld, int V, int* out) {
    __shared__ float sv[32];
    __shared__ int si[32];
    const T* row = x + (int64_t)blockIdx.x * ld;
    float bv = 0.f;
    int bi = -1;
    const int bd = blockDim.x;
    int c = threadIdx.x;
    for (; c + 3 * bd < V; c += 4 * bd) {  // four loads in flight before the first comparison
        float v[4];
#pragma unroll
        for (int k = 0; k < 4; k++) v[k] = to_float(row[c + k * bd]);
#pragma unroll
        for (int k = 0; k < 4; k++)
            if (argmax_better(v[k], c + k * bd, bv, bi)) { bv = v[k]; bi = c + k * bd; }
    }
    for (; c < V; c += bd) {
        const float v = to_float(row[c]);
        if (argmax_better(v, c, bv, bi)) { bv = v; bi = c; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, bv, o);
        const int i = __shfl_xor_sync(0xffffffffu, bi, o);
        if (i >= 0 && argmax_better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++)
            if (si[w] >= 0 && argmax_better(sv[w], si[w], bv, bi)) { bv = sv[w]; bi = si[w]; }
        out[blockIdx.x] = bi;
    }
}

}  // namespace

extern "C" {
__global__ void argmax_rows_f32(const float* x, int ld, int V, int* out) { argmax_rows(x, ld, V, out); }
__global__ void argmax_rows_bf16(const bf16* x, int ld, int V, int* out) { argmax_rows(x, ld, V, out); }
__global__ void argmax_rows_f16(const __half* x, int ld, int V, int* out) { argmax_rows(x, ld, V, out); }
}  // extern "C"

}  // namespace zotune
