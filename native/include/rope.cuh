// Rotary position embeddings' frequencies, shared by the kernels that rotate queries and keys.
#pragma once
#include <math.h>

namespace zotune {

// Rotary frequency of pair j as Hugging Face computes it in float32 (1 / theta^(2j/D)), then Llama-3
// "rope_scaling" (factor > 0) in fp64: long wavelengths divided by factor, short ones kept, a smooth
// blend in between. Matches CpuOps.ropeInverseFrequencies.
__device__ __forceinline__ float rope_inv_freq(int j, int D, double theta, double factor, double low, double high, int orig) {
    const float exponent = (float)(2 * j) / (float)D;
    const float base = (float)pow((double)(float)theta, (double)exponent);
    const float inv = 1.0f / base;
    if (factor <= 0.0) return inv;
    const double wavelen = 2.0 * 3.141592653589793 / inv;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    double f = inv;
    if (wavelen > low_wavelen) {
        f = inv / factor;
    } else if (wavelen >= high_wavelen) {
        const double smooth = (orig / wavelen - low) / (high - low);
        f = (1.0 - smooth) * inv / factor + smooth * inv;
    }
    return (float)f;
}

}  // namespace zotune
