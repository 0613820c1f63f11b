// Self-attention pieces around two cuBLAS strided-batched GEMMs (scores = Q·Kᵀ, out = P·V):
// split q/k/v rows into per-head [B, H, T, D] tensors (RoPE rotate-half at given positions, grouped
// key/value heads expanded to H), masked softmax of the fp32 scores (causal: attention_causal_softmax_*;
// bidirectional, every key of the sequence: attention_bidir_softmax_*), and merging heads back. The
// direction is a template parameter, so the causal kernels compile exactly as before it existed.
#include "block.cuh"
#include "dtype.cuh"
#include "rope.cuh"

namespace zotune {
namespace {

// q [B·T, H·D], k and v [B·T, Hkv·D] (rows ldq, ldk, ldv elements apart) -> Q, K, V [B, H, T, D]; query head h reads key/value head
// h / (H / Hkv). With rope != 0, Q and K are rotated (rotate-half) by angle position · inv_freq(j)
// computed in fp32 as Hugging Face does (negative positions count as 0).
template <typename T>
__device__ void split_qkv_rope(const T* q, const T* k, const T* v, T* Q, T* K, T* V, const int* positions,
                               int B, int Tn, int H, int Hkv, int D, int ldq, int ldk, int ldv, int rope,
                               double theta, double factor, double low, double high, int orig) {
    const int64_t n = (int64_t)B * H * Tn * D;
    const int group = H / Hkv;
    const int half = D / 2;
    ZT_GRID_STRIDE(i, n) {
        const int d = (int)(i % D);
        const int t = (int)((i / D) % Tn);
        const int h = (int)((i / ((int64_t)D * Tn)) % H);
        const int b = (int)(i / ((int64_t)D * Tn * H));
        const int64_t tok = (int64_t)b * Tn + t;
        const int64_t qi = tok * ldq + (int64_t)h * D;
        const int64_t ki = tok * ldk + (int64_t)(h / group) * D;
        V[i] = v[tok * ldv + (int64_t)(h / group) * D + d];
        if (rope == 0) {
            Q[i] = q[qi + d];
            K[i] = k[ki + d];
        } else {
            // rotate_half: first half pairs with -x[d + D/2], second half with +x[d - D/2]
            const int j = d < half ? d : d - half;
            const int partner = d < half ? d + half : d - half;
            const float sign = d < half ? -1.f : 1.f;
            float s, c;
            sincosf((float)max(positions[tok], 0) * rope_inv_freq(j, D, theta, factor, low, high, orig), &s, &c);
            Q[i] = from_float<T>(to_float(q[qi + d]) * c + sign * to_float(q[qi + partner]) * s);
            K[i] = from_float<T>(to_float(k[ki + d]) * c + sign * to_float(k[ki + partner]) * s);
        }
    }
}

// Without RoPE, 16-byte vectors and 32-bit index arithmetic (the host checks the sizes and alignment):
// thread i moves vector dv of head h of token tok, reading along the input rows.
template <typename T>
__device__ void split_qkv_v(const T* q, const T* k, const T* v, T* Q, T* K, T* V, int B, int Tn, int H, int Hkv,
                            int D, int ldq, int ldk, int ldv) {
    constexpr int N = Vec<T>::N;
    const int DV = D / N, group = H / Hkv;
    const int n = B * Tn * H * DV;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        const int dv = i % DV, r = i / DV;
        const int h = r % H, tok = r / H;
        const int b = tok / Tn, t = tok - b * Tn;
        const int64_t dst = ((int64_t)(b * H + h) * Tn + t) * D + dv * N;
        const int kh = h / group;
        copy_vec(Q + dst, q + (int64_t)tok * ldq + h * D + dv * N);
        copy_vec(K + dst, k + (int64_t)tok * ldk + kh * D + dv * N);
        copy_vec(V + dst, v + (int64_t)tok * ldv + kh * D + dv * N);
    }
}

// O [B, H, T, D] -> out [B·T, H·D] in 16-byte vectors, writing along the output rows.
template <typename T>
__device__ void merge_heads_v(const T* O, T* out, int B, int Tn, int H, int D) {
    constexpr int N = Vec<T>::N;
    const int DV = D / N;
    const int n = B * Tn * H * DV;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        const int dv = i % DV, r = i / DV;
        const int h = r % H, tok = r / H;
        const int b = tok / Tn, t = tok - b * Tn;
        copy_vec(out + (int64_t)i * N, O + ((int64_t)(b * H + h) * Tn + t) * D + dv * N);
    }
}

// One warp per score row, the row's visible scores held in registers (4 per lane per 128 columns, NJ
// groups: T <= 128·NJ, T a multiple of 4): one read of S, one write of P, future keys never read when CAUSAL.
template <typename T, int NJ, bool CAUSAL>
__device__ void softmax_warp(const float* S, T* P, const int* mask, int H, int Tn, int64_t rows) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;  // whole warp leaves together
    const int t = CAUSAL ? (int)(row % Tn) : Tn - 1;  // the last visible key
    const int b = (int)(row / ((int64_t)Tn * H));
    const float* s_row = S + row * Tn;
    T* p_row = P + row * Tn;
    const int* m = mask + (int64_t)b * Tn;
    float v[NJ][4];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        const int c0 = j * 128 + lane * 4;
#pragma unroll
        for (int e = 0; e < 4; e++) v[j][e] = -INFINITY;
        if (c0 <= t && c0 < Tn) {
            const float4 f = *reinterpret_cast<const float4*>(s_row + c0);
            const int4 mk = *reinterpret_cast<const int4*>(m + c0);
            v[j][0] = (mk.x != 0) ? f.x : -INFINITY;
            v[j][1] = (c0 + 1 <= t && mk.y != 0) ? f.y : -INFINITY;
            v[j][2] = (c0 + 2 <= t && mk.z != 0) ? f.z : -INFINITY;
            v[j][3] = (c0 + 3 <= t && mk.w != 0) ? f.w : -INFINITY;
#pragma unroll
            for (int e = 0; e < 4; e++) mx = fmaxf(mx, v[j][e]);
        }
    }
    mx = warp_max(mx);
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            v[j][e] = (mx == -INFINITY || v[j][e] == -INFINITY) ? 0.f : expf(v[j][e] - mx);
            sum += v[j][e];
        }
    }
    sum = warp_sum(sum);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        const int c0 = j * 128 + lane * 4;
        if (c0 < Tn) {
            float p[4];
#pragma unroll
            for (int e = 0; e < 4; e++) p[e] = v[j][e] * inv;
            if constexpr (sizeof(T) == 4) {
                *reinterpret_cast<float4*>(p_row + c0) = make_float4(p[0], p[1], p[2], p[3]);
            } else {
                *reinterpret_cast<uint2*>(p_row + c0) = make_uint2(pack2<T>(p[0], p[1]), pack2<T>(p[2], p[3]));
            }
        }
    }
}

// One block per score row (b, h, t): P[row, s] = softmax over visible keys s (mask[b, s] != 0, and s <= t
// when CAUSAL), 0 for hidden keys; a row with no visible key is all zeros. Scores arrive already scaled.
template <typename T, bool CAUSAL>
__device__ void softmax_rows(const float* S, T* P, const int* mask, int H, int Tn) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const int t = CAUSAL ? (int)(row % Tn) : Tn - 1;  // the last visible key
    const int b = (int)(row / ((int64_t)Tn * H));
    const float* s_row = S + row * Tn;
    T* p_row = P + row * Tn;
    const int* m = mask + (int64_t)b * Tn;
    float mx = -INFINITY;
    for (int s = threadIdx.x; s <= t; s += blockDim.x)
        if (m[s] != 0) mx = fmaxf(mx, s_row[s]);
    mx = block_max(mx, scratch);
    float sum = 0.f;
    if (mx != -INFINITY) {
        for (int s = threadIdx.x; s <= t; s += blockDim.x)
            if (m[s] != 0) sum += expf(s_row[s] - mx);
    }
    sum = block_sum(sum, scratch);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (int s = threadIdx.x; s < Tn; s += blockDim.x) {
        float p = (s <= t && m[s] != 0 && sum > 0.f) ? expf(s_row[s] - mx) * inv : 0.f;
        p_row[s] = from_float<T>(p);
    }
}

// O [B, H, T, D] -> out [B·T, H·D]
template <typename T>
__device__ void merge_heads(const T* O, T* out, int B, int Tn, int H, int D) {
    const int64_t n = (int64_t)B * H * Tn * D;
    ZT_GRID_STRIDE(i, n) {
        const int d = (int)(i % D);
        const int t = (int)((i / D) % Tn);
        const int h = (int)((i / ((int64_t)D * Tn)) % H);
        const int b = (int)(i / ((int64_t)D * Tn * H));
        out[((int64_t)b * Tn + t) * H * D + (int64_t)h * D + d] = O[i];
    }
}

// Prefix / key-value cache attention (unfused): the Np prefix rows [Np, Hkv·D] (shared by every sequence when
// stride is 0; else sequence b's rows start at row b·stride: a batched key/value cache; already rotated, of type P:
// the compute type or float32) and the split keys / values [B, H, T, D] laid side by side into [B, H, Np + T, D],
// prefix first, kv heads expanded as split_qkv_rope expands them.
template <typename T, typename P>
__device__ void prefix_concat(const P* pk, const P* pv, const T* Kh, const T* Vh, T* Kx, T* Vx, int B, int H,
                              int Hkv, int Tn, int Np, int D, int stride) {
    const int Tk = Np + Tn;
    const int64_t n = (int64_t)B * H * Tk * D;
    const int group = H / Hkv;
    ZT_GRID_STRIDE(i, n) {
        const int d = (int)(i % D);
        const int j = (int)((i / D) % Tk);
        const int64_t bh = i / ((int64_t)D * Tk);
        const int h = (int)(bh % H);
        if (j < Np) {
            const int64_t row = (int64_t)(bh / H) * stride + j;
            const int64_t src = row * Hkv * D + (int64_t)(h / group) * D + d;
            Kx[i] = from_float<T>(to_float(pk[src]));
            Vx[i] = from_float<T>(to_float(pv[src]));
        } else {
            const int64_t src = (bh * Tn + (j - Np)) * D + d;
            Kx[i] = Kh[src];
            Vx[i] = Vh[src];
        }
    }
}

// One block per score row (b, h, t) of S [B·H·T, Np + T]: prefix key j < Np is visible always (per_seq 0) or, for
// a batched key/value cache (per_seq 1), when j < fixed + max(pos[b·T], 0) (the rows sequence b has cached, read
// from the positions so that a captured graph decides it per replay); own key s (column Np + s) when
// mask[b, s] != 0 and, when CAUSAL, s <= t. Hidden keys get 0; a row with no visible key is all zeros. Scores arrive
// already scaled.
template <typename T, bool CAUSAL>
__device__ void prefix_softmax_rows(const float* S, T* P, const int* mask, const int* pos, int H, int Tn, int Np,
                                    int per_seq, int fixed) {
    __shared__ float scratch[32];
    const int Tk = Np + Tn;
    const int64_t row = blockIdx.x;
    const int t = (int)(row % Tn);
    const int last = CAUSAL ? Np + t : Tk - 1;  // the last visible column
    const int b = (int)(row / ((int64_t)Tn * H));
    const float* s_row = S + row * Tk;
    T* p_row = P + row * Tk;
    const int* m = mask + (int64_t)b * Tn;
    const int np_seen = per_seq ? min(Np, fixed + max(pos[(int64_t)b * Tn], 0)) : Np;  // visible prefix columns
    float mx = -INFINITY;
    for (int s = threadIdx.x; s <= last; s += blockDim.x)
        if (s < Np ? s < np_seen : m[s - Np] != 0) mx = fmaxf(mx, s_row[s]);
    mx = block_max(mx, scratch);
    float sum = 0.f;
    if (mx != -INFINITY) {
        for (int s = threadIdx.x; s <= last; s += blockDim.x)
            if (s < Np ? s < np_seen : m[s - Np] != 0) sum += expf(s_row[s] - mx);
    }
    sum = block_sum(sum, scratch);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (int s = threadIdx.x; s < Tk; s += blockDim.x) {
        const bool visible = s <= last && (s < Np ? s < np_seen : m[s - Np] != 0);
        p_row[s] = from_float<T>(visible && sum > 0.f ? expf(s_row[s] - mx) * inv : 0.f);
    }
}

// A key/value cache's new rows: n token rows of k and v (row r at k + r·ldk, v + r·ldv; with a bias, the bias's
// matching values added and rounded to T first, as attention's packed bias is) into a batched cache K, V of stride
// rows per sequence: token t of sequence b (r = b·Tn + t) into row b·stride + fixed + max(positions[b·Tn], 0) + t,
// skipped if that runs past its block; K rotated (rotate-half) at
// positions[r] exactly as split_qkv_rope rotates keys when rope != 0.
template <typename T>
__device__ void store_kv(const T* k, int ldk, const T* v, int ldv, const T* kbias, const T* vbias,
                         const int* positions, T* K, T* V, int n, int Hkv, int D, int rope, double theta,
                         double factor, double low, double high, int orig, int Tn, int stride, int fixed) {
    const int W = Hkv * D;
    const int64_t total = (int64_t)n * W;
    const int half = D / 2;
    ZT_GRID_STRIDE(i, total) {
        const int c = (int)(i % W);
        const int64_t r = i / W;
        const int d = c % D;
        const int64_t b = r / Tn;
        const int64_t row = fixed + (int64_t)max(positions[b * Tn], 0) + r % Tn;
        if (row >= stride) continue;
        const int64_t o = (b * stride + row) * W + c;  // the output element
        const T* krow = k + r * ldk;
        const T* vrow = v + r * ldv;
        const float vx = vbias == nullptr ? to_float(vrow[c]) : round_rn<T>(to_float(vrow[c]) + to_float(vbias[c]));
        V[o] = from_float<T>(vx);
        const float kx = kbias == nullptr ? to_float(krow[c]) : round_rn<T>(to_float(krow[c]) + to_float(kbias[c]));
        if (rope == 0) {
            K[o] = from_float<T>(kx);
        } else {
            const int j = d < half ? d : d - half;
            const int pc = d < half ? c + half : c - half;
            const float sign = d < half ? -1.f : 1.f;
            const float kp = kbias == nullptr ? to_float(krow[pc])
                                              : round_rn<T>(to_float(krow[pc]) + to_float(kbias[pc]));
            float s, co;
            sincosf((float)max(positions[r], 0) * rope_inv_freq(j, D, theta, factor, low, high, orig), &s, &co);
            K[o] = from_float<T>(kx * co + sign * kp * s);
        }
    }
}

}  // namespace

extern "C" {
__global__ void attention_split_qkv_rope_f32(const float* q, const float* k, const float* v, float* Q, float* K,
        float* V, const int* pos, int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv, int rope,
        double theta, double factor, double low, double high, int orig) {
    split_qkv_rope(q, k, v, Q, K, V, pos, B, T, H, Hkv, D, ldq, ldk, ldv, rope, theta, factor, low, high, orig);
}
__global__ void attention_split_qkv_rope_bf16(const bf16* q, const bf16* k, const bf16* v, bf16* Q, bf16* K,
        bf16* V, const int* pos, int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv, int rope,
        double theta, double factor, double low, double high, int orig) {
    split_qkv_rope(q, k, v, Q, K, V, pos, B, T, H, Hkv, D, ldq, ldk, ldv, rope, theta, factor, low, high, orig);
}
__global__ void attention_split_qkv_rope_f16(const __half* q, const __half* k, const __half* v, __half* Q, __half* K,
        __half* V, const int* pos, int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv, int rope,
        double theta, double factor, double low, double high, int orig) {
    split_qkv_rope(q, k, v, Q, K, V, pos, B, T, H, Hkv, D, ldq, ldk, ldv, rope, theta, factor, low, high, orig);
}
__global__ void attention_causal_softmax_f32(const float* S, float* P, const int* mask, int H, int T) {
    softmax_rows<float, true>(S, P, mask, H, T);
}
__global__ void attention_causal_softmax_bf16(const float* S, bf16* P, const int* mask, int H, int T) {
    softmax_rows<bf16, true>(S, P, mask, H, T);
}
__global__ void attention_causal_softmax_f16(const float* S, __half* P, const int* mask, int H, int T) {
    softmax_rows<__half, true>(S, P, mask, H, T);
}
__global__ void attention_bidir_softmax_f32(const float* S, float* P, const int* mask, int H, int T) {
    softmax_rows<float, false>(S, P, mask, H, T);
}
__global__ void attention_bidir_softmax_bf16(const float* S, bf16* P, const int* mask, int H, int T) {
    softmax_rows<bf16, false>(S, P, mask, H, T);
}
__global__ void attention_bidir_softmax_f16(const float* S, __half* P, const int* mask, int H, int T) {
    softmax_rows<__half, false>(S, P, mask, H, T);
}
__global__ void attention_merge_heads_f32(const float* O, float* out, int B, int T, int H, int D) {
    merge_heads(O, out, B, T, H, D);
}
__global__ void attention_merge_heads_bf16(const bf16* O, bf16* out, int B, int T, int H, int D) {
    merge_heads(O, out, B, T, H, D);
}
__global__ void attention_merge_heads_f16(const __half* O, __half* out, int B, int T, int H, int D) {
    merge_heads(O, out, B, T, H, D);
}

__global__ void attention_split_qkv_v_f32(const float* q, const float* k, const float* v, float* Q, float* K, float* V,
        int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv) {
    split_qkv_v(q, k, v, Q, K, V, B, T, H, Hkv, D, ldq, ldk, ldv);
}
__global__ void attention_split_qkv_v_bf16(const bf16* q, const bf16* k, const bf16* v, bf16* Q, bf16* K, bf16* V,
        int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv) {
    split_qkv_v(q, k, v, Q, K, V, B, T, H, Hkv, D, ldq, ldk, ldv);
}
__global__ void attention_split_qkv_v_f16(const __half* q, const __half* k, const __half* v, __half* Q, __half* K, __half* V,
        int B, int T, int H, int Hkv, int D, int ldq, int ldk, int ldv) {
    split_qkv_v(q, k, v, Q, K, V, B, T, H, Hkv, D, ldq, ldk, ldv);
}
__global__ void attention_merge_heads_v_f32(const float* O, float* out, int B, int T, int H, int D) {
    merge_heads_v(O, out, B, T, H, D);
}
__global__ void attention_merge_heads_v_bf16(const bf16* O, bf16* out, int B, int T, int H, int D) {
    merge_heads_v(O, out, B, T, H, D);
}
__global__ void attention_merge_heads_v_f16(const __half* O, __half* out, int B, int T, int H, int D) {
    merge_heads_v(O, out, B, T, H, D);
}
#define ZT_SOFTMAX_W(NJ, DIR, CAUSAL)                                                                             \
    __global__ void attention_##DIR##_softmax_w##NJ##_f32(const float* S, float* P, const int* mask, int H, int T, \
                                                          int64_t rows) {                                         \
        softmax_warp<float, NJ, CAUSAL>(S, P, mask, H, T, rows);                                                 \
    }                                                                                                             \
    __global__ void attention_##DIR##_softmax_w##NJ##_bf16(const float* S, bf16* P, const int* mask, int H, int T, \
                                                           int64_t rows) {                                        \
        softmax_warp<bf16, NJ, CAUSAL>(S, P, mask, H, T, rows);                                                  \
    }                                                                                                             \
    __global__ void attention_##DIR##_softmax_w##NJ##_f16(const float* S, __half* P, const int* mask, int H,      \
                                                          int T, int64_t rows) {                                  \
        softmax_warp<__half, NJ, CAUSAL>(S, P, mask, H, T, rows);                                                \
    }
ZT_SOFTMAX_W(1, causal, true)
ZT_SOFTMAX_W(2, causal, true)
ZT_SOFTMAX_W(4, causal, true)
ZT_SOFTMAX_W(8, causal, true)
ZT_SOFTMAX_W(1, bidir, false)
ZT_SOFTMAX_W(2, bidir, false)
ZT_SOFTMAX_W(4, bidir, false)
ZT_SOFTMAX_W(8, bidir, false)
#undef ZT_SOFTMAX_W

#define ZT_PREFIX(SUF, T)                                                                                       \
    __global__ void attention_prefix_concat_##SUF(const T* pk, const T* pv, const T* Kh, const T* Vh, T* Kx,   \
                                                  T* Vx, int B, int H, int Hkv, int Tn, int Np, int D,         \
                                                  int stride) {                                                 \
        prefix_concat<T, T>(pk, pv, Kh, Vh, Kx, Vx, B, H, Hkv, Tn, Np, D, stride);                            \
    }                                                                                                           \
    __global__ void attention_prefix_causal_softmax_##SUF(const float* S, T* P, const int* mask, const int* pos, \
                                                          int H, int Tn, int Np, int per_seq, int fixed) {      \
        prefix_softmax_rows<T, true>(S, P, mask, pos, H, Tn, Np, per_seq, fixed);                               \
    }                                                                                                           \
    __global__ void attention_prefix_bidir_softmax_##SUF(const float* S, T* P, const int* mask, const int* pos, \
                                                         int H, int Tn, int Np, int per_seq, int fixed) {       \
        prefix_softmax_rows<T, false>(S, P, mask, pos, H, Tn, Np, per_seq, fixed);                              \
    }                                                                                                           \
    __global__ void attention_store_kv_seq_##SUF(const T* k, int ldk, const T* v, int ldv, const T* kbias,      \
                                                 const T* vbias, const int* pos, T* K, T* V, int n, int Hkv,    \
                                                 int D, int rope, double theta, double factor, double low,      \
                                                 double high, int orig, int Tn, int stride, int fixed) {        \
        store_kv(k, ldk, v, ldv, kbias, vbias, pos, K, V, n, Hkv, D, rope, theta, factor, low, high, orig, Tn,  \
                 stride, fixed);                                                                                \
    }
ZT_PREFIX(f32, float)
ZT_PREFIX(bf16, bf16)
ZT_PREFIX(f16, __half)
#undef ZT_PREFIX
// a float32 prefix (trained in float32) under a 16-bit compute type: rounded to it as it is laid out
__global__ void attention_prefix_concat_f32p_bf16(const float* pk, const float* pv, const bf16* Kh, const bf16* Vh,
        bf16* Kx, bf16* Vx, int B, int H, int Hkv, int Tn, int Np, int D, int stride) {
    prefix_concat<bf16, float>(pk, pv, Kh, Vh, Kx, Vx, B, H, Hkv, Tn, Np, D, stride);
}
__global__ void attention_prefix_concat_f32p_f16(const float* pk, const float* pv, const __half* Kh,
        const __half* Vh, __half* Kx, __half* Vx, int B, int H, int Hkv, int Tn, int Np, int D, int stride) {
    prefix_concat<__half, float>(pk, pv, Kh, Vh, Kx, Vx, B, H, Hkv, Tn, Np, D, stride);
}
}  // extern "C"

}  // namespace zotune
