// Philox4x32-10 (Salmon et al., SC'11, as defined by Random123) keyed as ALGORITHMS.md §1 says:
// every random word is a pure function of (seed, stream, element index), so any kernel in any launch
// configuration regenerates the same values. No cuRAND headers on the build machines, hence our own
// device code. The normal/Rademacher mappings live in zo.cuh.
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

// The key schedule of one seed (round r uses k + r·W), computed once per thread and kept in registers
// by the element loops: Philox's per-round key additions then cost nothing per call.
struct PhiloxKeys {
    uint32_t k0[10], k1[10];
};

__device__ __forceinline__ PhiloxKeys philox_keys(uint64_t seed) {
    PhiloxKeys K;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        K.k0[r] = k0;
        K.k1[r] = k1;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return K;
}

__device__ __forceinline__ Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                                 const PhiloxKeys& K) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
        uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
        uint32_t n0 = hi1 ^ c1 ^ K.k0[round];
        uint32_t n2 = hi0 ^ c3 ^ K.k1[round];
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    }
    return Philox4{c0, c1, c2, c3};
}

__device__ __forceinline__ Philox4 noise_words(const PhiloxKeys& K, uint32_t stream, uint64_t group) {
    return philox4x32_10((uint32_t)group, (uint32_t)(group >> 32), stream, 0u, K);
}

// The four words for element group g = i / 4 of (seed, stream): counter (g_lo, g_hi, stream, 0),
// key (seed_lo, seed_hi).
__device__ __forceinline__ Philox4 noise_words(uint64_t seed, uint32_t stream, uint64_t group) {
    return philox4x32_10((uint32_t)group, (uint32_t)(group >> 32), stream, 0u,
                         (uint32_t)seed, (uint32_t)(seed >> 32));
}

}  // namespace zotune
