// Token cross-entropy in fp32: per-row loss (logsumexp - logit[target]), then a fixed-order
// single-block reduction to (loss sum, count) so that the same inputs give bitwise the same loss.
// Negative targets (-1, or HF's -100) are ignored; a target >= V yields NaN so that bad data is visible.
#include "zt_common.cuh"

namespace {
template <typename T>
__device__ void cross_entropy_rows(const T* logits, const int* targets, float* row_loss, int V) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const T* x = logits + row * V;
    const int tg = targets[row];
    if (tg < 0) {  // uniform across the block: no thread reaches a barrier alone
        if (threadIdx.x == 0) row_loss[row] = 0.f;
        return;
    }
    float mx = -INFINITY;
    for (int c = threadIdx.x; c < V; c += blockDim.x) mx = fmaxf(mx, zt::to_f32(x[c]));
    mx = zt::block_max(mx, scratch);
    float sum = 0.f;
    for (int c = threadIdx.x; c < V; c += blockDim.x) sum += expf(zt::to_f32(x[c]) - mx);
    sum = zt::block_sum(sum, scratch);
    if (threadIdx.x == 0) {
        row_loss[row] = tg < V ? logf(sum) + mx - zt::to_f32(x[tg]) : NAN;
    }
}
}  // namespace

extern "C" {
__global__ void cross_entropy_rows_f32(const float* logits, const int* targets, float* row_loss, int V) {
    cross_entropy_rows(logits, targets, row_loss, V);
}
__global__ void cross_entropy_rows_bf16(const bf16* logits, const int* targets, float* row_loss, int V) {
    cross_entropy_rows(logits, targets, row_loss, V);
}
// One block: out[0] = sum of row losses, out[1] = number of rows with a non-negative target.
__global__ void cross_entropy_reduce(const float* row_loss, const int* targets, float* out, int n) {
    __shared__ float scratch[32];
    float s = 0.f, c = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        s += row_loss[i];
        c += targets[i] >= 0 ? 1.f : 0.f;
    }
    s = zt::block_sum(s, scratch);
    c = zt::block_sum(c, scratch);
    if (threadIdx.x == 0) {
        out[0] = s;
        out[1] = c;
    }
}
}
