// Shared by the bring-up harnesses in native/dev (flash_hopper_check.cu, flash_x3_check.cu): the CUDA error check,
// their deterministic uniform numbers and the key-padding masks they run with.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(x)                                                                                     \
    do {                                                                                          \
        cudaError_t e = (x);                                                                      \
        if (e != cudaSuccess) {                                                                   \
            std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); \
            std::exit(1);                                                                         \
        }                                                                                         \
    } while (0)

// xorshift64: uniform in [-1, 1), the same sequence on every run
struct CheckRandom {
    uint64_t st = 0x9E3779B97F4A7C15ull;
    float next() {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        return (float)((st >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
    }
};

// [B, Tn] key flags: sequence b has its last (b·53) mod (Tn/2 + 1) keys padded, every third sequence from the second
// also keys 3, 10, 17, ... masked, and the third sequence is padding only (rows with no visible key)
inline std::vector<int> check_masks(int B, int Tn) {
    std::vector<int> hm((size_t)B * Tn);
    for (int b = 0; b < B; b++) {
        const int valid = Tn - (b * 53) % (Tn / 2 + 1);
        for (int t = 0; t < Tn; t++) hm[(size_t)b * Tn + t] = t < valid && !(b % 3 == 1 && t % 7 == 3);
    }
    if (B > 2) for (int t = 0; t < Tn; t++) hm[(size_t)2 * Tn + t] = 0;
    return hm;
}
