// Float32 matrix products on the TF32 tensor cores at float32's accuracy (3xTF32), as MatrixProducts runs them: each
// operand x is split into hi = x rounded to TF32 (10 mantissa bits, to nearest, ties away from zero) and lo = x - hi
// (exact in float32), and X·Wᵀ is taken as Xlo·Whiᵀ + Xhi·Wloᵀ + Xhi·Whiᵀ (Xlo·Wloᵀ, below 2^-22·|X·Wᵀ|, is dropped)
// in ONE cuBLAS TF32 product over a three times longer contraction: this kernel writes each row of k values as the
// 3k values [lo | hi | hi] (X) or [hi | lo | hi] (W), so that the row products pair lo with hi, hi with lo and hi
// with hi. The split is flash_attention.cu's fx_split; the tensor cores read lo's top 19 bits.
#include "tf32.cuh"

namespace zotune {

extern "C" {
// out [rows, 3·cols] dense = each row of x (rows ld floats apart) as its three parts, lo in part loPart (0 or 1), hi in
// the other two. Grid-stride; 16-byte vectors where cols, ld and every address allow.
__global__ void tf32_split_rows_f32(const float* x, int ld, int rows, int cols, int loPart, float* out) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t first = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t out_ld = 3 * (int64_t)cols;
    const bool vec = (cols & 3) == 0 && (ld & 3) == 0 && ((reinterpret_cast<uintptr_t>(x)
            | reinterpret_cast<uintptr_t>(out)) & 15) == 0;
    if (vec) {
        const int c4 = cols >> 2;
        const int64_t n4 = (int64_t)rows * c4;
        for (int64_t i = first; i < n4; i += stride) {
            const int64_t r = i / c4;
            const int c = (int)(i - r * c4) << 2;
            const float4 v = *reinterpret_cast<const float4*>(x + r * ld + c);
            store_split4(out + r * out_ld + c, cols, loPart, &v.x);
        }
    } else {
        const int64_t n = (int64_t)rows * cols;
        for (int64_t i = first; i < n; i += stride) {
            const int64_t r = i / cols;
            const int c = (int)(i - r * cols);
            const float v = x[r * ld + c];
            const float h = tf32_hi(v);
            float* o = out + r * out_ld + c;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                o[(int64_t)p * cols] = p == loPart ? v - h : h;
            }
        }
    }
}
}  // extern "C"

}  // namespace zotune
