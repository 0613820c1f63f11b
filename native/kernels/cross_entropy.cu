// Token cross-entropy in fp32: per-row loss (logsumexp - logit[target], one online pass), then a fixed-order
// single-block reduction to (loss sum, count) so that the same inputs give bitwise the same loss.
// Negative targets (-1, or HF's -100) are ignored; a target >= V yields NaN so that bad data is visible.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {

// Online softmax state (running max m, sum s of exp(x - m)); an empty state has m = -inf, s = 0.
__device__ __forceinline__ void ce_merge(float& m, float& s, float m2, float s2) {
    const float M = fmaxf(m, m2);
    if (M == -INFINITY) return;
    s = (m == -INFINITY ? 0.f : s * expf(m - M)) + (m2 == -INFINITY ? 0.f : s2 * expf(m2 - M));
    m = M;
}

// Folds n values into (m, s): one rescale per group, one exp per value; a NaN value makes s NaN.
template <int N>
__device__ __forceinline__ void ce_fold(float& m, float& s, const float (&v)[N]) {
    float vm = v[0];
#pragma unroll
    for (int e = 1; e < N; e++) vm = fmaxf(vm, v[e]);
    if (vm > m) {
        s = m == -INFINITY ? 0.f : s * expf(m - vm);
        m = vm;
    }
    if (m == -INFINITY) {  // every value so far is -inf (or NaN): exp(x - m) is not defined
#pragma unroll
        for (int e = 0; e < N; e++) if (v[e] != v[e]) s = v[e];
        return;
    }
#pragma unroll
    for (int e = 0; e < N; e++) s += expf(v[e] - m);
}

// One block per row (rows ld elements apart), one pass over the logits (online logsumexp) with 16-byte loads: a scalar head up
// to the first 16-byte boundary (rows of an odd vocabulary start anywhere), vectors, a scalar tail.
template <typename T>
__device__ void cross_entropy_rows(const T* logits, const int* targets, float* row_loss, int V, int ld) {
    constexpr int N = Vec<T>::N;
    __shared__ float sm_m[32], sm_s[32];
    const int64_t row = blockIdx.x;
    const T* x = logits + row * ld;
    const int tg = targets[row];
    if (tg < 0) {  // uniform across the block: no thread reaches a barrier alone
        if (threadIdx.x == 0) row_loss[row] = 0.f;
        return;
    }
    const int head = min(V, (int)(((16u - ((uint32_t)(uintptr_t)x & 15u)) & 15u) / sizeof(T)));
    const int nv = (V - head) / N;
    const int tail = head + nv * N;
    float m = -INFINITY, s = 0.f;
    for (int c = threadIdx.x; c < head; c += blockDim.x) {
        const float v[1] = {to_float(x[c])};
        ce_fold<1>(m, s, v);
    }
    for (int c = tail + threadIdx.x; c < V; c += blockDim.x) {
        const float v[1] = {to_float(x[c])};
        ce_fold<1>(m, s, v);
    }
    const uint4* xv = reinterpret_cast<const uint4*>(x + head);
    const int bd = blockDim.x;
    int i = threadIdx.x;
    for (; i + 3 * bd < nv; i += 4 * bd) {  // four loads in flight before the first use
        uint4 u[4];
#pragma unroll
        for (int k = 0; k < 4; k++) u[k] = xv[i + k * bd];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float v[N];
            unpack<T>(u[k], v);
            ce_fold<N>(m, s, v);
        }
    }
    for (; i < nv; i += bd) {
        float v[N];
        unpack<T>(xv[i], v);
        ce_fold<N>(m, s, v);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
        const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
        ce_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sm_m[warp] = m;
        sm_s[warp] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float M = sm_m[0], S = sm_s[0];
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) ce_merge(M, S, sm_m[w], sm_s[w]);  // fixed order
        row_loss[row] = tg < V ? logf(S) + M - to_float(x[tg]) : NAN;
    }
}
}  // namespace

extern "C" {
__global__ void cross_entropy_rows_f32(const float* logits, const int* targets, float* row_loss, int V, int ld) {
    cross_entropy_rows(logits, targets, row_loss, V, ld);
}
__global__ void cross_entropy_rows_bf16(const bf16* logits, const int* targets, float* row_loss, int V, int ld) {
    cross_entropy_rows(logits, targets, row_loss, V, ld);
}
__global__ void cross_entropy_rows_f16(const __half* logits, const int* targets, float* row_loss, int V, int ld) {
    cross_entropy_rows(logits, targets, row_loss, V, ld);
}
// One block: out[0] = sum of row losses, out[1] = number of rows with a non-negative target.
__global__ void cross_entropy_reduce(const float* row_loss, const int* targets, float* out, int n) {
    __shared__ float scratch[32];
    float s = 0.f, c = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        s += row_loss[i];
        c += targets[i] >= 0 ? 1.f : 0.f;
    }
    s = block_sum(s, scratch);
    c = block_sum(c, scratch);
    if (threadIdx.x == 0) {
        out[0] = s;
        out[1] = c;
    }
}
}  // extern "C"

}  // namespace zotune
