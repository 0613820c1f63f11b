// Elementwise ops: in-place add, activations (GELU tanh, GELU erf, ReLU; bias + erf GELU also writing the 3xTF32
// split of its float32 output), SiLU-gated product, bias broadcast, the LoRA-adapted weight, and f32 <-> bf16 / f16
// casts. Computed in fp32, stored in the tensor's dtype.
#include "block.cuh"
#include "dtype.cuh"
#include "tf32.cuh"

namespace zotune {
namespace {

template <typename T> __device__ void add_inplace(T* x, const T* y, int64_t n) {
    ZT_GRID_STRIDE(i, n) x[i] = from_float<T>(to_float(x[i]) + to_float(y[i]));
}

// HF gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <typename T> __device__ void gelu_tanh_inplace(T* x, int64_t n) {
    const float k = 0.7978845608028654f;
    ZT_GRID_STRIDE(i, n) {
        float v = to_float(x[i]);
        x[i] = from_float<T>(0.5f * v * (1.f + tanhf(k * (v + 0.044715f * v * v * v))));
    }
}

// HF gelu (BERT, RoBERTa): 0.5 x (1 + erf(x / sqrt(2))), erff as torch's CUDA kernel uses
__device__ __forceinline__ float gelu_erf_f(float v) {
    return 0.5f * v * (1.f + erff(v * 0.7071067811865476f));
}

template <typename T> __device__ void gelu_erf_inplace(T* x, int64_t n) {
    ZT_GRID_STRIDE(i, n) x[i] = from_float<T>(gelu_erf_f(to_float(x[i])));
}

template <typename T> __device__ void relu_inplace(T* x, int64_t n) {
    ZT_GRID_STRIDE(i, n) {
        float v = to_float(x[i]);
        x[i] = from_float<T>(v > 0.f ? v : 0.f);
    }
}

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g))
template <typename T> __device__ void silu_mul(const T* gate, const T* up, T* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) {
        float g = to_float(gate[i]);
        out[i] = from_float<T>(g / (1.f + expf(-g)) * to_float(up[i]));
    }
}

// y[r, c] += bias[c] for a row-major [rows, cols] matrix.
template <typename T> __device__ void add_bias_rows(T* y, const T* bias, int64_t rows, int cols) {
    ZT_GRID_STRIDE(i, rows * cols) y[i] = from_float<T>(to_float(y[i]) + to_float(bias[i % cols]));
}

// 16-byte vector forms: every pointer 16-byte aligned (checked on the host); n need not be a multiple
// of the vector width (a scalar tail finishes it). F(float (&a)[N], ...) transforms one vector.
template <typename T> __device__ void add_inplace_v(T* x, const T* y, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float a[N], b[N];
        load_vec(x + i * N, a);
        load_vec(y + i * N, b);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] += b[e];
        store_vec(x + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) x[n / N * N + j] = from_float<T>(to_float(x[n / N * N + j]) + to_float(y[n / N * N + j]));
}

__device__ __forceinline__ float gelu_tanh_f(float v) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

template <typename T> __device__ void gelu_tanh_inplace_v(T* x, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float a[N];
        load_vec(x + i * N, a);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] = gelu_tanh_f(a[e]);
        store_vec(x + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) x[n / N * N + j] = from_float<T>(gelu_tanh_f(to_float(x[n / N * N + j])));
}

template <typename T> __device__ void gelu_erf_inplace_v(T* x, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float a[N];
        load_vec(x + i * N, a);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] = gelu_erf_f(a[e]);
        store_vec(x + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) x[n / N * N + j] = from_float<T>(gelu_erf_f(to_float(x[n / N * N + j])));
}

template <typename T> __device__ void tanh_inplace(T* x, int64_t n) {
    ZT_GRID_STRIDE(i, n) x[i] = from_float<T>(tanhf(to_float(x[i])));
}

template <typename T> __device__ void tanh_inplace_v(T* x, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float a[N];
        load_vec(x + i * N, a);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] = tanhf(a[e]);
        store_vec(x + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) x[n / N * N + j] = from_float<T>(tanhf(to_float(x[n / N * N + j])));
}

template <typename T> __device__ void relu_inplace_v(T* x, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float a[N];
        load_vec(x + i * N, a);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] = a[e] > 0.f ? a[e] : 0.f;
        store_vec(x + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) {
        float v = to_float(x[n / N * N + j]);
        x[n / N * N + j] = from_float<T>(v > 0.f ? v : 0.f);
    }
}

template <typename T> __device__ void silu_mul_v(const T* gate, const T* up, T* out, int64_t n) {
    constexpr int N = Vec<T>::N;
    ZT_GRID_STRIDE(i, n / N) {
        float g[N], u[N];
        load_vec(gate + i * N, g);
        load_vec(up + i * N, u);
#pragma unroll
        for (int e = 0; e < N; e++) g[e] = g[e] / (1.f + expf(-g[e])) * u[e];
        store_vec(out + i * N, g);
    }
    ZT_GRID_STRIDE(j, n % N) {
        const int64_t k = n / N * N + j;
        float g = to_float(gate[k]);
        out[k] = from_float<T>(g / (1.f + expf(-g)) * to_float(up[k]));
    }
}

// cols a multiple of the vector width, so a vector never straddles two rows.
template <typename T> __device__ void add_bias_rows_v(T* y, const T* bias, int64_t rows, int cols) {
    constexpr int N = Vec<T>::N;
    const int colsV = cols / N;
    ZT_GRID_STRIDE(i, rows * colsV) {
        const int c = (int)(i % colsV) * N;
        float a[N], b[N];
        load_vec(y + i * N, a);
        load_vec(bias + c, b);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] += b[e];
        store_vec(y + i * N, a);
    }
}

// The same where cols is not a multiple of the vector width (a vocabulary-wide MLM decoder: 30522, 50265 columns),
// which left every element to the scalar kernel above and its 64-bit modulo: 16-byte vectors over the flat array
// (y 16-byte aligned, checked on the host), a vector's first column found from its flat index once, the next ones by
// stepping (wrapping into the next row), the bias read per element. The same arithmetic per element as
// add_bias_rows, so the same bits.
template <typename T> __device__ void add_bias_flat_v(T* y, const T* bias, int64_t rows, int cols) {
    constexpr int N = Vec<T>::N;
    const int64_t n = rows * cols;
    ZT_GRID_STRIDE(i, n / N) {
        int c = (int)((i * N) % cols);
        float a[N];
        load_vec(y + i * N, a);
#pragma unroll
        for (int e = 0; e < N; e++) {
            a[e] += to_float(bias[c]);
            c = c + 1 == cols ? 0 : c + 1;
        }
        store_vec(y + i * N, a);
    }
    ZT_GRID_STRIDE(j, n % N) {
        const int64_t f = n / N * N + j;
        y[f] = from_float<T>(to_float(y[f]) + to_float(bias[f % cols]));
    }
}

// Bias fused into what follows a GEMM, rounding exactly as the unfused ops do (y + bias rounded to
// the storage type first, round_rn): y = gelu(y + bias) (tanh or erf) or relu(y + bias) in place, and
// x += y + bias.

// y = act(y + bias) in place, the sum rounded to T first; Act: one of the activations below.
template <typename T, class Act> __device__ void bias_act_rows_v(T* y, const T* bias, int64_t rows, int cols) {
    constexpr int N = Vec<T>::N;
    const int colsV = cols / N;
    ZT_GRID_STRIDE(i, rows * colsV) {
        const int c = (int)(i % colsV) * N;
        float a[N], b[N];
        load_vec(y + i * N, a);
        load_vec(bias + c, b);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] = Act::f(round_rn<T>(a[e] + b[e]));
        store_vec(y + i * N, a);
    }
}

// bias_act_rows_v in float32 (the same code per element: bitwise its y) that also writes the 3xTF32 split of y into
// split [rows, 3·cols] as rows [lo | hi | hi] (tf32_split.cu's X layout): the product that reads y next takes this
// split instead of splitting y again. With storeY 0, y itself is not written back (the split's product is its only
// reader: an MLP's hidden activation inside CudaOps.addGeluErfMlpLayerNorm). cols a multiple of 4, every address
// 16-byte aligned.
template <class Act>
__device__ void bias_act_rows_split_f32(float* y, const float* bias, int64_t rows, int cols, float* split,
                                        int storeY) {
    const int colsV = cols / 4;
    ZT_GRID_STRIDE(i, rows * colsV) {
        const int64_t r = i / colsV;
        const int c = (int)(i % colsV) * 4;
        float a[4], b[4];
        load_vec(y + i * 4, a);
        load_vec(bias + c, b);
#pragma unroll
        for (int e = 0; e < 4; e++) a[e] = Act::f(round_rn<float>(a[e] + b[e]));
        if (storeY) store_vec(y + i * 4, a);
        store_split4(split + r * 3 * (int64_t)cols + c, cols, 0, a);
    }
}

struct GeluTanh {
    static __device__ __forceinline__ float f(float v) { return gelu_tanh_f(v); }
};
struct GeluErf {
    static __device__ __forceinline__ float f(float v) { return gelu_erf_f(v); }
};
struct Relu {
    static __device__ __forceinline__ float f(float v) { return v > 0.f ? v : 0.f; }
};

template <typename T> __device__ void add_bias_residual_v(T* x, const T* y, const T* bias, int64_t rows, int cols) {
    constexpr int N = Vec<T>::N;
    const int colsV = cols / N;
    ZT_GRID_STRIDE(i, rows * colsV) {
        const int c = (int)(i % colsV) * N;
        float a[N], yv[N], b[N];
        load_vec(x + i * N, a);
        load_vec(y + i * N, yv);
        load_vec(bias + c, b);
#pragma unroll
        for (int e = 0; e < N; e++) a[e] += round_rn<T>(yv[e] + b[e]);
        store_vec(x + i * N, a);
    }
}

// LoRA's W' = W + s·B·A (Ops.loraWeight): w and out [rows, cols] of T, b [rows, r] and at (Aᵀ) [cols, r] float32.
// Per element d = sum_j fl(s·b[o, j])·at[i, j] in float32 (fma, j in order; r is small), then fl(w + d) rounded
// once to T: the float32 adapters are never rounded to T before they meet W. Consecutive threads share B's row and
// read consecutive rows of Aᵀ, so one pass costs about one read of W and one write of W'.
template <typename T>
__device__ void lora_weight(const T* w, const float* b, const float* at, float s, T* out, int64_t rows, int cols,
                            int r) {
    ZT_GRID_STRIDE(k, rows * cols) {
        const int64_t o = k / cols;
        const int64_t i = k % cols;
        const float* bo = b + o * r;
        const float* ai = at + i * r;
        float d = 0.f;
        for (int j = 0; j < r; j++) d = fmaf(__fmul_rn(s, bo[j]), ai[j], d);
        out[k] = from_float<T>(__fadd_rn(to_float(w[k]), d));
    }
}

// LoRA's skinny product, first half (Ops.loraDelta): t[n, j] = sum_i x[n, i]·at[i, j] in float32; x [rows, in] of T,
// at (Aᵀ) [in, r] and t [rows, r] float32. One warp per row (grid-stride over rows; every lane of a warp has the same
// row, so the warp stays converged for warp_sum): lanes stride over i, eight rank columns at a time, x widened in
// registers (never copied to float32), then one butterfly sum per column.
template <typename T>
__device__ void lora_down(const T* x, const float* at, float* t, int64_t rows, int in, int r) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; row < rows; row += warps) {
        const T* xr = x + row * in;
        for (int j0 = 0; j0 < r; j0 += 8) {
            const int nj = min(8, r - j0);
            float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
            for (int i = lane; i < in; i += 32) {
                const float xv = to_float(xr[i]);
                const float* ai = at + (int64_t)i * r + j0;
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    if (j < nj) acc[j] = fmaf(xv, ai[j], acc[j]);
                }
            }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const float v = warp_sum(acc[j]);
                if (lane == 0 && j < nj) t[row * r + j0 + j] = v;
            }
        }
    }
}

// Second half: y[n, o] = fl(y[n, o] + d), d = sum_j fl(s·b[o, j])·t[n, j] in float32 (fma, j in order, as
// lora_weight forms its d), rounded once to T; y [rows, out] of T, t [rows, r] and b [out, r] float32.
template <typename T>
__device__ void lora_up(T* y, const float* t, const float* b, float s, int64_t rows, int out, int r) {
    ZT_GRID_STRIDE(k, rows * out) {
        const int64_t n = k / out;
        const int64_t o = k % out;
        const float* bo = b + o * r;
        const float* tn = t + n * r;
        float d = 0.f;
        for (int j = 0; j < r; j++) d = fmaf(__fmul_rn(s, bo[j]), tn[j], d);
        y[k] = from_float<T>(__fadd_rn(to_float(y[k]), d));
    }
}

// 16-byte vector forms of lora_weight and lora_up, bitwise the same results: out[o, i] = fl(w[o, i] + d) with
// d = fma over j in order (from 0.f) of fl(s·x)·y, the one factor of each product scaled by s, as the scalar kernels
// form it (fmaf is symmetric in its two factors, so which operand is the scaled one does not change d). The cost of
// the scalar kernels is not W: each element re-reads r floats of both factors through L1, about 64 bytes for an
// element of 2. Here a block of blockDim.x threads owns a tile of 32 column vectors (one per lane, Vec<T>::N
// columns each) and stages the column factor of the tile in shared memory once (scaled there when ScaleCols); each
// thread then sweeps rows ZT_LORA_ROWS at a time (warps take row groups, grid-stride over gridDim.y), reads its
// factor columns from shared memory once per row group (float4 reads when r % 4 == 0, conflict-free: a lane's block
// is padded to 4 mod 32 floats; else scalar reads with an odd stride), the row factor as warp-wide broadcasts, and
// W / W' as 16-byte vectors. Row o, column i: rowf [rows, r], colf [cols, r], both float32. Host: cols % N == 0, w
// and out 16-byte aligned, 32·(N·r + 4) floats of dynamic shared memory.
#define ZT_LORA_ROWS 4
template <typename T, bool ScaleCols>
__device__ void lora_tile_v(const T* w, const float* rowf, const float* colf, float s, T* out, int64_t rows,
                            int cols, int r) {
    constexpr int N = Vec<T>::N;
    constexpr int R = ZT_LORA_ROWS;
    extern __shared__ float4 lora_tile_sh[];
    float* sh = reinterpret_cast<float*>(lora_tile_sh);
    const int colsV = cols / N;
    const int v0 = blockIdx.x * 32;     // the tile's first column vector
    const int nv = min(32, colsV - v0);  // column vectors in this tile
    const int nr = N * r;                // factor floats per column vector, contiguous in colf
    const bool quad = (r & 3) == 0;
    const int stride = quad ? nr + 4 : nr + 1;
    const float* src = colf + (int64_t)v0 * nr;
    for (int q = threadIdx.x; q < nv * nr; q += blockDim.x) {
        sh[(q / nr) * stride + q % nr] = ScaleCols ? __fmul_rn(s, src[q]) : src[q];
    }
    __syncthreads();  // the only barrier: lanes past the tile may leave now
    const int lane = threadIdx.x & 31;
    if (lane >= nv) return;
    const float* mine = sh + lane * stride;
    const int64_t c = (int64_t)(v0 + lane) * N;
    const int warps = blockDim.x >> 5;
    const int64_t groups = (rows + R - 1) / R;
    for (int64_t g = (int64_t)blockIdx.y * warps + (threadIdx.x >> 5); g < groups; g += (int64_t)gridDim.y * warps) {
        const int64_t o0 = g * R;
        uint4 wv[R];
#pragma unroll
        for (int q = 0; q < R; q++) {  // every load of the group in flight before the arithmetic
            wv[q] = o0 + q < rows ? load16(w + (o0 + q) * cols + c) : make_uint4(0u, 0u, 0u, 0u);
        }
        const float* rf[R];
#pragma unroll
        for (int q = 0; q < R; q++) rf[q] = rowf + min(o0 + q, rows - 1) * r;  // rows past the end: read, unused
        float d[R][N];
#pragma unroll
        for (int q = 0; q < R; q++) {
#pragma unroll
            for (int e = 0; e < N; e++) d[q][e] = 0.f;
        }
        if (quad) {
            for (int j = 0; j < r; j += 4) {
                float x[R][4];
#pragma unroll
                for (int q = 0; q < R; q++) {
#pragma unroll
                    for (int u = 0; u < 4; u++) x[q][u] = ScaleCols ? rf[q][j + u] : __fmul_rn(s, rf[q][j + u]);
                }
#pragma unroll
                for (int e = 0; e < N; e++) {
                    const float4 y = *reinterpret_cast<const float4*>(mine + e * r + j);
#pragma unroll
                    for (int q = 0; q < R; q++) {
                        d[q][e] = fmaf(x[q][0], y.x, d[q][e]);
                        d[q][e] = fmaf(x[q][1], y.y, d[q][e]);
                        d[q][e] = fmaf(x[q][2], y.z, d[q][e]);
                        d[q][e] = fmaf(x[q][3], y.w, d[q][e]);
                    }
                }
            }
        } else {
            for (int j = 0; j < r; j++) {
                float x[R];
#pragma unroll
                for (int q = 0; q < R; q++) x[q] = ScaleCols ? rf[q][j] : __fmul_rn(s, rf[q][j]);
#pragma unroll
                for (int e = 0; e < N; e++) {
                    const float y = mine[e * r + j];
#pragma unroll
                    for (int q = 0; q < R; q++) d[q][e] = fmaf(x[q], y, d[q][e]);
                }
            }
        }
#pragma unroll
        for (int q = 0; q < R; q++) {
            if (o0 + q < rows) {
                float v[N];
                unpack<T>(wv[q], v);
#pragma unroll
                for (int e = 0; e < N; e++) v[e] = __fadd_rn(v[e], d[q][e]);
                store_vec(out + (o0 + q) * cols + c, v);
            }
        }
    }
}
#undef ZT_LORA_ROWS

}  // namespace

extern "C" {
// every family for one storage type T, named <family>_<SUF> (vector forms _v_: 16-byte aligned rows)
#define ZT_ELEMENTWISE(SUF, T)                                                                                     \
    __global__ void bias_gelu_rows_v_##SUF(T* y, const T* b, int64_t rows, int cols) { bias_act_rows_v<T, GeluTanh>(y, b, rows, cols); } \
    __global__ void bias_relu_rows_v_##SUF(T* y, const T* b, int64_t rows, int cols) { bias_act_rows_v<T, Relu>(y, b, rows, cols); } \
    __global__ void bias_gelu_erf_rows_v_##SUF(T* y, const T* b, int64_t rows, int cols) {                        \
        bias_act_rows_v<T, GeluErf>(y, b, rows, cols);                                                             \
    }                                                                                                              \
    __global__ void add_bias_residual_v_##SUF(T* x, const T* y, const T* b, int64_t rows, int cols) {               \
        add_bias_residual_v(x, y, b, rows, cols);                                                                  \
    }                                                                                                              \
    __global__ void add_inplace_v_##SUF(T* x, const T* y, int64_t n) { add_inplace_v(x, y, n); }                  \
    __global__ void gelu_tanh_inplace_v_##SUF(T* x, int64_t n) { gelu_tanh_inplace_v(x, n); }                     \
    __global__ void gelu_erf_inplace_v_##SUF(T* x, int64_t n) { gelu_erf_inplace_v(x, n); }                       \
    __global__ void relu_inplace_v_##SUF(T* x, int64_t n) { relu_inplace_v(x, n); }                               \
    __global__ void tanh_inplace_v_##SUF(T* x, int64_t n) { tanh_inplace_v(x, n); }                               \
    __global__ void silu_mul_v_##SUF(const T* g, const T* u, T* o, int64_t n) { silu_mul_v(g, u, o, n); }         \
    __global__ void add_bias_rows_v_##SUF(T* y, const T* b, int64_t rows, int cols) { add_bias_rows_v(y, b, rows, cols); } \
    __global__ void add_bias_flat_v_##SUF(T* y, const T* b, int64_t rows, int cols) { add_bias_flat_v(y, b, rows, cols); } \
    __global__ void add_inplace_##SUF(T* x, const T* y, int64_t n) { add_inplace(x, y, n); }                      \
    __global__ void gelu_tanh_inplace_##SUF(T* x, int64_t n) { gelu_tanh_inplace(x, n); }                         \
    __global__ void gelu_erf_inplace_##SUF(T* x, int64_t n) { gelu_erf_inplace(x, n); }                           \
    __global__ void relu_inplace_##SUF(T* x, int64_t n) { relu_inplace(x, n); }                                   \
    __global__ void tanh_inplace_##SUF(T* x, int64_t n) { tanh_inplace(x, n); }                                   \
    __global__ void silu_mul_##SUF(const T* g, const T* u, T* o, int64_t n) { silu_mul(g, u, o, n); }             \
    __global__ void add_bias_rows_##SUF(T* y, const T* b, int64_t rows, int cols) { add_bias_rows(y, b, rows, cols); } \
    __global__ void lora_weight_##SUF(const T* w, const float* b, const float* at, float s, T* o, int64_t rows,    \
                                      int cols, int r) {                                                           \
        lora_weight(w, b, at, s, o, rows, cols, r);                                                                \
    }                                                                                                              \
    __global__ void lora_down_##SUF(const T* x, const float* at, float* t, int64_t rows, int in, int r) {          \
        lora_down(x, at, t, rows, in, r);                                                                          \
    }                                                                                                              \
    __global__ void lora_up_##SUF(T* y, const float* t, const float* b, float s, int64_t rows, int out, int r) {   \
        lora_up(y, t, b, s, rows, out, r);                                                                         \
    }                                                                                                              \
    __global__ void lora_weight_v_##SUF(const T* w, const float* b, const float* at, float s, T* o, int64_t rows,  \
                                        int cols, int r) {                                                         \
        lora_tile_v<T, false>(w, b, at, s, o, rows, cols, r);                                                      \
    }                                                                                                              \
    __global__ void lora_up_v_##SUF(T* y, const float* t, const float* b, float s, int64_t rows, int out, int r) { \
        lora_tile_v<T, true>(y, t, b, s, y, rows, out, r);                                                         \
    }
ZT_ELEMENTWISE(f32, float)
ZT_ELEMENTWISE(bf16, bf16)
ZT_ELEMENTWISE(f16, __half)
#undef ZT_ELEMENTWISE

__global__ void cast_f32_to_bf16(const float* in, bf16* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = from_float<bf16>(in[i]);
}
__global__ void cast_bf16_to_f32(const bf16* in, float* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = to_float(in[i]);
}
__global__ void cast_f32_to_f16(const float* in, __half* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = from_float<__half>(in[i]);  // overflow to infinity, as torch's .half()
}
__global__ void cast_f16_to_f32(const __half* in, float* out, int64_t n) {
    ZT_GRID_STRIDE(i, n) out[i] = to_float(in[i]);
}
__global__ void bias_gelu_erf_rows_split_f32(float* y, const float* b, int64_t rows, int cols, float* split,
                                             int storeY) {
    bias_act_rows_split_f32<GeluErf>(y, b, rows, cols, split, storeY);
}

}  // extern "C"

}  // namespace zotune
