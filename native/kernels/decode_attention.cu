// Attention of a few new queries over a key/value prefix or a generation's key/value cache, fused (a decode step:
// one token per sequence). One block per (query token, head) reads the cached rows where they are: no split, no
// concatenated copy of the cache, no score matrix in device memory, no merge. The new tokens' own keys and values
// come from their q|k|v rows, with the packed bias and RoPE applied and rounded as split_qkv_rope and store_kv
// apply them, so that a cached key equals the key computed in place. Scores and softmax in float32.
//
// Visible keys, in order: prefix rows j < Np (shared, stride 0) or, for a batched cache (stride > 0),
// j < min(Np, fixed + max(pos[b·T], 0)) of sequence b's block; then the call's own keys s <= t (causal; every s
// otherwise) with mask[b, s] != 0. Threads take keys by index alone and rows past the visible ones are never read,
// so the result does not depend on Np: an eager step that shows fewer cached rows gives a captured step's bits.
#include "block.cuh"
#include "dtype.cuh"
#include "rope.cuh"

namespace zotune {
namespace {

// Element d of a head row plus its bias, rounded to T as the packed bias is added before heads are split.
template <typename T>
__device__ __forceinline__ float decode_biased(const T* x, const T* bias, int d) {
    return bias == nullptr ? to_float(x[d]) : round_rn<T>(to_float(x[d]) + to_float(bias[d]));
}

// Element d of a (biased) head row rotated rotate-half at position p and rounded to T, as split_qkv_rope rotates
// queries and keys and store_kv rotates cached keys.
template <typename T>
__device__ __forceinline__ float decode_head_value(const T* x, const T* bias, int d, int D, int rope, int p,
                                                   double theta, double factor, double low, double high, int orig) {
    const float xd = decode_biased(x, bias, d);
    if (rope == 0) return xd;
    const int half = D / 2;
    const int j = d < half ? d : d - half;
    const int partner = d < half ? d + half : d - half;
    const float sign = d < half ? -1.f : 1.f;
    float s, c;
    sincosf((float)max(p, 0) * rope_inv_freq(j, D, theta, factor, low, high, orig), &s, &c);
    return round_rn<T>(xd * c + sign * decode_biased(x, bias, partner) * s);
}

// Block (head h = blockIdx.x, token row = blockIdx.y = b·Tn + t). q [B·T, H·D], k, v [B·T, Hkv·D] (rows ldq, ldk,
// ldv apart; qb, kb, vb the bias of q's, k's, v's columns or null); Kc, Vc the prefix or cache [rows, Hkv·D], rows
// 16-byte aligned and D a multiple of Vec<T>::N (the host checks); pos null only without RoPE and without a cache.
// Shared memory: q [D] | partial outputs [G·D] | scores [Np + Tn] floats, G = blockDim.x / (D / N).
template <typename T>
__device__ void decode_attention(const T* q, int ldq, const T* k, int ldk, const T* v, int ldv, const T* qb,
                                 const T* kb, const T* vb, const T* Kc, const T* Vc, const int* mask, const int* pos,
                                 T* out, int Tn, int H, int Hkv, int D, int Np, int stride, int fixed, float scale,
                                 int causal, int rope, double theta, double factor, double low, double high,
                                 int orig) {
    constexpr int N = Vec<T>::N;
    extern __shared__ float decode_smem[];
    __shared__ float red[32];
    const int h = blockIdx.x, row = blockIdx.y;
    const int b = row / Tn, t = row - b * Tn;
    const int kvh = h / (H / Hkv);
    const int W = Hkv * D;
    const int DV = D / N, G = blockDim.x / DV;
    float* qs = decode_smem;
    float* part = qs + D;
    float* sc = part + G * D;

    const T* qrow = q + (int64_t)row * ldq + (int64_t)h * D;
    const int qpos = pos == nullptr ? 0 : pos[row];
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        qs[d] = decode_head_value(qrow, qb == nullptr ? nullptr : qb + h * D, d, D, rope, qpos, theta, factor, low,
                                  high, orig);
    const int nvis = stride > 0 ? min(Np, fixed + max(pos[(int64_t)b * Tn], 0)) : Np;
    const int nk = nvis + (causal ? t + 1 : Tn);
    const T* Kb = Kc + (int64_t)b * stride * W + (int64_t)kvh * D;
    const T* Vb = Vc + (int64_t)b * stride * W + (int64_t)kvh * D;
    const T* kbias = kb == nullptr ? nullptr : kb + kvh * D;
    const T* vbias = vb == nullptr ? nullptr : vb + kvh * D;
    __syncthreads();

    // scores of the cached keys: a key per thread, its row read in 16-byte vectors
    for (int j = threadIdx.x; j < nvis; j += blockDim.x) {
        const uint4* kr = reinterpret_cast<const uint4*>(Kb + (int64_t)j * W);
        float acc = 0.f;
        for (int c0 = 0; c0 < DV; c0 += 4) {  // four loads in flight, then their products in order
            uint4 u[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                if (c0 + i < DV) u[i] = kr[c0 + i];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                if (c0 + i < DV) {
                    float kv[N];
                    unpack<T>(u[i], kv);
#pragma unroll
                    for (int e = 0; e < N; e++) acc = fmaf(qs[(c0 + i) * N + e], kv[e], acc);
                }
            }
        }
        sc[j] = acc * scale;
    }
    // the call's own keys: a warp per key, its lanes along D (its bias and rotation computed where it is read)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int own = warp; own < nk - nvis; own += warps) {
        const int64_t tok = (int64_t)b * Tn + own;
        float acc = 0.f;
        if (mask[tok] != 0) {
            const T* krow = k + tok * ldk + (int64_t)kvh * D;
            const int kpos = pos == nullptr ? 0 : pos[tok];
            for (int d = lane; d < D; d += 32)
                acc = fmaf(qs[d], decode_head_value(krow, kbias, d, D, rope, kpos, theta, factor, low, high, orig),
                           acc);
        }
        acc = warp_sum(acc);
        if (lane == 0) sc[nvis + own] = mask[tok] != 0 ? acc * scale : -INFINITY;
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < nk; j += blockDim.x) mx = fmaxf(mx, sc[j]);
    mx = block_max(mx, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < nk; j += blockDim.x) {
        const float p = (mx == -INFINITY || sc[j] == -INFINITY) ? 0.f : expf(sc[j] - mx);
        sc[j] = p;
        sum += p;
    }
    sum = block_sum(sum, red);  // its barriers also publish the probabilities written above
    const float inv = sum > 0.f ? 1.f / sum : 0.f;

    // P·V: thread (g, c) sums vector c of the value rows j ≡ g (mod G); then the G partial sums in a fixed order
    const int g = threadIdx.x / DV, c = threadIdx.x - g * DV;
    if (g < G) {
        float acc[N];
#pragma unroll
        for (int e = 0; e < N; e++) acc[e] = 0.f;
        int j = g;
#pragma unroll 4
        for (; j < nvis; j += G) {  // cached rows; unrolled so that several loads are in flight
            float vv[N];
            unpack<T>(reinterpret_cast<const uint4*>(Vb + (int64_t)j * W)[c], vv);
            const float p = sc[j];
#pragma unroll
            for (int e = 0; e < N; e++) acc[e] = fmaf(p, vv[e], acc[e]);
        }
        for (; j < nk; j += G) {  // the call's own rows, with their bias
            const T* vrow = v + ((int64_t)b * Tn + (j - nvis)) * ldv + (int64_t)kvh * D;
            float vv[N];
#pragma unroll
            for (int e = 0; e < N; e++) vv[e] = decode_biased(vrow, vbias, c * N + e);
            const float p = sc[j];
#pragma unroll
            for (int e = 0; e < N; e++) acc[e] = fmaf(p, vv[e], acc[e]);
        }
#pragma unroll
        for (int e = 0; e < N; e++) part[g * D + c * N + e] = acc[e];
    }
    __syncthreads();
    T* orow = out + (int64_t)row * H * D + (int64_t)h * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.f;
        for (int gg = 0; gg < G; gg++) o += part[gg * D + d];
        orow[d] = from_float<T>(o * inv);
    }
}

}  // namespace

extern "C" {
#define ZT_DECODE(SUF, T)                                                                                            \
    __global__ void attention_decode_##SUF(const T* q, int ldq, const T* k, int ldk, const T* v, int ldv,           \
                                           const T* qb, const T* kb, const T* vb, const T* Kc, const T* Vc,         \
                                           const int* mask, const int* pos, T* out, int Tn, int H, int Hkv, int D,  \
                                           int Np, int stride, int fixed, float scale, int causal, int rope,        \
                                           double theta, double factor, double low, double high, int orig) {        \
        decode_attention(q, ldq, k, ldk, v, ldv, qb, kb, vb, Kc, Vc, mask, pos, out, Tn, H, Hkv, D, Np, stride,     \
                         fixed, scale, causal, rope, theta, factor, low, high, orig);                               \
    }
ZT_DECODE(f32, float)
ZT_DECODE(bf16, bf16)
ZT_DECODE(f16, __half)
#undef ZT_DECODE
}  // extern "C"

}  // namespace zotune
