// LayerNorm and RMSNorm over the last dimension: one block per row, statistics in fp32.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {

// y = (x - mean) / sqrt(var + eps) * w + b, biased variance (two passes over the row for accuracy).
template <typename T>
__device__ void layernorm(const T* x, const T* w, const T* b, T* y, int cols, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += to_float(xr[c]);
    const float mean = block_sum(s, scratch) / cols;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float d = to_float(xr[c]) - mean;
        ss += d * d;
    }
    const float rstd = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (to_float(xr[c]) - mean) * rstd * to_float(w[c]);
        if (b != nullptr) v += to_float(b[c]);
        yr[c] = from_float<T>(v);
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
        float v = to_float(xr[c]);
        ss += v * v;
    }
    const float rms = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        yr[c] = from_float<T>(to_float(xr[c]) * rms * to_float(w[c]));
}

// Vector forms: cols a multiple of the vector width, at most 4 vectors per thread held in registers
// (blockDim.x >= cols / (4 * VEC)), so x is read once; rows and parameters 16-byte aligned.
constexpr int NORM_NV = 4;

// A row of x into registers. With RES (the residual add fused in front of the norm, after a GEMM):
// x += round(y + ybias) first (ybias may be null) and the rounded sum is written back to x, exactly as
// the separate bias / residual kernels round it, so the norm sees the same values as the unfused ops.
template <typename T, bool RES>
__device__ __forceinline__ void norm_load_row(T* xr, const T* yr, const T* ybias, float (&v)[NORM_NV][Vec<T>::N],
                                              int colsV) {
    constexpr int N = Vec<T>::N;
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        const int c = threadIdx.x + j * blockDim.x;
        if (c < colsV) {
            load_vec(xr + c * N, v[j]);
            if constexpr (RES) {
                float yv[N];
                load_vec(yr + c * N, yv);
                if (ybias != nullptr) {
                    float bv[N];
                    load_vec(ybias + c * N, bv);
#pragma unroll
                    for (int e = 0; e < N; e++) yv[e] = round_rn<T>(yv[e] + bv[e]);
                }
#pragma unroll
                for (int e = 0; e < N; e++) v[j][e] = round_rn<T>(v[j][e] + yv[e]);
                store_vec(xr + c * N, v[j]);
            }
        }
    }
}

template <typename T, bool RES>
__device__ void layernorm_v(T* x, const T* y, const T* ybias, const T* w, const T* b, T* out, int cols, float eps) {
    constexpr int N = Vec<T>::N;
    __shared__ float scratch[32];
    const int colsV = cols / N;
    const int64_t row = blockIdx.x;
    float v[NORM_NV][N];
    norm_load_row<T, RES>(x + row * cols, RES ? y + row * cols : nullptr, ybias, v, colsV);
    T* yr = out + row * cols;
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        if (threadIdx.x + j * blockDim.x < colsV) {
#pragma unroll
            for (int e = 0; e < N; e++) s += v[j][e];
        }
    }
    const float mean = block_sum(s, scratch) / cols;
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        if (threadIdx.x + j * blockDim.x < colsV) {
#pragma unroll
            for (int e = 0; e < N; e++) {
                const float d = v[j][e] - mean;
                ss += d * d;
            }
        }
    }
    const float rstd = rsqrtf(block_sum(ss, scratch) / cols + eps);
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        const int c = threadIdx.x + j * blockDim.x;
        if (c < colsV) {
            float wv[N], bv[N];
            load_vec(w + c * N, wv);
            if (b != nullptr) {
                load_vec(b + c * N, bv);
            } else {
#pragma unroll
                for (int e = 0; e < N; e++) bv[e] = 0.f;
            }
#pragma unroll
            for (int e = 0; e < N; e++) v[j][e] = (v[j][e] - mean) * rstd * wv[e] + bv[e];
            store_vec(yr + c * N, v[j]);
        }
    }
}

template <typename T, bool RES>
__device__ void rmsnorm_v(T* x, const T* y, const T* ybias, const T* w, T* out, int cols, float eps) {
    constexpr int N = Vec<T>::N;
    __shared__ float scratch[32];
    const int colsV = cols / N;
    const int64_t row = blockIdx.x;
    float v[NORM_NV][N];
    norm_load_row<T, RES>(x + row * cols, RES ? y + row * cols : nullptr, ybias, v, colsV);
    T* yr = out + row * cols;
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        if (threadIdx.x + j * blockDim.x < colsV) {
#pragma unroll
            for (int e = 0; e < N; e++) ss += v[j][e] * v[j][e];
        }
    }
    const float rms = rsqrtf(block_sum(ss, scratch) / cols + eps);
#pragma unroll
    for (int j = 0; j < NORM_NV; j++) {
        const int c = threadIdx.x + j * blockDim.x;
        if (c < colsV) {
            float wv[N];
            load_vec(w + c * N, wv);
#pragma unroll
            for (int e = 0; e < N; e++) v[j][e] = v[j][e] * rms * wv[e];
            store_vec(yr + c * N, v[j]);
        }
    }
}

}  // namespace

extern "C" {
#define ZT_NORM_V(SUF, T)                                                                                          \
    __global__ void layernorm_v_##SUF(const T* x, const T* w, const T* b, T* y, int cols, float eps) {           \
        layernorm_v<T, false>(const_cast<T*>(x), nullptr, nullptr, w, b, y, cols, eps);                         \
    }                                                                                                            \
    __global__ void rmsnorm_v_##SUF(const T* x, const T* w, T* y, int cols, float eps) {                         \
        rmsnorm_v<T, false>(const_cast<T*>(x), nullptr, nullptr, w, y, cols, eps);                              \
    }                                                                                                            \
    /* x += y + ybias (ybias may be null), then out = LayerNorm(x) / RMSNorm(x): one pass over the rows */      \
    __global__ void add_layernorm_v_##SUF(T* x, const T* y, const T* ybias, const T* w, const T* b, T* out,       \
                                          int cols, float eps) {                                                 \
        layernorm_v<T, true>(x, y, ybias, w, b, out, cols, eps);                                                 \
    }                                                                                                            \
    __global__ void add_rmsnorm_v_##SUF(T* x, const T* y, const T* ybias, const T* w, T* out, int cols,           \
                                        float eps) {                                                             \
        rmsnorm_v<T, true>(x, y, ybias, w, out, cols, eps);                                                      \
    }
ZT_NORM_V(f32, float)
ZT_NORM_V(bf16, bf16)
ZT_NORM_V(f16, __half)
#undef ZT_NORM_V

__global__ void layernorm_f32(const float* x, const float* w, const float* b, float* y, int cols, float eps) {
    layernorm(x, w, b, y, cols, eps);
}
__global__ void layernorm_bf16(const bf16* x, const bf16* w, const bf16* b, bf16* y, int cols, float eps) {
    layernorm(x, w, b, y, cols, eps);
}
__global__ void layernorm_f16(const __half* x, const __half* w, const __half* b, __half* y, int cols, float eps) {
    layernorm(x, w, b, y, cols, eps);
}
__global__ void rmsnorm_f32(const float* x, const float* w, float* y, int cols, float eps) { rmsnorm(x, w, y, cols, eps); }
__global__ void rmsnorm_bf16(const bf16* x, const bf16* w, bf16* y, int cols, float eps) { rmsnorm(x, w, y, cols, eps); }
__global__ void rmsnorm_f16(const __half* x, const __half* w, __half* y, int cols, float eps) { rmsnorm(x, w, y, cols, eps); }
}  // extern "C"

}  // namespace zotune
