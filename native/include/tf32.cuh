// The TF32 split of the 3xTF32 float32 products (tf32_split.cu, and zo_perturb.cu's shadow split): hi = x rounded to
// TF32 (10 mantissa bits, to nearest, ties away from zero), lo = x - hi, exact in float32.
#pragma once
#include <cstdint>

namespace zotune {

__device__ __forceinline__ float tf32_hi(float x) {
    return __uint_as_float((__float_as_uint(x) + 0x1000u) & 0xffffe000u);
}

// Four consecutive values w of a row as their parts in a split row of 3·cols: o[0..3], o[cols..], o[2·cols..], lo in
// part loPart (0: X's [lo | hi | hi], 1: W's [hi | lo | hi]) and hi in the other two. o 16-byte aligned, cols a
// multiple of 4.
__device__ __forceinline__ void store_split4(float* o, int64_t cols, int loPart, const float w[4]) {
    const float4 h = make_float4(tf32_hi(w[0]), tf32_hi(w[1]), tf32_hi(w[2]), tf32_hi(w[3]));
    // lo = w - hi is exact; _rn keeps the compiler from contracting it with anything
    const float4 l = make_float4(__fsub_rn(w[0], h.x), __fsub_rn(w[1], h.y), __fsub_rn(w[2], h.z),
                                 __fsub_rn(w[3], h.w));
#pragma unroll
    for (int p = 0; p < 3; p++) {
        *reinterpret_cast<float4*>(o + p * cols) = p == loPart ? l : h;
    }
}

}  // namespace zotune
