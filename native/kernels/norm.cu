// LayerNorm and RMSNorm over the last dimension: one block per row, statistics in fp32.
#include "zt_common.cuh"

namespace {

// y = (x - mean) / sqrt(var + eps) * w + b, biased variance (two passes over the row for accuracy).
template <typename T>
__device__ void layernorm(const T* x, const T* w, const T* b, T* y, int cols, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += zt::to_f32(xr[c]);
    const float mean = zt::block_sum(s, scratch) / cols;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float d = zt::to_f32(xr[c]) - mean;
        ss += d * d;
    }
    const float rstd = rsqrtf(zt::block_sum(ss, scratch) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (zt::to_f32(xr[c]) - mean) * rstd * zt::to_f32(w[c]);
        if (b != nullptr) v += zt::to_f32(b[c]);
        yr[c] = zt::from_f32<T>(v);
    }
}

// y = x / sqrt(mean(x^2) + eps) * w
template <typename T>
__device__ void rmsnorm(const T* x, const T* w, T* y, int cols, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = zt::to_f32(xr[c]);
        ss += v * v;
    }
    const float rms = rsqrtf(zt::block_sum(ss, scratch) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        yr[c] = zt::from_f32<T>(zt::to_f32(xr[c]) * rms * zt::to_f32(w[c]));
}

}  // namespace

extern "C" {
__global__ void layernorm_f32(const float* x, const float* w, const float* b, float* y, int cols, float eps) {
    layernorm(x, w, b, y, cols, eps);
}
__global__ void layernorm_bf16(const bf16* x, const bf16* w, const bf16* b, bf16* y, int cols, float eps) {
    layernorm(x, w, b, y, cols, eps);
}
__global__ void rmsnorm_f32(const float* x, const float* w, float* y, int cols, float eps) { rmsnorm(x, w, y, cols, eps); }
__global__ void rmsnorm_bf16(const bf16* x, const bf16* w, bf16* y, int cols, float eps) { rmsnorm(x, w, y, cols, eps); }
}
