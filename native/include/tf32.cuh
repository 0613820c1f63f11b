// The TF32 split of the 3xTF32 float32 products (tf32_split.cu, and zo_perturb.cu's shadow split): hi = x rounded to
// TF32 (10 mantissa bits, to nearest, ties away from zero), lo = x - hi, exact in float32.
#pragma once
#include <cstdint>

namespace zotune {

__device__ __forceinline__ float tf32_hi(float x) {
    return __uint_as_float((__float_as_uint(x) + 0x1000u) & 0xffffe000u);
}

}  // namespace zotune
