// Storage types and their conversions, for every kernel: values are stored as f32, bf16 or f16 and computed in
// float32. Rounding to a 16-bit type is to nearest even (PyTorch's .to(torch.bfloat16) / .half(); f16 overflows
// to infinity). Vector forms move 16 bytes (4 f32 or 8 bf16/f16: Vec<T>::N) or 4 elements (load4/store4) in one
// access; callers guarantee the alignment (the host picks vector kernels only for aligned addresses and widths).
// One namespace for native/: zotune (this file, block.cuh, philox.cuh, and every kernel file: its own helpers in
// an unnamed namespace, then its extern "C" kernels), and zotune::zo for the zeroth-order core (zo*.cuh).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace zotune {

typedef __nv_bfloat16 bf16;

// ---- one value ----------------------------------------------------------------------------------------------

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// R: round to the storage type T, nearest even (DType.round), kept as a float.
template <typename T> __device__ __forceinline__ float round_rn(float x) { return to_float(from_float<T>(x)); }

template <typename T> struct IsF32 { static constexpr bool value = false; };
template <> struct IsF32<float> { static constexpr bool value = true; };

// ---- two 16-bit values in 32 bits (lo in the low half) ---------------------------------------------------------

// The packed type of H (bf16 or f16) and its float2 conversions, each half rounded to nearest even.
template <typename H> struct Packed2;
template <> struct Packed2<__nv_bfloat16> {
    typedef __nv_bfloat162 type;
    static __device__ __forceinline__ float2 to(type v) { return __bfloat1622float2(v); }
    static __device__ __forceinline__ type from(float a, float b) { return __floats2bfloat162_rn(a, b); }
};
template <> struct Packed2<__half> {
    typedef __half2 type;
    static __device__ __forceinline__ float2 to(type v) { return __half22float2(v); }
    static __device__ __forceinline__ type from(float a, float b) { return __floats2half2_rn(a, b); }
};

// The same pair as its 32 bits.
template <typename H> __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    typename Packed2<H>::type v = Packed2<H>::from(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// ---- 16-byte vectors: Vec<T>::N values of T ----------------------------------------------------------------------

template <typename T> struct Vec { static constexpr int N = 16 / (int)sizeof(T); };

// unpack<T>: one 16-byte vector of T to floats; pack<T>: floats to T (nearest even) in 16 bytes.
template <typename T> __device__ __forceinline__ void unpack(const uint4& u, float (&v)[Vec<T>::N]);
template <typename T> __device__ __forceinline__ uint4 pack(const float (&v)[Vec<T>::N]);

template <> __device__ __forceinline__ void unpack<float>(const uint4& u, float (&v)[4]) {
    v[0] = __uint_as_float(u.x); v[1] = __uint_as_float(u.y);
    v[2] = __uint_as_float(u.z); v[3] = __uint_as_float(u.w);
}
template <typename H> __device__ __forceinline__ void unpack16(const uint4& u, float (&v)[8]) {
    const typename Packed2<H>::type* h = reinterpret_cast<const typename Packed2<H>::type*>(&u);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = Packed2<H>::to(h[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}
template <> __device__ __forceinline__ void unpack<__nv_bfloat16>(const uint4& u, float (&v)[8]) {
    unpack16<__nv_bfloat16>(u, v);
}
template <> __device__ __forceinline__ void unpack<__half>(const uint4& u, float (&v)[8]) { unpack16<__half>(u, v); }

template <> __device__ __forceinline__ uint4 pack<float>(const float (&v)[4]) {
    return make_uint4(__float_as_uint(v[0]), __float_as_uint(v[1]), __float_as_uint(v[2]), __float_as_uint(v[3]));
}
template <typename H> __device__ __forceinline__ uint4 pack16(const float (&v)[8]) {
    return make_uint4(pack2<H>(v[0], v[1]), pack2<H>(v[2], v[3]), pack2<H>(v[4], v[5]), pack2<H>(v[6], v[7]));
}
template <> __device__ __forceinline__ uint4 pack<__nv_bfloat16>(const float (&v)[8]) { return pack16<__nv_bfloat16>(v); }
template <> __device__ __forceinline__ uint4 pack<__half>(const float (&v)[8]) { return pack16<__half>(v); }

// One 16-byte load into registers.
template <typename T> __device__ __forceinline__ uint4 load16(const T* p) { return *reinterpret_cast<const uint4*>(p); }
// Unpacks straight from memory: for bf16 / f16 nvcc splits this into 4-byte loads (unpack reads the halves
// through the reference), unlike unpack<T>(load16(p), v), one 16-byte load. The forward kernels use this form
// and the ZO sweep the other; each compiles as it did before the two were merged into this header.
template <typename T> __device__ __forceinline__ void load_vec(const T* p, float (&v)[Vec<T>::N]) {
    unpack<T>(*reinterpret_cast<const uint4*>(p), v);
}
template <typename T> __device__ __forceinline__ void store_vec(T* p, const float (&v)[Vec<T>::N]) {
    *reinterpret_cast<uint4*>(p) = pack<T>(v);
}
template <typename T> __device__ __forceinline__ void copy_vec(T* dst, const T* src) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}

// ---- 4 consecutive values (16 bytes for f32, 8 for bf16 / f16, aligned to that) ----------------------------------

__device__ __forceinline__ void load4(const float* p, float* o) {
    float4 q = *reinterpret_cast<const float4*>(p);
    o[0] = q.x; o[1] = q.y; o[2] = q.z; o[3] = q.w;
}
template <typename H> __device__ __forceinline__ void load4(const H* p, float* o) {
    uint2 q = *reinterpret_cast<const uint2*>(p);
    const H* h = reinterpret_cast<const H*>(&q);
#pragma unroll
    for (int j = 0; j < 4; j++) o[j] = to_float(h[j]);
}
__device__ __forceinline__ void store4(float* p, const float* o) {
    *reinterpret_cast<float4*>(p) = make_float4(o[0], o[1], o[2], o[3]);
}
template <typename H> __device__ __forceinline__ void store4(H* p, const float* o) {
    uint2 q;
    H* h = reinterpret_cast<H*>(&q);
#pragma unroll
    for (int j = 0; j < 4; j++) h[j] = from_float<H>(o[j]);
    *reinterpret_cast<uint2*>(p) = q;
}

}  // namespace zotune
