// Fused self-attention for bf16 and f16 (flash-attention style): per block 64 query rows of one head
// (16 per warp), key/value tiles of 64 rows staged in shared memory, S = Q·Kᵀ and O += P·V on the
// tensor cores (mma.sync m16n8k16, fp32 accumulation), softmax online in registers (running max and
// sum per row), so no [T, T] score matrix ever reaches device memory. Key-padding mask, plus the causal
// mask in flash_attention[_p]_d* (CAUSAL) and none in flash_attention_bidir[_p]_d* (a query sees every key
// of its sequence; a template parameter, so the causal kernels compile as before); a row with no visible
// key is zeros. q, k, v and the output are addressed by (batch, token, head)
// strides in elements, so packed q|k|v activations and [B, H, T, D] layouts both work; every stride a
// multiple of 8 and every base 16-byte aligned (the host checks). P is rounded to the storage type (T:
// bf16 or __half) for P·V, as the unfused path rounds the probabilities to the compute type.
// A packed q|k|v bias: q's is added (and rounded to T) as Q is loaded; k's is not added at all, since it adds
// q·b_k to every score of a query row, which the softmax cancels; v's is added to each output row that saw a
// key, since the weights of a row sum to 1 (Σ p·(v + b_v) / Σ p = Σ p·v / Σ p + b_v). So no K/V tile is touched
// after its copy; the results differ from adding the bias first only by the roundings of k + b and v + b to T
// that adding it first makes.
// Per key tile a warp's work is fa_tile_mt: fully visible tiles (no masked key, causal: the tile ends at or
// before the warp's first row) skip the per-element mask; exponentials are one FFMA and one ex2.approx.ftz.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {

constexpr int FA_ROWS = 64;  // query rows per block and key rows per tile
constexpr int FA_THREADS = 128;

// c += a·b for one 16x8 tile (A 16x16 row-major fragment, B 16x8 column-major fragment), inputs of type T.
template <typename T> __device__ __forceinline__ void fa_mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                             uint32_t b1);
template <>
__device__ __forceinline__ void fa_mma<bf16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void fa_mma<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four transposed 8x8 tiles of shared memory (16-bit elements): lane l gives the address of one tile row.
__device__ __forceinline__ void fa_ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
    const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Rows [row0, row0 + 64) of one head (row r at base + r·rowStride, D contiguous values) into a
// [64][D + 8] shared tile (the 8-element pad spreads the fragment loads over all banks); rows at or
// past Tn become zeros so that no garbage (NaN) meets a zero probability.
// With a bias (D values, or null), bias is added and the sum rounded to T, as a separate bias pass would.
template <typename T, int D>
__device__ __forceinline__ void fa_load_tile(T* tile, const T* base, int rowStride, int row0, int Tn, const T* bias) {
    constexpr int CH = D / 8;
    for (int i = threadIdx.x; i < FA_ROWS * CH; i += FA_THREADS) {
        const int r = i / CH, ch = i - r * CH;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (row0 + r < Tn) {
            v = *reinterpret_cast<const uint4*>(base + (int64_t)(row0 + r) * rowStride + ch * 8);
            if (bias != nullptr) {
                float a[8], b[8];
                unpack<T>(v, a);
                unpack<T>(*reinterpret_cast<const uint4*>(bias + ch * 8), b);
#pragma unroll
                for (int e = 0; e < 8; e++) a[e] += b[e];
                v = pack<T>(a);
            }
        }
        *reinterpret_cast<uint4*>(tile + r * (D + 8) + ch * 8) = v;
    }
}

// Pipelined staging: 16-byte cp.async copies (zero-filled past Tn) that land while the previous tile
// is being computed.
__device__ __forceinline__ void fa_cp_async16(void* smem, const void* gmem, bool valid) {
    const uint32_t dst = (uint32_t)__cvta_generic_to_shared(smem);
    const int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void fa_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void fa_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
// 4-byte cp.async (sizes below 16 go through L1: .ca), zero-filled where !valid.
__device__ __forceinline__ void fa_cp_async4(void* smem, const void* gmem, bool valid) {
    const uint32_t dst = (uint32_t)__cvta_generic_to_shared(smem);
    const int n = valid ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(gmem), "r"(n));
}
// The mask entries of keys [kv, kv + n) into sMask as they are (a key is visible iff its entry is not 0; zeros past
// Tn), by cp.async in the caller's commit group: no thread waits for them before the group's wait. (A plain load
// stored to shared memory held the issuing warps for a memory latency on every key tile, ncu 2026-12-06.)
__device__ __forceinline__ void fa_issue_mask(int* sMask, const int* mb, int kv, int n, int Tn) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const bool ok = kv + i < Tn;
        fa_cp_async4(sMask + i, ok ? mb + kv + i : mb, ok);
    }
}
// v's bias (D values of T) into shared memory by cp.async, where there is one: fa_store_row reads it at the output
// (straight from global memory there, every warp waited a memory latency before its last stores).
template <typename T, int D> __device__ __forceinline__ void fa_issue_vbias(T* sVb, const T* vbias) {
    if (vbias != nullptr) {
        for (int i = threadIdx.x; i < D / 2; i += blockDim.x) fa_cp_async4(sVb + 2 * i, vbias + 2 * i, true);
    }
}

// Where the row's 16-byte chunks divide the block's threads (D = 64, 128), each thread copies one column chunk of
// every (FA_THREADS / CH)-th row: one 64-bit address per tile, then constant steps (per-chunk index arithmetic was
// ~13 % of the 64-row kernel's instructions at T = 512).
template <typename T, int D>
__device__ __forceinline__ void fa_issue_tile(T* tile, const T* base, int rowStride, int row0, int Tn) {
    constexpr int CH = D / 8;
    if constexpr (FA_THREADS % CH == 0) {
        constexpr int STEP = FA_THREADS / CH;  // rows between a thread's chunks
        const int r0 = threadIdx.x / CH, ch = threadIdx.x - r0 * CH;
        const T* src = base + (int64_t)row0 * rowStride + (r0 * rowStride + ch * 8);
        T* dst = tile + r0 * (D + 8) + ch * 8;
#pragma unroll
        for (int j = 0; j < FA_ROWS / STEP; j++) {
            const bool ok = row0 + r0 + j * STEP < Tn;
            fa_cp_async16(dst + j * STEP * (D + 8), ok ? src + j * STEP * rowStride : base, ok);
        }
    } else {
        for (int i = threadIdx.x; i < FA_ROWS * CH; i += FA_THREADS) {
            const int r = i / CH, ch = i - r * CH;
            const bool ok = row0 + r < Tn;
            const T* src = ok ? base + (int64_t)(row0 + r) * rowStride + ch * 8 : base;
            fa_cp_async16(tile + r * (D + 8) + ch * 8, src, ok);
        }
    }
}

// Four 8x8 tiles of shared memory (16-bit elements), not transposed: lane l gives the address of one tile row.
__device__ __forceinline__ void fa_ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// 2^x on the special-function unit (flushes results below 2^-126 to zero: such a weight is lost beside the row's
// largest, which is 1).
__device__ __forceinline__ float fa_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

// The masked online-softmax update of one key tile's scores (NT n-tiles of 8 keys, the mma.sync / wgmma accumulator
// layout: s[mt][nt][e] is row g (e < 2) or g + 8 of m-tile mt, key kv0 + 8nt + 2c + (e & 1)): masked scores become
// -inf (key flags vis0 / vis1 as ballots of the tile's 64 keys; causal, keys past the row), then the running
// maximum m (in units of sl2 = scale·log2 e) and sum l move on, s becomes the tile's weights, and al the factor the
// row's accumulator is to be scaled by.
template <bool CAUSAL, int MT, int NT>
__device__ __forceinline__ void fa_online_softmax(float (&s)[MT][NT][4], uint32_t vis0, uint32_t vis1, int kv0,
                                                  const int (&rows)[MT][2], float sl2, float (&m)[MT][2],
                                                  float (&l)[MT][2], float (&al)[MT][2]) {
    const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        // warp-uniform: every key of the tile visible to every row of the m-tile (causal: the tile ends at or
        // before the m-tile's first row, rows[mt][0] - g); otherwise each score is tested
        const bool full = (vis0 & vis1) == 0xffffffffu && (!CAUSAL || kv0 + FA_ROWS - 1 <= rows[mt][0] - g);
        if (!full) {
            // key kv0 + 2c + x of score (nt, e), x = 8nt + (e & 1): its flag is bit 8(nt & 3) + (e & 1) of w0 / w1
            // (nt < 4 / nt >= 4), and causal it is visible to row r iff x <= r - kv0 - 2c
            const uint32_t w0 = vis0 >> (2 * c), w1 = vis1 >> (2 * c);
            const int lim0 = rows[mt][0] - kv0 - 2 * c, lim1 = rows[mt][1] - kv0 - 2 * c;
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int x = nt * 8 + (e & 1);
                    const uint32_t w = nt < NT / 2 ? w0 : w1;
                    const bool ok = ((w >> ((nt % (NT / 2)) * 8 + (e & 1))) & 1u) != 0u &&
                                    (!CAUSAL || x <= (e < 2 ? lim0 : lim1));
                    if (!ok) s[mt][nt][e] = -INFINITY;
                }
            }
        }
        float tm0 = -INFINITY, tm1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            tm0 = fmaxf(tm0, fmaxf(s[mt][nt][0], s[mt][nt][1]));
            tm1 = fmaxf(tm1, fmaxf(s[mt][nt][2], s[mt][nt][3]));
        }
        // the four lanes of a quad hold one row between them
        tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 1));
        tm0 = fmaxf(tm0, __shfl_xor_sync(0xffffffffu, tm0, 2));
        tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 1));
        tm1 = fmaxf(tm1, __shfl_xor_sync(0xffffffffu, tm1, 2));
        // max(s)·sl2 = max(s·sl2) (sl2 > 0, rounding is monotone)
        const float mn0 = fmaxf(m[mt][0], tm0 * sl2), mn1 = fmaxf(m[mt][1], tm1 * sl2);
        // a row with no visible key so far: every weight exp2(-inf) = 0, its rescale too (acc and l are 0)
        const float z0 = mn0 == -INFINITY ? 0.f : mn0, z1 = mn1 == -INFINITY ? 0.f : mn1;
        al[mt][0] = fa_ex2(m[mt][0] - z0);
        al[mt][1] = fa_ex2(m[mt][1] - z1);
        m[mt][0] = mn0;
        m[mt][1] = mn1;
        float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[mt][nt][0] = fa_ex2(fmaf(s[mt][nt][0], sl2, -z0));
            s[mt][nt][1] = fa_ex2(fmaf(s[mt][nt][1], sl2, -z0));
            s[mt][nt][2] = fa_ex2(fmaf(s[mt][nt][2], sl2, -z1));
            s[mt][nt][3] = fa_ex2(fmaf(s[mt][nt][3], sl2, -z1));
            ps0 += s[mt][nt][0] + s[mt][nt][1];
            ps1 += s[mt][nt][2] + s[mt][nt][3];
        }
        l[mt][0] = l[mt][0] * al[mt][0] + ps0;
        l[mt][1] = l[mt][1] * al[mt][1] + ps1;
    }
}

// acc *= al per row (rows g and g + 8 of an m-tile), as the online softmax asks.
template <int D> __device__ __forceinline__ void fa_rescale(float (&acc)[D / 8][4], const float (&al)[2]) {
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) {
        acc[nt][0] *= al[0];
        acc[nt][1] *= al[0];
        acc[nt][2] *= al[1];
        acc[nt][3] *= al[1];
    }
}

// One key tile (staged in sK, sV with visibility flags sMask) folded into MT m-tiles of 16 query rows of a
// warp (rows[mt] = its rows g and g + 8): S = Q·Kᵀ, mask, online softmax update of (m, l, acc), acc += P·V.
// K fragments come from ldmatrix x4 (each feeding 2·MT mma), V fragments from ldmatrix.trans x4. MT = 1 (the
// 64-row and short kernels) takes Q from registers (qf), MT > 1 (the wide kernels) from the warp's rows of a
// shared Q tile (sQ, row stride D + 8) per tile with ldmatrix (Q in registers as well spills). Every m-tile sees
// the same fragments, the same mma sequence per accumulator and the same per-row softmax operations as with
// MT = 1, so each row's result is the same bits whichever kernel computes it. m is the running maximum of the
// scores times sl2 (scale·log2 e), the base-2 exponent's scale.
template <typename T, int D, bool CAUSAL, int MT>
__device__ __forceinline__ void fa_tile_mt(const T* sK, const T* sV, const int* sMask, int kv0,
                                           const int (&rows)[MT][2], float sl2, const uint32_t (&qf)[1][D / 16][4],
                                           const T* sQ, float (&m)[MT][2], float (&l)[MT][2],
                                           float (&acc)[MT][D / 8][4]) {
    constexpr int LD = D + 8;
    constexpr int NT = FA_ROWS / 8;
    const int lane = threadIdx.x & 31;
    // the tile's 64 key flags as two ballots: bit i of vis0 / vis1 is key i / 32 + i of the tile
    const uint32_t vis0 = __ballot_sync(0xffffffffu, sMask[lane] != 0);
    const uint32_t vis1 = __ballot_sync(0xffffffffu, sMask[32 + lane] != 0);
    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.f;
    // x4 of keys 16np..16np+15: tiles (n-tile 2np, k 0-7), (2np, k 8-15), (2np+1, k 0-7), (2np+1, k 8-15), i.e. the
    // (b0, b1) of n-tiles 2np and 2np+1: lane l holds K[8·nt + l/4][16kk + 2(l%4) ..] as a 32-bit load would
    const T* kr = sK + ((lane & 7) + (lane >> 4) * 8) * LD + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t qa[MT][4];
        if constexpr (MT == 1) {
#pragma unroll
            for (int j = 0; j < 4; j++) qa[0][j] = qf[0][kk][j];
        } else {
            // A x4 of Q rows 0-15: tiles (rows 0-7, k 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15) = qf's order
            const T* qr = sQ + ((lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;
#pragma unroll
            for (int mt = 0; mt < MT; mt++) fa_ldmatrix_x4(qa[mt], qr + mt * 16 * LD + kk * 16);
        }
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
            uint32_t kf[4];
            fa_ldmatrix_x4(kf, kr + np * 16 * LD + kk * 16);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                fa_mma<T>(s[mt][2 * np], qa[mt], kf[0], kf[1]);
                fa_mma<T>(s[mt][2 * np + 1], qa[mt], kf[2], kf[3]);
            }
        }
    }
    float al[MT][2];
    fa_online_softmax<CAUSAL, MT, NT>(s, vis0, vis1, kv0, rows, sl2, m, l, al);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) fa_rescale<D>(acc[mt], al[mt]);
    // O += P·V: the score accumulators of n-tiles 2kk, 2kk+1 are the A fragment of keys 16kk..16kk+15
#pragma unroll
    for (int kk = 0; kk < FA_ROWS / 16; kk++) {
        uint32_t pa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            pa[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
            pa[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
            pa[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
            pa[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
        const T* vrow = sV + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;
#pragma unroll
        for (int np = 0; np < D / 16; np++) {
            uint32_t vf[4];
            fa_ldmatrix_x4_trans(vf, vrow + np * 16);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                fa_mma<T>(acc[mt][2 * np], pa[mt], vf[0], vf[1]);
                fa_mma<T>(acc[mt][2 * np + 1], pa[mt], vf[2], vf[3]);
            }
        }
    }
}

// Row g (j = 0) or g + 8 (j = 1) of a warp's m-tile into the output: acc / l, plus the V bias (or none) where the
// row saw a key; a row with no visible key is zeros. l is this lane's part of the row sum (the quad adds them), so
// every lane of the warp calls this, also for rows at or past Tn (not written).
template <typename T, int D>
__device__ __forceinline__ void fa_store_row(T* ob, int sot, int row, int Tn, const float (&acc)[D / 8][4], int j,
                                             float l, const T* vbias) {
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (row >= Tn) return;
    const int c = threadIdx.x & 3;
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const bool withBias = vbias != nullptr && l > 0.f;
    T* orow = ob + (int64_t)row * sot;
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) {
        float o0 = acc[nt][2 * j] * inv, o1 = acc[nt][2 * j + 1] * inv;
        if (withBias) {
            const float2 bv = Packed2<T>::to(*reinterpret_cast<const typename Packed2<T>::type*>(vbias + nt * 8 + 2 * c));
            o0 += bv.x;
            o1 += bv.y;
        }
        *reinterpret_cast<uint32_t*>(orow + nt * 8 + 2 * c) = pack2<T>(o0, o1);
    }
}

// One m-tile of a warp's 16 query rows (row0, row1 = row0 + 8), as the 64-row and short kernels call it.
template <typename T, int D, bool CAUSAL>
__device__ __forceinline__ void fa_tile(const T* sK, const T* sV, const int* sMask, int kv0, int row0,
                                        int row1, float sl2, const uint32_t (&qf)[D / 16][4], float& m0, float& m1,
                                        float& l0, float& l1, float (&acc)[D / 8][4]) {
    const int rows[1][2] = {{row0, row1}};
    float m[1][2] = {{m0, m1}}, l[1][2] = {{l0, l1}};
    fa_tile_mt<T, D, CAUSAL, 1>(sK, sV, sMask, kv0, rows, sl2,
                                reinterpret_cast<const uint32_t(&)[1][D / 16][4]>(qf), nullptr, m, l,
                                reinterpret_cast<float(&)[1][D / 8][4]>(acc));
    m0 = m[0][0];
    m1 = m[0][1];
    l0 = l[0][0];
    l1 = l[0][1];
}

template <typename T, int D, bool PIPE, bool CAUSAL>
__device__ void flash_attention(const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn,
                                int H, int Hkv, int sqb, int sqt, int sqh, int skb, int skt, int skh, int svb,
                                int svt, int svh, int sob, int sot, int soh, float scale) {
    constexpr int LD = D + 8;
    constexpr int ST = PIPE ? 2 : 1;  // shared-memory stages
    constexpr int TILE = FA_ROWS * LD;
    __shared__ __align__(16) T sK[ST * TILE];
    __shared__ __align__(16) T sV[ST * TILE];
    __shared__ int sMask[ST * FA_ROWS];
    __shared__ __align__(16) T sVb[D];  // v's bias (PIPE)
    const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest (latest) query blocks start first
    const int b = blockIdx.y / H, h = blockIdx.y - b * H;
    const int kvh = h / (H / Hkv);
    const int q0 = qblock * FA_ROWS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const T* qb = q + (int64_t)b * sqb + (int64_t)h * sqh;
    const T* kb = k + (int64_t)b * skb + (int64_t)kvh * skh;
    const T* vb = v + (int64_t)b * svb + (int64_t)kvh * svh;
    const int* mb = mask + (int64_t)b * Tn;
    // packed q|k|v bias [(H + 2·Hkv)·D] (or none): q's as Q is loaded, v's at the output, k's not at all
    const T* qbias = bias == nullptr ? nullptr : bias + h * D;
    const T* vbias = bias == nullptr ? nullptr : bias + (H + Hkv + kvh) * D;

    // Q fragments (A operand) stay in registers; staged through the K buffer.
    fa_load_tile<T, D>(sK + (ST - 1) * TILE, qb, sqt, q0, Tn, qbias);
    __syncthreads();
    uint32_t qf[D / 16][4];
    {
        const T* r0 = sK + (ST - 1) * TILE + (warp * 16 + g) * LD;
        const T* r1 = r0 + 8 * LD;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            qf[kk][0] = *reinterpret_cast<const uint32_t*>(r0 + kk * 16 + 2 * c);
            qf[kk][1] = *reinterpret_cast<const uint32_t*>(r1 + kk * 16 + 2 * c);
            qf[kk][2] = *reinterpret_cast<const uint32_t*>(r0 + kk * 16 + 8 + 2 * c);
            qf[kk][3] = *reinterpret_cast<const uint32_t*>(r1 + kk * 16 + 8 + 2 * c);
        }
    }
    const float sl2 = scale * 1.4426950408889634f;  // softmax in base 2
    const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    float acc[D / 8][4];
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    const int kvEnd = CAUSAL ? min(Tn, q0 + FA_ROWS) : Tn;  // causal: no key past the block's last query
    if constexpr (PIPE) {
        __syncthreads();  // Q fragments are read before stage 1 (their staging) is refilled
        auto issue = [&](int stage, int kv) {
            fa_issue_tile<T, D>(sK + stage * TILE, kb, skt, kv, Tn);
            fa_issue_tile<T, D>(sV + stage * TILE, vb, svt, kv, Tn);
            fa_issue_mask(sMask + stage * FA_ROWS, mb, kv, FA_ROWS, Tn);
            fa_cp_commit();
        };
        fa_issue_vbias<T, D>(sVb, vbias);  // in the first group
        issue(0, 0);
        int stage = 0;
        for (int kv0 = 0; kv0 < kvEnd; kv0 += FA_ROWS, stage ^= 1) {
            if (kv0 + FA_ROWS < kvEnd) {
                issue(stage ^ 1, kv0 + FA_ROWS);
                fa_cp_wait<1>();  // this tile's copies are done, the next tile's may still fly
            } else {
                fa_cp_wait<0>();
            }
            __syncthreads();
            fa_tile<T, D, CAUSAL>(sK + stage * TILE, sV + stage * TILE, sMask + stage * FA_ROWS, kv0, row0, row1, sl2, qf, m0,
                       m1, l0, l1, acc);
            __syncthreads();  // every warp is done with this stage before it is refilled
        }
    }
    for (int kv0 = 0; !PIPE && kv0 < kvEnd; kv0 += FA_ROWS) {
        __syncthreads();  // every warp is done with the previous tile (and the Q staging)
        fa_load_tile<T, D>(sK, kb, skt, kv0, Tn, nullptr);
        fa_load_tile<T, D>(sV, vb, svt, kv0, Tn, nullptr);
        if (threadIdx.x < FA_ROWS) {
            const int key = kv0 + threadIdx.x;
            sMask[threadIdx.x] = key < Tn && mb[key] != 0;
        }
        __syncthreads();

        fa_tile<T, D, CAUSAL>(sK, sV, sMask, kv0, row0, row1, sl2, qf, m0, m1, l0, l1, acc);
    }
    T* ob = o + (int64_t)b * sob + (int64_t)h * soh;
    const T* vbo = vbias == nullptr ? nullptr : PIPE ? sVb : vbias;
    fa_store_row<T, D>(ob, sot, row0, Tn, acc, 0, l0, vbo);
    fa_store_row<T, D>(ob, sot, row1, Tn, acc, 1, l1, vbo);
}

// Short sequences (T <= 256): the block's whole key range [0, kvEnd) of K and V (at most 4 tiles of 64
// rows) is staged at once into dynamic shared memory with cp.async, together with its mask, so a block waits
// for memory once rather than once per tile, and its WARPS warps (16 query rows each) share that staging;
// Q fragments come straight from global memory into registers while the copies fly (bias added there,
// rounded to T as the tile load rounds it). The per-warp work is fa_tile, as in the kernels above, with no
// barrier between tiles; a warp stops at the first tile past its own last query row (causal). Registers are
// capped (__launch_bounds__ below) so that more warps fit an SM than the 64-row kernels' 12. Dynamic shared
// memory: roundup64(T)·(D + 8)·2·sizeof(T) bytes for K and V, then roundup64(T) ints of mask, then D values of
// v's bias (the host computes the same size). The mask and v's bias come by cp.async with K and V. WARPS = 4
// (64 query rows) is launched for T <= 128, 8 (128 rows) above.
template <typename T, int D, bool CAUSAL, int WARPS>
__device__ void flash_attention_short(const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias,
                                      int Tn, int H, int Hkv, int sqb, int sqt, int sqh, int skb, int skt, int skh,
                                      int svb, int svt, int svh, int sob, int sot, int soh, float scale) {
    constexpr int LD = D + 8;
    constexpr int CH = D / 8;
    constexpr int FS_ROWS = 16 * WARPS;  // query rows per block
    constexpr int FS_THREADS = 32 * WARPS;
    extern __shared__ __align__(16) unsigned char fs_smem[];
    const int kvRows = (Tn + FA_ROWS - 1) / FA_ROWS * FA_ROWS;  // the host sizes shared memory for these
    T* sK = reinterpret_cast<T*>(fs_smem);
    T* sV = sK + kvRows * LD;
    int* sMask = reinterpret_cast<int*>(sV + kvRows * LD);
    T* sVb = reinterpret_cast<T*>(sMask + kvRows);
    const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest (latest) query blocks start first
    const int b = blockIdx.y / H, h = blockIdx.y - b * H;
    const int kvh = h / (H / Hkv);
    const int q0 = qblock * FS_ROWS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const T* qb = q + (int64_t)b * sqb + (int64_t)h * sqh;
    const T* kb = k + (int64_t)b * skb + (int64_t)kvh * skh;
    const T* vb = v + (int64_t)b * svb + (int64_t)kvh * svh;
    const int* mb = mask + (int64_t)b * Tn;
    // packed q|k|v bias (or none): q's as Q is loaded, v's at the output, k's not at all
    const T* qbias = bias == nullptr ? nullptr : bias + h * D;
    const T* vbias = bias == nullptr ? nullptr : bias + (H + Hkv + kvh) * D;

    // every K/V tile this block needs, in flight at once (zero-filled past Tn)
    const int kvEnd = CAUSAL ? min(Tn, q0 + FS_ROWS) : Tn;
    const int tileEnd = (kvEnd + FA_ROWS - 1) / FA_ROWS * FA_ROWS;
    for (int i = threadIdx.x; i < tileEnd * CH; i += FS_THREADS) {
        const int r = i / CH, ch = i - r * CH;
        const bool ok = r < Tn;
        fa_cp_async16(sK + r * LD + ch * 8, ok ? kb + (int64_t)r * skt + ch * 8 : kb, ok);
        fa_cp_async16(sV + r * LD + ch * 8, ok ? vb + (int64_t)r * svt + ch * 8 : vb, ok);
    }
    fa_issue_mask(sMask, mb, 0, tileEnd, Tn);
    fa_issue_vbias<T, D>(sVb, vbias);
    fa_cp_commit();

    // Q fragments (A operand) from global memory while the copies fly; rows at or past Tn are zeros
    const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int row = (j & 1) ? row1 : row0;
            const int col = kk * 16 + (j >> 1) * 8 + 2 * c;
            uint32_t x = 0u;
            if (row < Tn) {
                x = *reinterpret_cast<const uint32_t*>(qb + (int64_t)row * sqt + col);
                if (qbias != nullptr) {
                    const float2 a = Packed2<T>::to(*reinterpret_cast<const typename Packed2<T>::type*>(&x));
                    const float2 bb = Packed2<T>::to(*reinterpret_cast<const typename Packed2<T>::type*>(qbias + col));
                    x = pack2<T>(a.x + bb.x, a.y + bb.y);
                }
            }
            qf[kk][j] = x;
        }
    }

    fa_cp_wait<0>();
    __syncthreads();

    const float sl2 = scale * 1.4426950408889634f;  // softmax in base 2
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    float acc[D / 8][4];
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
    // causal: a tile starting past this warp's last row holds no visible key for it (warp-uniform exit)
    const int warpEnd = CAUSAL ? min(kvEnd, q0 + warp * 16 + 16) : kvEnd;
    for (int kv0 = 0; kv0 < warpEnd; kv0 += FA_ROWS) {
        fa_tile<T, D, CAUSAL>(sK + kv0 * LD, sV + kv0 * LD, sMask + kv0, kv0, row0, row1, sl2, qf, m0, m1, l0, l1,
                              acc);
    }
    T* ob = o + (int64_t)b * sob + (int64_t)h * soh;
    const T* vbo = vbias == nullptr ? nullptr : sVb;
    fa_store_row<T, D>(ob, sot, row0, Tn, acc, 0, l0, vbo);
    fa_store_row<T, D>(ob, sot, row1, Tn, acc, 1, l1, vbo);
}

// Long sequences (T > 256, the host's choice; any T works): 128 query rows a block, FW_MT = 2 m-tiles of 16
// rows per warp (warp w owns rows 32w..32w+31, both in one 64-row group of the 64-row kernels), so that each
// K fragment (ldmatrix x4) and each V fragment (ldmatrix.trans x4) read from shared memory feeds 4 mma instead
// of 2, and a K/V tile staged once serves 128 query rows. K/V tiles of 64 keys, double-buffered with cp.async
// in dynamic shared memory: [2][64][D + 8] of K, the same of V, a [128][D + 8] Q tile (bias added and rounded
// as fa_load_tile rounds it), then [2][64] mask ints and D values of v's bias (the host computes the same size).
// The Q fragments are read from the Q tile with ldmatrix per key tile (kept in registers as well, they spill).
// Each row meets the key tiles the 64-row kernels give it, in the same order (a warp skips the block's last tile
// when it lies past its own rows, causal), through fa_tile_mt's per-row arithmetic, so each output row is the
// same bits as theirs. 4 warps (FA_THREADS). Why 2 m-tiles and not more: at D = 64 the kernel takes 178-188
// registers (sm_90, nvcc 13.0, no spills), 2 blocks an SM; a third m-tile adds 64 accumulator and score
// registers, past the 255 limit.
constexpr int FW_MT = 2;
constexpr int FW_ROWS = 4 * 16 * FW_MT;  // query rows per block

template <typename T, int D, bool CAUSAL>
__device__ void flash_attention_wide(const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn,
                                     int H, int Hkv, int sqb, int sqt, int sqh, int skb, int skt, int skh, int svb,
                                     int svt, int svh, int sob, int sot, int soh, float scale) {
    constexpr int LD = D + 8;
    constexpr int TILE = FA_ROWS * LD;
    constexpr int MT = FW_MT;
    extern __shared__ __align__(16) unsigned char fw_smem[];
    T* sK = reinterpret_cast<T*>(fw_smem);
    T* sV = sK + 2 * TILE;
    T* sQ = sV + 2 * TILE;
    int* sMask = reinterpret_cast<int*>(sQ + FW_ROWS * LD);
    T* sVb = reinterpret_cast<T*>(sMask + 2 * FA_ROWS);
    const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest (latest) query blocks start first
    const int b = blockIdx.y / H, h = blockIdx.y - b * H;
    const int kvh = h / (H / Hkv);
    const int q0 = qblock * FW_ROWS;
    const int warp = threadIdx.x >> 5, g = (threadIdx.x & 31) >> 2;
    const T* qb = q + (int64_t)b * sqb + (int64_t)h * sqh;
    const T* kb = k + (int64_t)b * skb + (int64_t)kvh * skh;
    const T* vb = v + (int64_t)b * svb + (int64_t)kvh * svh;
    const int* mb = mask + (int64_t)b * Tn;
    // packed q|k|v bias [(H + 2·Hkv)·D] (or none): q's as Q is loaded, v's at the output, k's not at all
    const T* qbias = bias == nullptr ? nullptr : bias + h * D;
    const T* vbias = bias == nullptr ? nullptr : bias + (H + Hkv + kvh) * D;

    const int kvEnd = CAUSAL ? min(Tn, q0 + FW_ROWS) : Tn;  // causal: no key past the block's last query
    auto issue = [&](int stage, int kv) {
        fa_issue_tile<T, D>(sK + stage * TILE, kb, skt, kv, Tn);
        fa_issue_tile<T, D>(sV + stage * TILE, vb, svt, kv, Tn);
        fa_issue_mask(sMask + stage * FA_ROWS, mb, kv, FA_ROWS, Tn);
        fa_cp_commit();
    };
    fa_issue_vbias<T, D>(sVb, vbias);  // in the first group
    issue(0, 0);  // the first tile flies while Q is staged

    // Q rows q0..q0+127 (rows at or past Tn zeros); the loop's first barrier publishes them
    fa_load_tile<T, D>(sQ, qb, sqt, q0, Tn, qbias);
    fa_load_tile<T, D>(sQ + FA_ROWS * LD, qb, sqt, q0 + FA_ROWS, Tn, qbias);
    const T* qw = sQ + warp * 32 * LD;  // this warp's 32 rows
    const uint32_t qf[1][D / 16][4] = {};  // unused: MT > 1 reads Q from qw

    const float sl2 = scale * 1.4426950408889634f;  // softmax in base 2
    int rows[MT][2];
    float m[MT][2], l[MT][2];
    float acc[MT][D / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        rows[mt][0] = q0 + warp * 32 + mt * 16 + g;
        rows[mt][1] = rows[mt][0] + 8;
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.f;
#pragma unroll
        for (int nt = 0; nt < D / 8; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.f;
    }
    // causal: a tile starting past this warp's last row holds no key the 64-row kernels show its rows
    const int warpEnd = CAUSAL ? min(kvEnd, q0 + warp * 32 + 32) : kvEnd;
    int stage = 0;
    for (int kv0 = 0; kv0 < kvEnd; kv0 += FA_ROWS, stage ^= 1) {
        if (kv0 + FA_ROWS < kvEnd) {
            issue(stage ^ 1, kv0 + FA_ROWS);
            fa_cp_wait<1>();  // this tile's copies are done, the next tile's may still fly
        } else {
            fa_cp_wait<0>();
        }
        __syncthreads();
        if (kv0 < warpEnd) {  // warp-uniform
            fa_tile_mt<T, D, CAUSAL, MT>(sK + stage * TILE, sV + stage * TILE, sMask + stage * FA_ROWS, kv0, rows,
                                         sl2, qf, qw, m, l, acc);
        }
        __syncthreads();  // every warp is done with this stage before it is refilled
    }
    T* ob = o + (int64_t)b * sob + (int64_t)h * soh;
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            fa_store_row<T, D>(ob, sot, rows[mt][j], Tn, acc[mt], j, l[mt][j], vbias == nullptr ? nullptr : sVb);
        }
    }
}


// ---- Hopper (sm_90a): the same attention on warpgroup MMA (wgmma) ----
// flash_attention[_bidir]_h_d64_*: 128 query rows a block, two warpgroups of 64 (warp w of a warpgroup owns its
// rows 16w..16w+15, as a warp of the 64-row kernels does), K/V tiles of 64 keys in three cp.async stages shared by
// both. Per key tile a warpgroup computes S = Q·Kᵀ with four wgmma m64n64k16 (Q's fragments in registers, K from
// shared memory), the per-row masked online softmax of the 64-row kernels (fa_online_softmax, the same code), and
// O += P·V with four more (P from registers as the mma.sync kernels form it, V from shared memory read transposed).
// wgmma's register fragments and accumulators are laid out per warp as mma.sync m16n8k16's, so the fragment code is
// shared too. The tensor cores read K and V from shared memory themselves: no ldmatrix, and two warpgroups' worth
// of rows per staged tile. Tiles are stored in the 128-byte swizzle wgmma reads (16-byte chunk ch of key row r at
// r·128 + 16·(ch ^ (r mod 8)), tiles 1024-byte aligned). D = 64 only; compiled for sm_90a only (the host launches
// it on compute capability 9.0 alone; elsewhere the body traps).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ZT_SM90A 1
#endif
constexpr int FH_WG = 2;                  // warpgroups a block
constexpr int FH_ROWS = 64 * FH_WG;       // query rows a block
static_assert(FH_ROWS == 2 * FA_ROWS, "a block's query rows are two key tiles' worth");
constexpr int FH_THREADS = 128 * FH_WG;
constexpr int FH_STAGES = 3;              // K/V tiles in flight
constexpr int FH_TILE = FA_ROWS * 64;     // elements of one 64-key tile at D = 64 (8 KB)
// dynamic shared memory: 1024 bytes of alignment slack, then [STAGES] K tiles, [STAGES] V tiles, [STAGES][64]
// mask ints and 64 values of v's bias (the host computes the same size)
#ifdef ZT_SM90A  // the helpers below exist for the sm_90a compilation only

// A wgmma matrix descriptor of a 128-byte-swizzled operand at shared address addr: leading and stride byte offsets
// both 1024 (the 8-row groups of a K-major tile; for the transposed V tile, the next 8 keys, its only stride).
__device__ __forceinline__ uint64_t fh_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)(1024u >> 4) << 16) | ((uint64_t)(1024u >> 4) << 32) |
           (1ull << 62);
}
__device__ __forceinline__ void fh_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void fh_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void fh_wait0() {
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Keeps the compiler from moving reads or writes of accumulator registers across a wgmma issue or wait.
__device__ __forceinline__ void fh_pin(float (&x)[8][4]) {
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) asm volatile("" : "+f"(x[i][j])::"memory");
}
// d (+)= a·B for one warpgroup, m64n64k16: a the warp's A fragment (mma.sync m16n8k16 layout), B from desc (K-major,
// or N-major where TRANSB), d the warp's 16x64 f32 accumulator as 8 mma.sync n-tiles; accumulate = 0 ignores d.
template <typename T, int TRANSB>
__device__ __forceinline__ void fh_wgmma(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc, int accumulate);
#define ZT_FH_WGMMA(TN, TY)                                                                                          \
    template <>                                                                                                      \
    __device__ __forceinline__ void fh_wgmma<TN, 0>(float(&d)[8][4], const uint32_t(&a)[4], uint64_t desc,          \
                                                   int accumulate) {                                                \
        ZT_FH_WGMMA_ASM(TY, "0")                                                                                     \
    }                                                                                                                \
    template <>                                                                                                      \
    __device__ __forceinline__ void fh_wgmma<TN, 1>(float(&d)[8][4], const uint32_t(&a)[4], uint64_t desc,          \
                                                   int accumulate) {                                                \
        ZT_FH_WGMMA_ASM(TY, "1")                                                                                     \
    }
// the instruction with the element type TY and imm-trans-b TB (string literals)
#define ZT_FH_WGMMA_ASM(TY, TB)                                                                                      \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                                      \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " "                                         \
                 "{%0, %1, %2, %3, %4, %5, %6, %7, "                                                                 \
                 "%8, %9, %10, %11, %12, %13, %14, %15, "                                                            \
                 "%16, %17, %18, %19, %20, %21, %22, %23, "                                                          \
                 "%24, %25, %26, %27, %28, %29, %30, %31}, "                                                         \
                 "{%32, %33, %34, %35}, %36, p, 1, 1, " TB ";\n}\n"                                                   \
                 : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), \
                   "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), \
                   "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), \
                   "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), \
                   "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), \
                   "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), \
                   "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), \
                   "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]) \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(accumulate));
ZT_FH_WGMMA(bf16, "bf16")
ZT_FH_WGMMA(__half, "f16")
#undef ZT_FH_WGMMA
#undef ZT_FH_WGMMA_ASM
#endif  // ZT_SM90A

template <typename T, bool CAUSAL>
__device__ void flash_attention_hopper(const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias,
                                       int Tn, int H, int Hkv, int sqb, int sqt, int sqh, int skb, int skt, int skh,
                                       int svb, int svt, int svh, int sob, int sot, int soh, float scale) {
#ifdef ZT_SM90A
    constexpr int D = 64;
    constexpr int NT = FA_ROWS / 8;
    extern __shared__ __align__(16) unsigned char fh_smem[];
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(fh_smem);
    unsigned char* base = fh_smem + (((raw + 1023u) & ~1023u) - raw);
    T* sK = reinterpret_cast<T*>(base);
    T* sV = sK + FH_STAGES * FH_TILE;
    int* sMask = reinterpret_cast<int*>(sV + FH_STAGES * FH_TILE);
    T* sVb = reinterpret_cast<T*>(sMask + FH_STAGES * FA_ROWS);
    const uint32_t sKa = (uint32_t)__cvta_generic_to_shared(sK), sVa = (uint32_t)__cvta_generic_to_shared(sV);
    const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest (latest) query blocks start first
    const int b = blockIdx.y / H, h = blockIdx.y - b * H;
    const int kvh = h / (H / Hkv);
    const int q0 = qblock * FH_ROWS;
    const int wg = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2,
              c = lane & 3;
    const T* qb = q + (int64_t)b * sqb + (int64_t)h * sqh;
    const T* kb = k + (int64_t)b * skb + (int64_t)kvh * skh;
    const T* vb = v + (int64_t)b * svb + (int64_t)kvh * svh;
    const int* mb = mask + (int64_t)b * Tn;
    // packed q|k|v bias (or none): q's as Q is loaded, v's at the output, k's not at all
    const T* qbias = bias == nullptr ? nullptr : bias + h * D;
    const T* vbias = bias == nullptr ? nullptr : bias + (H + Hkv + kvh) * D;

    const int kvEnd = CAUSAL ? min(Tn, q0 + FH_ROWS) : Tn;  // causal: no key past the block's last query
    const int tiles = (kvEnd + FA_ROWS - 1) / FA_ROWS;
    // one K and one V tile into a stage, swizzled, zeros past Tn; 8 threads a key row, 32 rows a pass
    auto issue = [&](int stage, int kv) {
        const int ch = threadIdx.x & 7, r0 = threadIdx.x >> 3;
#pragma unroll
        for (int j = 0; j < FA_ROWS / (FH_THREADS / 8); j++) {
            const int r = r0 + j * (FH_THREADS / 8);
            const bool ok = kv + r < Tn;
            const int off = stage * FH_TILE + r * 64 + ((ch ^ (r & 7)) << 3);
            fa_cp_async16(sK + off, ok ? kb + (int64_t)(kv + r) * skt + ch * 8 : kb, ok);
            fa_cp_async16(sV + off, ok ? vb + (int64_t)(kv + r) * svt + ch * 8 : vb, ok);
        }
        fa_issue_mask(sMask + stage * FA_ROWS, mb, kv, FA_ROWS, Tn);
    };
    fa_issue_vbias<T, D>(sVb, vbias);
    issue(0, 0);
    fa_cp_commit();
    if (tiles > 1) issue(1, FA_ROWS);
    fa_cp_commit();  // committed even when empty: group t holds tile t

    // Q fragments (A operand) from global memory while the copies fly; rows at or past Tn are zeros
    const int row0 = q0 + wg * 64 + warp * 16 + g, row1 = row0 + 8;
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int row = (j & 1) ? row1 : row0;
            const int col = kk * 16 + (j >> 1) * 8 + 2 * c;
            uint32_t x = 0u;
            if (row < Tn) {
                x = *reinterpret_cast<const uint32_t*>(qb + (int64_t)row * sqt + col);
                if (qbias != nullptr) {
                    const float2 a = Packed2<T>::to(*reinterpret_cast<const typename Packed2<T>::type*>(&x));
                    const float2 bb = Packed2<T>::to(*reinterpret_cast<const typename Packed2<T>::type*>(qbias + col));
                    x = pack2<T>(a.x + bb.x, a.y + bb.y);
                }
            }
            qf[kk][j] = x;
        }
    }

    const float sl2 = scale * 1.4426950408889634f;  // softmax in base 2
    const int rows[1][2] = {{row0, row1}};
    float m[1][2] = {{-INFINITY, -INFINITY}}, l[1][2] = {{0.f, 0.f}};
    float s[1][NT][4], acc[D / 8][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) s[0][nt][0] = s[0][nt][1] = s[0][nt][2] = s[0][nt][3] = 0.f;
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
    const int wgLast = q0 + wg * 64 + 63;  // causal: a tile starting past it holds no key for this warpgroup
    // the warpgroup's tiles (causal: none starting past its last row; warpgroup-uniform)
    const int wgTiles = CAUSAL ? min(tiles, wgLast / FA_ROWS + 1) : tiles;
    uint32_t pa[FA_ROWS / 16][4];
    // S = Q·Kᵀ of the tile in stage st into s (issued and committed, not waited for)
    auto scores = [&](int st) {
        const uint32_t kTile = sKa + st * FH_TILE * 2;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) fh_wgmma<T, 0>(s[0], qf[kk], fh_desc(kTile + kk * 32), kk > 0);
        fh_commit();
    };
    // O += P·V of the tile in stage st (issued and committed)
    auto values = [&](int st) {
        const uint32_t vTile = sVa + st * FH_TILE * 2;
#pragma unroll
        for (int kk = 0; kk < FA_ROWS / 16; kk++) fh_wgmma<T, 1>(acc, pa[kk], fh_desc(vTile + kk * 16 * 128), 1);
        fh_commit();
    };
    // the online softmax of the scores in s (tile t, stage st): m, l and al; s becomes P
    auto softmax = [&](int t, int st, float (&al)[1][2]) {
        const uint32_t vis0 = __ballot_sync(0xffffffffu, sMask[st * FA_ROWS + lane] != 0);
        const uint32_t vis1 = __ballot_sync(0xffffffffu, sMask[st * FA_ROWS + 32 + lane] != 0);
        fa_online_softmax<CAUSAL, 1, NT>(s, vis0, vis1, t * FA_ROWS, rows, sl2, m, l, al);
    };
    // P (in s) rounded to T as P·V's A fragments; only once the previous P·V, which reads pa, is complete
    auto packP = [&]() {
#pragma unroll
        for (int kk = 0; kk < FA_ROWS / 16; kk++) {
            pa[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);
            pa[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);
            pa[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
            pa[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
        }
    };
    // Software-pipelined: tile t + 1's scores are issued before tile t's P·V, so that their softmax runs on the
    // ALU and SFU while the tensor cores do P·V (groups complete in order: waiting for all but the last group
    // waits for the scores). Stages: tile t + 2 is copied while tiles t and t + 1 are read.
    fa_cp_wait<1>();
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();
    if (wgTiles > 0) {
        fh_fence();
        scores(0);
        fh_wait0();
        fh_pin(s[0]);
        float al[1][2];
        softmax(0, 0, al);
        packP();
    }
    for (int t = 0; t < tiles; t++) {
        fa_cp_wait<0>();  // tile t + 1 has landed
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();  // tile t + 1 visible; every warpgroup done with tile t - 1's stage
        if (t + 2 < tiles) issue((t + 2) % FH_STAGES, (t + 2) * FA_ROWS);
        fa_cp_commit();
        if (t >= wgTiles) continue;
        if (t + 1 < wgTiles) {
            fh_fence();
            scores((t + 1) % FH_STAGES);
            values(t % FH_STAGES);
            asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
            fh_pin(s[0]);
            float al[1][2];
            softmax(t + 1, (t + 1) % FH_STAGES, al);
            fh_wait0();
            fh_pin(acc);
            packP();
            fa_rescale<D>(acc, al[0]);
        } else {
            fh_fence();
            values(t % FH_STAGES);
            fh_wait0();
            fh_pin(acc);
        }
    }
    T* ob = o + (int64_t)b * sob + (int64_t)h * soh;
    const T* vbo = vbias == nullptr ? nullptr : sVb;
    fa_store_row<T, D>(ob, sot, row0, Tn, acc, 0, l[0][0], vbo);
    fa_store_row<T, D>(ob, sot, row1, Tn, acc, 1, l[0][1], vbo);
#else
    __trap();  // sm_90a only: the host never launches it elsewhere
#endif
}

// ---- float32 on the tensor cores: 3xTF32 ----
// flash_attention[_bidir]_x3_d{32,64}_f32: the 64-row kernels' attention (64 query rows a block, 16 a warp, key tiles
// of 64 in two cp.async stages, the same masked online softmax) for float32 q, k, v, with both products on
// mma.sync m16n8k8 .tf32. Each operand x is split into big = x rounded to TF32 (10 mantissa bits, to nearest, ties away
// from zero) and small = x - big (exact in float32; the tensor cores read its top 19 bits), and a·b is taken as
// a_small·b_big + a_big·b_small + a_big·b_big with float32 accumulation (a_small·b_small, below 2^-22·|a·b|, is
// dropped): float32-level accuracy on the tensor cores is the aim (fx_mma3 says how far it got), by the split
// PyTorch's float32 memory-efficient sdpa computes with (CUTLASS's OpMultiplyAddFastF32). No [T, T] matrix reaches
// memory. q's bias is added in float32 as Q is loaded, k's cancels in the softmax and v's is added at the output, as
// in the 16-bit kernels (flash_attention.cu's head).
// The contraction index of each product is permuted so that loads are vectors and P needs no shuffle: in k-step
// 2p + e of Q·Kᵀ, fragment column c is head dimension 16p + 4c + 2e and column c + 4 is 16p + 4c + 2e + 1 (one 16-byte
// load of a Q or K row serves two k-steps); in P·V, column c of k-step nt is key 8nt + 2c and column c + 4 is key
// 8nt + 2c + 1, where S's accumulator layout leaves P. Shared K and V tiles are [64][D] floats, their 16-byte chunks
// swizzled so that neither fragment load has bank conflicts: K's chunk ch of key row r at ch ^ 4(r & 1) (the 16-byte
// loads of a quarter warp read rows g and g + 1), V's at ch ^ 2((r >> 1) & 3) (a warp's 4-byte loads read rows
// 8nt + 2c, columns 8np + g). Dynamic shared memory: 2 stages of a K and a V tile, then 2·64 mask ints, then D floats
// of v's bias (the host computes the same size).
constexpr int FX_THREADS = 128;

// x = big + small: big rounded to TF32 (ties away from zero), small the exact rest, as .b32 mma operands.
__device__ __forceinline__ void fx_split(float x, uint32_t& big, uint32_t& small) {
    big = (__float_as_uint(x) + 0x1000u) & 0xffffe000u;
    small = __float_as_uint(x - __uint_as_float(big));
}

// c += a·b for one 16x8 tile (A 16x8 row-major, B 8x8 column-major), TF32 inputs.
__device__ __forceinline__ void fx_mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// a·b in 3xTF32 (ab, as: A's big and small parts; bb*, bs*: B's): the big product into c, the two small ones into cs.
// The tensor cores are reported to truncate their float32 sums (Fasi et al., "Numerical behavior of NVIDIA tensor
// cores", PeerJ CS 2021, on A100), so an mma may lose up to an ulp of its accumulator, always toward zero: kept in one
// accumulator, the two small terms would cost an ulp of the big sum each, and a running sum over every key tile (P·V)
// an ulp per k-step of the whole row. So the caller keeps the small terms apart, the scores per n-tile and P·V per key
// tile, and adds them (rounded to nearest) at the end of the tile. The first version, one accumulator each, had
// errors to the plain-Java attention up to 2.4e-5 that grew with T (FlashF32AttentionTest on an H100, 2026-12-06,
// inputs of scale 1.5, T up to 513; the unfused path's 8.6e-6); this one's are at most 5.3e-6, below the unfused
// path's at every T from 127 up (the same test, 2026-12-06 19:07 UTC), and 1.1e-6 to a double-precision attention at
// 32x512 (native/dev/flash_x3_check.cu; 6.5e-6 before).
__device__ __forceinline__ void fx_mma3(float (&c)[4], float (&cs)[4], const uint32_t (&ab)[4],
                                        const uint32_t (&as)[4], uint32_t bb0, uint32_t bb1, uint32_t bs0,
                                        uint32_t bs1) {
    fx_mma(cs, as, bb0, bb1);
    fx_mma(cs, ab, bs0, bs1);
    fx_mma(c, ab, bb0, bb1);
}

// One key tile (stage sK, sV, sMask) folded into a warp's 16 query rows: S = Q·Kᵀ, the masked online softmax of the
// 16-bit kernels (fa_online_softmax), acc += P·V. qb, qs: Q's fragments, big and small, per k-step.
template <int D, bool CAUSAL>
__device__ __forceinline__ void fx_tile(const float* sK, const float* sV, const int* sMask, int kv0,
                                        const int (&rows)[1][2], float sl2, const uint32_t (&qb)[D / 8][4],
                                        const uint32_t (&qs)[D / 8][4], float (&m)[1][2], float (&l)[1][2],
                                        float (&acc)[D / 8][4]) {
    constexpr int NT = FA_ROWS / 8;
    const int lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const uint32_t vis0 = __ballot_sync(0xffffffffu, sMask[lane] != 0);
    const uint32_t vis1 = __ballot_sync(0xffffffffu, sMask[32 + lane] != 0);
    float s[1][NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) s[0][nt][0] = s[0][nt][1] = s[0][nt][2] = s[0][nt][3] = 0.f;
    // key row 8nt + g, head dimensions 16p + 4c..+3 in chunk 4p + c, stored at chunk 4(p ^ (g & 1)) + c: an even p
    // reads 16 floats further when g is odd, an odd p 16 floats back
    const int par = (g & 1) * 16;
    const float* kEven = sK + g * D + 4 * c + par;
    const float* kOdd = sK + g * D + 4 * c - par;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        float sm[4] = {0.f, 0.f, 0.f, 0.f};  // the small terms, apart (see fx_mma3)
#pragma unroll
        for (int p = 0; p < D / 16; p++) {
            const float4 x = *reinterpret_cast<const float4*>(((p & 1) ? kOdd : kEven) + nt * 8 * D + 16 * p);
            uint32_t bb[4], bs[4];
            fx_split(x.x, bb[0], bs[0]);
            fx_split(x.y, bb[1], bs[1]);
            fx_split(x.z, bb[2], bs[2]);
            fx_split(x.w, bb[3], bs[3]);
            fx_mma3(s[0][nt], sm, qb[2 * p], qs[2 * p], bb[0], bb[1], bs[0], bs[1]);
            fx_mma3(s[0][nt], sm, qb[2 * p + 1], qs[2 * p + 1], bb[2], bb[3], bs[2], bs[3]);
        }
#pragma unroll
        for (int e = 0; e < 4; e++) s[0][nt][e] += sm[e];
    }
    float al[1][2];
    fa_online_softmax<CAUSAL, 1, NT>(s, vis0, vis1, kv0, rows, sl2, m, l, al);
    // this tile's P·V in its own accumulators, added to the rescaled running ones once (see fx_mma3)
    float at[D / 8][4], atm[D / 8][4];
#pragma unroll
    for (int np = 0; np < D / 8; np++) {
#pragma unroll
        for (int e = 0; e < 4; e++) at[np][e] = atm[np][e] = 0.f;
    }
    // V at key rows 8nt + 2c and + 1, head dimension 8np + g: chunk 2np + g / 4 stored at 2(np ^ c) + g / 4, i.e.
    // float 8(np ^ c) + g of the row; np ^ c = 4(np / 4) + (np % 4 ^ c), so four base pointers and constant offsets
    const float* vp[4];
#pragma unroll
    for (int j = 0; j < 4; j++) vp[j] = sV + 2 * c * D + g + 8 * (j ^ c);
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        // P's A fragment (rows g, g + 8; keys 8nt + 2c, 8nt + 2c + 1) straight from the score accumulators
        uint32_t pb[4], ps[4];
        fx_split(s[0][nt][0], pb[0], ps[0]);
        fx_split(s[0][nt][2], pb[1], ps[1]);
        fx_split(s[0][nt][1], pb[2], ps[2]);
        fx_split(s[0][nt][3], pb[3], ps[3]);
#pragma unroll
        for (int np = 0; np < D / 8; np++) {
            const float* vr = vp[np & 3] + nt * 8 * D + 32 * (np >> 2);
            uint32_t vb0, vs0, vb1, vs1;
            fx_split(vr[0], vb0, vs0);
            fx_split(vr[D], vb1, vs1);
            fx_mma3(at[np], atm[np], pb, ps, vb0, vb1, vs0, vs1);
        }
    }
#pragma unroll
    for (int np = 0; np < D / 8; np++) {
        acc[np][0] = fmaf(acc[np][0], al[0][0], at[np][0] + atm[np][0]);
        acc[np][1] = fmaf(acc[np][1], al[0][0], at[np][1] + atm[np][1]);
        acc[np][2] = fmaf(acc[np][2], al[0][1], at[np][2] + atm[np][2]);
        acc[np][3] = fmaf(acc[np][3], al[0][1], at[np][3] + atm[np][3]);
    }
}

template <int D, bool CAUSAL>
__device__ void flash_attention_x3(const float* q, const float* k, const float* v, float* o, const int* mask,
                                   const float* bias, int Tn, int H, int Hkv, int sqb, int sqt, int sqh, int skb,
                                   int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,
                                   float scale) {
    constexpr int CH = D / 4;                 // 16-byte chunks a row
    constexpr int TILE = FA_ROWS * D;         // floats of a K or V tile
    constexpr int STEP = FX_THREADS / CH;     // rows between a thread's chunks
    static_assert(STEP % 8 == 0, "a thread's rows share their swizzle");
    extern __shared__ __align__(16) unsigned char fx_smem[];
    float* sK = reinterpret_cast<float*>(fx_smem);
    float* sV = sK + 2 * TILE;
    int* sMask = reinterpret_cast<int*>(sV + 2 * TILE);
    float* sVb = reinterpret_cast<float*>(sMask + 2 * FA_ROWS);
    const int qblock = gridDim.x - 1 - blockIdx.x;  // the longest (latest) query blocks start first
    const int b = blockIdx.y / H, h = blockIdx.y - b * H;
    const int kvh = h / (H / Hkv);
    const int q0 = qblock * FA_ROWS;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const float* qb = q + (int64_t)b * sqb + (int64_t)h * sqh;
    const float* kb = k + (int64_t)b * skb + (int64_t)kvh * skh;
    const float* vb = v + (int64_t)b * svb + (int64_t)kvh * svh;
    const int* mb = mask + (int64_t)b * Tn;
    // packed q|k|v bias [(H + 2·Hkv)·D] (or none): q's as Q is loaded, v's at the output, k's not at all
    const float* qbias = bias == nullptr ? nullptr : bias + h * D;
    const float* vbias = bias == nullptr ? nullptr : bias + (H + Hkv + kvh) * D;

    const int kvEnd = CAUSAL ? min(Tn, q0 + FA_ROWS) : Tn;  // causal: no key past the block's last query
    // a thread copies chunk ch of rows r0, r0 + STEP, ...: all of one parity and one (r >> 1) & 3, so one swizzle
    const int r0 = threadIdx.x / CH, ch = threadIdx.x % CH;
    const int kDst = r0 * D + 4 * (ch ^ ((r0 & 1) << 2)), vDst = r0 * D + 4 * (ch ^ (((r0 >> 1) & 3) << 1));
    auto issue = [&](int stage, int kv) {
        const float* ks = kb + (int64_t)kv * skt + (r0 * skt + 4 * ch);
        const float* vs = vb + (int64_t)kv * svt + (r0 * svt + 4 * ch);
#pragma unroll
        for (int j = 0; j < FA_ROWS / STEP; j++) {
            const bool ok = kv + r0 + j * STEP < Tn;
            fa_cp_async16(sK + stage * TILE + kDst + j * STEP * D, ok ? ks + j * STEP * skt : kb, ok);
            fa_cp_async16(sV + stage * TILE + vDst + j * STEP * D, ok ? vs + j * STEP * svt : vb, ok);
        }
        fa_issue_mask(sMask + stage * FA_ROWS, mb, kv, FA_ROWS, Tn);
        fa_cp_commit();
    };
    if (vbias != nullptr) {  // v's bias in the first group
        for (int i = threadIdx.x; i < D; i += FX_THREADS) fa_cp_async4(sVb + i, vbias + i, true);
    }
    issue(0, 0);

    // Q's fragments from global memory while the copies fly (rows at or past Tn zeros), split into big and small
    const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    uint32_t qfb[D / 8][4], qfs[D / 8][4];
#pragma unroll
    for (int p = 0; p < D / 16; p++) {
        float4 x[2];
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int row = j ? row1 : row0;
            x[j] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (row < Tn) {
                x[j] = *reinterpret_cast<const float4*>(qb + (int64_t)row * sqt + 16 * p + 4 * c);
                if (qbias != nullptr) {
                    const float4 bq = *reinterpret_cast<const float4*>(qbias + 16 * p + 4 * c);
                    x[j].x += bq.x;
                    x[j].y += bq.y;
                    x[j].z += bq.z;
                    x[j].w += bq.w;
                }
            }
        }
        // k-step 2p: columns c, c + 4 are dimensions 16p + 4c, + 1 (a0 / a2 row g, a1 / a3 row g + 8); 2p + 1: + 2, + 3
        fx_split(x[0].x, qfb[2 * p][0], qfs[2 * p][0]);
        fx_split(x[1].x, qfb[2 * p][1], qfs[2 * p][1]);
        fx_split(x[0].y, qfb[2 * p][2], qfs[2 * p][2]);
        fx_split(x[1].y, qfb[2 * p][3], qfs[2 * p][3]);
        fx_split(x[0].z, qfb[2 * p + 1][0], qfs[2 * p + 1][0]);
        fx_split(x[1].z, qfb[2 * p + 1][1], qfs[2 * p + 1][1]);
        fx_split(x[0].w, qfb[2 * p + 1][2], qfs[2 * p + 1][2]);
        fx_split(x[1].w, qfb[2 * p + 1][3], qfs[2 * p + 1][3]);
    }

    const float sl2 = scale * 1.4426950408889634f;  // softmax in base 2
    const int rows[1][2] = {{row0, row1}};
    float m[1][2] = {{-INFINITY, -INFINITY}}, l[1][2] = {{0.f, 0.f}};
    float acc[D / 8][4];
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
    int stage = 0;
    for (int kv0 = 0; kv0 < kvEnd; kv0 += FA_ROWS, stage ^= 1) {
        if (kv0 + FA_ROWS < kvEnd) {
            issue(stage ^ 1, kv0 + FA_ROWS);
            fa_cp_wait<1>();  // this tile's copies are done, the next tile's may still fly
        } else {
            fa_cp_wait<0>();
        }
        __syncthreads();
        fx_tile<D, CAUSAL>(sK + stage * TILE, sV + stage * TILE, sMask + stage * FA_ROWS, kv0, rows, sl2, qfb, qfs, m,
                           l, acc);
        __syncthreads();  // every warp is done with this stage before it is refilled
    }
    // rows g and g + 8: acc / l (+ v's bias where the row saw a key), zeros for a row with no visible key
    float* ob = o + (int64_t)b * sob + (int64_t)h * soh;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        float lj = l[0][j];
        lj += __shfl_xor_sync(0xffffffffu, lj, 1);
        lj += __shfl_xor_sync(0xffffffffu, lj, 2);
        const int row = j ? row1 : row0;
        if (row >= Tn) continue;
        const float inv = lj > 0.f ? 1.f / lj : 0.f;
        const bool withBias = vbias != nullptr && lj > 0.f;
        float* orow = ob + (int64_t)row * sot;
#pragma unroll
        for (int np = 0; np < D / 8; np++) {
            float2 r = make_float2(acc[np][2 * j] * inv, acc[np][2 * j + 1] * inv);
            if (withBias) {
                r.x += sVb[np * 8 + 2 * c];
                r.y += sVb[np * 8 + 2 * c + 1];
            }
            *reinterpret_cast<float2*>(orow + np * 8 + 2 * c) = r;
        }
    }
}

}  // namespace

extern "C" {
// DIR: the kernel-name infix (empty for causal, bidir_ for bidirectional) and CAUSAL its mask
#define ZT_FLASH(DIM, SUF, T, DIR, CAUSAL)                                                                       \
    __global__ void __launch_bounds__(FA_THREADS) flash_attention_##DIR##d##DIM##_##SUF(                         \
        const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn, int H, int Hkv, int sqb, \
        int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,       \
        float scale) {                                                                                           \
        flash_attention<T, DIM, false, CAUSAL>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh, \
                                               svb, svt, svh, sob, sot, soh, scale);                             \
    }
// two stages of 64 rows of K and V fit the 48 KB of static shared memory up to D = 80; MINB blocks an SM as the
// register bound (0: none): 4 at D = 64 holds it at 128 registers without spills, so 4 blocks fit an SM, not 3
#define ZT_FLASH_P(DIM, MINB, SUF, T, DIR, CAUSAL)                                                               \
    __global__ void __launch_bounds__(FA_THREADS, MINB) flash_attention_##DIR##p_d##DIM##_##SUF(                 \
        const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn, int H, int Hkv, int sqb, \
        int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,       \
        float scale) {                                                                                           \
        flash_attention<T, DIM, true, CAUSAL>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh,  \
                                              svb, svt, svh, sob, sot, soh, scale);                              \
    }
// T <= 256 only (the host checks): flash_attention[_bidir]_s{W}_d*, W warps (16·W query rows) per block, dynamic
// shared memory; MINB blocks an SM as the register bound: 128 registers at D = 64 (no spills), more at larger D so
// that none spill
#define ZT_FLASH_S(W, DIM, MINB, SUF, T, DIR, CAUSAL)                                                               \
    __global__ void __launch_bounds__(32 * W, MINB) flash_attention_##DIR##s##W##_d##DIM##_##SUF(                 \
        const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn, int H, int Hkv, int sqb,  \
        int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,        \
        float scale) {                                                                                            \
        flash_attention_short<T, DIM, CAUSAL, W>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh, \
                                                 svb, svt, svh, sob, sot, soh, scale);                            \
    }
// flash_attention[_bidir]_w_d*: 128 query rows a block (flash_attention_wide), dynamic shared memory
#define ZT_FLASH_W(DIM, SUF, T, DIR, CAUSAL)                                                           \
    __global__ void __launch_bounds__(FA_THREADS) flash_attention_##DIR##w_d##DIM##_##SUF(                 \
        const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn, int H, int Hkv, int sqb, \
        int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,       \
        float scale) {                                                                                           \
        flash_attention_wide<T, DIM, CAUSAL>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh, \
                                           svb, svt, svh, sob, sot, soh, scale);                                 \
    }
#define ZT_FLASH_ALL(SUF, T, DIR, CAUSAL) \
    ZT_FLASH(64, SUF, T, DIR, CAUSAL)     \
    ZT_FLASH(80, SUF, T, DIR, CAUSAL)     \
    ZT_FLASH(96, SUF, T, DIR, CAUSAL)     \
    ZT_FLASH(128, SUF, T, DIR, CAUSAL)    \
    ZT_FLASH_P(64, 4, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_P(80, 0, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_S(4, 64, 4, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(4, 80, 3, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(4, 96, 3, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(4, 128, 2, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_S(8, 64, 2, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(8, 80, 1, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(8, 96, 1, SUF, T, DIR, CAUSAL)  \
    ZT_FLASH_S(8, 128, 1, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_W(64, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_W(80, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_W(96, SUF, T, DIR, CAUSAL) \
    ZT_FLASH_W(128, SUF, T, DIR, CAUSAL)
ZT_FLASH_ALL(bf16, bf16, , true)
ZT_FLASH_ALL(bf16, bf16, bidir_, false)
// f16: the same kernels on the .f16 form of mma.sync (P rounded to f16)
ZT_FLASH_ALL(f16, __half, , true)
ZT_FLASH_ALL(f16, __half, bidir_, false)
#undef ZT_FLASH_ALL
// flash_attention[_bidir]_h_d64_*: the Hopper kernel (flash_attention_hopper), 128 query rows a block, 256 threads,
// dynamic shared memory; at most 128 registers so that two blocks fit an SM
#define ZT_FLASH_H(SUF, T, DIR, CAUSAL)                                                                            \
    __global__ void __launch_bounds__(FH_THREADS, 2) flash_attention_##DIR##h_d64_##SUF(                          \
        const T* q, const T* k, const T* v, T* o, const int* mask, const T* bias, int Tn, int H, int Hkv, int sqb, \
        int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot, int soh,       \
        float scale) {                                                                                           \
        flash_attention_hopper<T, CAUSAL>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh,  \
                                                svb, svt, svh, sob, sot, soh, scale);                             \
    }
ZT_FLASH_H(bf16, bf16, , true)
ZT_FLASH_H(bf16, bf16, bidir_, false)
ZT_FLASH_H(f16, __half, , true)
ZT_FLASH_H(f16, __half, bidir_, false)
#undef ZT_FLASH_H
// flash_attention[_bidir]_x3_d*_f32: float32 in 3xTF32 on the tensor cores (flash_attention_x3), 64 query rows a
// block, dynamic shared memory; MINB blocks an SM as the register bound: at D = 64 two (254-255 registers, no spills;
// bounded to three it spills, and before the small terms had their own accumulators three was 7-64 % slower than two
// on an H100, native/dev/flash_x3_check.cu), at D = 32 three (161-163 registers; in the first version 11 % faster
// than two at 32x128, 8 % slower at 3x200)
#define ZT_FLASH_X3(DIM, MINB, DIR, CAUSAL)                                                                      \
    __global__ void __launch_bounds__(FX_THREADS, MINB) flash_attention_##DIR##x3_d##DIM##_f32(                   \
        const float* q, const float* k, const float* v, float* o, const int* mask, const float* bias, int Tn, int H, \
        int Hkv, int sqb, int sqt, int sqh, int skb, int skt, int skh, int svb, int svt, int svh, int sob, int sot,  \
        int soh, float scale) {                                                                                      \
        flash_attention_x3<DIM, CAUSAL>(q, k, v, o, mask, bias, Tn, H, Hkv, sqb, sqt, sqh, skb, skt, skh, svb, svt,  \
                                        svh, sob, sot, soh, scale);                                                  \
    }
ZT_FLASH_X3(32, 3, , true)
ZT_FLASH_X3(32, 3, bidir_, false)
ZT_FLASH_X3(64, 2, , true)
ZT_FLASH_X3(64, 2, bidir_, false)
#undef ZT_FLASH_X3
#undef ZT_FLASH_W
#undef ZT_FLASH_S
#undef ZT_FLASH_P
#undef ZT_FLASH
}  // extern "C"

}  // namespace zotune
