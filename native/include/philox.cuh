// Philox4x32-10 (Salmon et al., SC'11, as defined by Random123) and the noise mapping of
// ALGORITHMS.md §1: every random number is a pure function of (seed, stream, element index), so
// any kernel in any launch configuration regenerates the same values. No cuRAND headers on the
// build machines, hence our own device code.
#pragma once
#include <stdint.h>

namespace zotune {

struct Philox4 {
    uint32_t x, y, z, w;
};

__device__ __forceinline__ Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                 uint32_t k0, uint32_t k1) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
        uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
        k0 += W0; k1 += W1;
    }
    return Philox4{c0, c1, c2, c3};
}

// The four words for element group g = i / 4 of (seed, stream): counter (g_lo, g_hi, stream, 0),
// key (seed_lo, seed_hi).
__device__ __forceinline__ Philox4 noise_words(uint64_t seed, uint32_t stream, uint64_t group) {
    return philox4x32_10((uint32_t)group, (uint32_t)(group >> 32), stream, 0u,
                         (uint32_t)seed, (uint32_t)(seed >> 32));
}

// u = ((word >> 8) + 0.5) * 2^-24: exact in float32, strictly inside (0, 1).
__device__ __forceinline__ float word_to_open_unit(uint32_t word) {
    return ((float)(word >> 8) + 0.5f) * 5.9604644775390625e-08f;
}

// Box–Muller in float32: (a, b) -> (r cos 2πu2, r sin 2πu2), r = sqrt(-2 ln u1). Full-precision
// logf/sqrtf; sincospif takes 2·u2 exactly, avoiding the rounding of 2π·u2.
__device__ __forceinline__ float2 box_muller(uint32_t a, uint32_t b) {
    float u1 = word_to_open_unit(a);
    float u2 = word_to_open_unit(b);
    float r = sqrtf(-2.0f * logf(u1));
    float s, c;
    sincospif(2.0f * u2, &s, &c);
    return make_float2(r * c, r * s);
}

// The four standard normals of group g: elements 4g, 4g+1 from words (x, y); 4g+2, 4g+3 from (z, w).
__device__ __forceinline__ float4 gaussian4(uint64_t seed, uint32_t stream, uint64_t group) {
    Philox4 w = noise_words(seed, stream, group);
    float2 n01 = box_muller(w.x, w.y);
    float2 n23 = box_muller(w.z, w.w);
    return make_float4(n01.x, n01.y, n23.x, n23.y);
}

// One standard normal for global element index i (recomputes its group's words: use gaussian4 in
// kernels that process four consecutive elements per thread).
__device__ __forceinline__ float gaussian_at(uint64_t seed, uint32_t stream, uint64_t i) {
    float4 n = gaussian4(seed, stream, i >> 2);
    switch (i & 3) {
        case 0: return n.x;
        case 1: return n.y;
        case 2: return n.z;
        default: return n.w;
    }
}

}  // namespace zotune
