// Elementwise ops: in-place add, activations (GELU tanh, ReLU), SiLU-gated product, bias broadcast,
// and f32 <-> bf16 casts. Computed in fp32, stored in the tensor's dtype.
#include "zt_common.cuh"

namespace {

template <typename T> __device__ void add_inplace(T* x, const T* y, int64_t n) {
    ZT_GRID_STRIDE(i, n) x[i] = zt::from_f32<T>(zt::to_f32(x[i]) + zt::to_f32(y[i]));
}

// HF gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <typename T> __device__ void gelu_tanh_inplace(T* x, int64_t n) {
    const float k = 0.7978845608028654f;
    ZT_GRID_STRIDE(i, n) {
        float v = zt::to_f32(x[i]);
        x[i] = zt::from_f32<T>(0.5f * v * (1.f + tanhf(k * (v + 0.044715f * v * v * v))));
    }
}

template <typename T> __device__ void relu_inplace(T* x, int64_t n) {
    ZT_GRID_STRIDE(i, n) {
        float v = zt::to_f32(x[i]);
        x[i] = zt::from_f32<T>(v > 0.f ? v : 0.f);
    }
}

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g))
template <typename T> __device__ void silu_mul(const T* gate, const T* up, T* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) {
        float g = zt::to_f32(gate[i]);
        out[i] = zt::from_f32<T>(g / (1.f + expf(-g)) * zt::to_f32(up[i]));
    }
}

// y[r, c] += bias[c] for a row-major [rows, cols] matrix.
template <typename T> __device__ void add_bias_rows(T* y, const T* bias, int64_t rows, int cols) {
    ZT_GRID_STRIDE(i, rows * cols) y[i] = zt::from_f32<T>(zt::to_f32(y[i]) + zt::to_f32(bias[i % cols]));
}

}  // namespace

extern "C" {
__global__ void add_inplace_f32(float* x, const float* y, int64_t n) { add_inplace(x, y, n); }
__global__ void add_inplace_bf16(bf16* x, const bf16* y, int64_t n) { add_inplace(x, y, n); }
__global__ void gelu_tanh_inplace_f32(float* x, int64_t n) { gelu_tanh_inplace(x, n); }
__global__ void gelu_tanh_inplace_bf16(bf16* x, int64_t n) { gelu_tanh_inplace(x, n); }
__global__ void relu_inplace_f32(float* x, int64_t n) { relu_inplace(x, n); }
__global__ void relu_inplace_bf16(bf16* x, int64_t n) { relu_inplace(x, n); }
__global__ void silu_mul_f32(const float* g, const float* u, float* o, int64_t n) { silu_mul(g, u, o, n); }
__global__ void silu_mul_bf16(const bf16* g, const bf16* u, bf16* o, int64_t n) { silu_mul(g, u, o, n); }
__global__ void add_bias_rows_f32(float* y, const float* b, int64_t rows, int cols) { add_bias_rows(y, b, rows, cols); }
__global__ void add_bias_rows_bf16(bf16* y, const bf16* b, int64_t rows, int cols) { add_bias_rows(y, b, rows, cols); }

__global__ void cast_f32_to_bf16(const float* in, bf16* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = __float2bfloat16_rn(in[i]);
}
__global__ void cast_bf16_to_f32(const bf16* in, float* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = __bfloat162float(in[i]);
}
}
