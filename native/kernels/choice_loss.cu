// Device-side losses of the objectives that are not one token cross-entropy (ALGORITHMS.md §6), so that the captured
// ZO step forms ℓ± and g on the device for them too (zo_grad reads a (value, 1) pair):
//  - choice_row_sums: per candidate row, (Σ token losses, number of targets) of cross_entropy_rows' per-position
//    losses, with the loop and block_sum of cross_entropy_reduce over that row alone (1024 threads), so bitwise what
//    one crossEntropy over the row's logits gives (the eager objective's OptionScores);
//  - choice_loss: one thread, the batch's loss from those pairs in double, in the order of OptionScores and Metrics
//    (org.zotune.train.objective.CandidateChoices#loss is its Java reference): candidate cross-entropy, −accuracy or
//    −F1; written as (loss, 1);
//  - masked_choice_loss_<t>: one thread, a masked-LM prompt's loss: the MLM logits at each example's mask row
//    restricted to the label tokens, the cross-entropy against the gold label in double as ChoiceScorer does it;
//  - pool_rows_<t>: the encoder objectives' pooling in double, each (row, feature) summed over the row's real
//    positions in order (mean) or its first position's value (cls; the pooler's output with seq = 1);
//  - head_loss_<t>, similarity_loss: one block, the objective head's scores W·pool + b, label similarity's cosine
//    scores / temperature, each score one thread summing in order in double; then the cross-entropy as above;
//  - loss_mean: one thread, the mean of m micro-batches' (sum, count) losses in the CPU engine's order (sum, then / m).
// Explicitly rounded operations (__dadd_rn, ...) keep the compiler from contracting them into FMAs, which would
// change the last bit against the host.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {

// Java's Math.max(double, double): NaN wins, +0 above -0 (fmax ignores NaN).
__device__ __forceinline__ double java_max(double a, double b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == 0.0 && b == 0.0) return __double_as_longlong(a) == 0 ? a : b;
    return a >= b ? a : b;
}

// s_r = −(row sum) / (row count): the candidate's mean answer-token log-likelihood.
__device__ __forceinline__ double row_score(const float* row_sc, int r) {
    return __ddiv_rn(-(double)row_sc[2 * r], (double)row_sc[2 * r + 1]);
}

// The index of the example's best candidate, the first one on ties (NaN never wins a comparison).
__device__ int predict(const float* row_sc, int first, int candidates) {
    int best = 0;
    for (int c = 1; c < candidates; c++) {
        if (row_score(row_sc, first + c) > row_score(row_sc, first + best)) best = c;
    }
    return best;
}

// F1 of class c (2·TP / (2·TP + FP + FN), 0 when that is 0), and whether c occurs in the gold labels or predictions.
__device__ double class_f1(const float* row_sc, const int* first, const int* cand, const int* gold, int n, int c,
                           bool* present) {
    int tp = 0, fp = 0, fn = 0;
    bool seen = false;
    for (int x = 0; x < n; x++) {
        const bool p = predict(row_sc, first[x], cand[x]) == c;
        const bool g = gold[x] == c;
        seen = seen || p || g;
        if (p && g) {
            tp++;
        } else if (p) {
            fp++;
        } else if (g) {
            fn++;
        }
    }
    *present = seen;
    const int denom = 2 * tp + fp + fn;
    return denom == 0 ? 0.0 : __ddiv_rn(2.0 * tp, (double)denom);
}

// Mean over n examples of logsumexp(s[x]) − s[x][gold], s[x][l] = logits[x·ld + tokens[l]] (ChoiceScorer's order).
template <typename T>
__device__ void masked_choice(const T* logits, int ld, const int* meta, int n, int labels, float* out) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const int* tokens = meta;
    const int* gold = meta + labels;
    double total = 0.0;
    for (int x = 0; x < n; x++) {
        const T* row = logits + (int64_t)x * ld;
        double mx = -INFINITY;
        for (int l = 0; l < labels; l++) mx = java_max(mx, (double)to_float(row[tokens[l]]));
        double z = 0.0;
        for (int l = 0; l < labels; l++) z = __dadd_rn(z, exp(__dsub_rn((double)to_float(row[tokens[l]]), mx)));
        total = __dadd_rn(total, __dsub_rn(__dadd_rn(log(z), mx), (double)to_float(row[tokens[gold[x]]])));
    }
    out[0] = __double2float_rn(__ddiv_rn(total, (double)n));
    out[1] = 1.f;
}

// Mean over x of logsumexp(s[x]) − s[x][gold[x]] for s [n, labels] in double, ChoiceScorer's order; out = (loss, 1).
__device__ void scores_cross_entropy(const double* s, const int* gold, int n, int labels, float* out) {
    double total = 0.0;
    for (int x = 0; x < n; x++) {
        const double* r = s + (int64_t)x * labels;
        double mx = -INFINITY;
        for (int c = 0; c < labels; c++) mx = java_max(mx, r[c]);
        double z = 0.0;
        for (int c = 0; c < labels; c++) z = __dadd_rn(z, exp(__dsub_rn(r[c], mx)));
        total = __dadd_rn(total, __dsub_rn(__dadd_rn(log(z), mx), r[gold[x]]));
    }
    out[0] = __double2float_rn(__ddiv_rn(total, (double)n));
    out[1] = 1.f;
}

template <typename T>
__device__ void pool_rows(const T* hidden, const int* mask, int seq, int h, int rows, int mode, double* out) {
    ZT_GRID_STRIDE(k, (int64_t)rows * h) {
        const int64_t r = k / h, i = k % h;
        if (mode == 1) {
            out[k] = (double)to_float(hidden[r * seq * h + i]);
            continue;
        }
        double sum = 0.0;
        int count = 0;
        for (int t = 0; t < seq; t++) {
            if (mask[r * seq + t] != 0) {
                count++;
                sum = __dadd_rn(sum, (double)to_float(hidden[(r * seq + t) * h + i]));
            }
        }
        out[k] = __ddiv_rn(sum, (double)count);
    }
}

// One block: s[x][c] = bias[c] + Σ_i w[c][i]·pooled[row[x]][i] in order, then the cross-entropy (thread 0).
// meta = [row of example x (n) | gold (n)]; dynamic shared memory: n·labels doubles.
template <typename T>
__device__ void head_loss(const double* pooled, const T* w, const T* bias, const int* meta, int n, int labels, int h,
                          float* out) {
    extern __shared__ double sh[];
    for (int k = threadIdx.x; k < n * labels; k += blockDim.x) {
        const int x = k / labels, c = k % labels;
        const double* p = pooled + (int64_t)meta[x] * h;
        double z = (double)to_float(bias[c]);
        for (int i = 0; i < h; i++) z = __dadd_rn(z, __dmul_rn((double)to_float(w[(int64_t)c * h + i]), p[i]));
        sh[k] = z;
    }
    __syncthreads();
    if (threadIdx.x == 0) scores_cross_entropy(sh, meta + n, n, labels, out);
}

// Label similarity's unit-vector component i of row r (v rounded to float as the host pools it; 0 for a zero row).
__device__ __forceinline__ double unit_at(const double* pooled, const double* norm, int r, int h, int i) {
    const double v = (double)__double2float_rn(pooled[(int64_t)r * h + i]);
    return norm[r] == 0.0 ? 0.0 : __ddiv_rn(v, norm[r]);
}

}  // namespace

extern "C" {

// Grid-stride over rows·h: out[r·h + i] (double) = the mean of hidden[r, t, i] over the row's real positions
// (mode 0) or hidden[r, 0, i] (mode 1).
__global__ void pool_rows_f32(const float* hidden, const int* mask, int seq, int h, int rows, int mode, double* out) {
    pool_rows(hidden, mask, seq, h, rows, mode, out);
}
__global__ void pool_rows_bf16(const bf16* hidden, const int* mask, int seq, int h, int rows, int mode, double* out) {
    pool_rows(hidden, mask, seq, h, rows, mode, out);
}
__global__ void pool_rows_f16(const __half* hidden, const int* mask, int seq, int h, int rows, int mode,
                              double* out) {
    pool_rows(hidden, mask, seq, h, rows, mode, out);
}

__global__ void head_loss_f32(const double* pooled, const float* w, const float* bias, const int* meta, int n,
                              int labels, int h, float* out) {
    head_loss(pooled, w, bias, meta, n, labels, h, out);
}
__global__ void head_loss_bf16(const double* pooled, const bf16* w, const bf16* bias, const int* meta, int n,
                               int labels, int h, float* out) {
    head_loss(pooled, w, bias, meta, n, labels, h, out);
}
__global__ void head_loss_f16(const double* pooled, const __half* w, const __half* bias, const int* meta, int n,
                              int labels, int h, float* out) {
    head_loss(pooled, w, bias, meta, n, labels, h, out);
}

// One block. Rows 0 .. n-1 of pooled are the examples, n .. n+labels-1 the label descriptions (each rounded to float
// as the host pools them); s[x][c] = (Σ_i u_x[i]·u_{n+c}[i]) / temperature with u = v / |v| (Σ v² in order,
// sqrt); then the cross-entropy against gold (meta, n values). Dynamic shared memory: (n + labels + n·labels)
// doubles.
__global__ void similarity_loss(const double* pooled, const int* meta, int n, int labels, int h, double temperature,
                                float* out) {
    extern __shared__ double sh[];
    double* norm = sh;
    double* s = sh + n + labels;
    for (int r = threadIdx.x; r < n + labels; r += blockDim.x) {
        double q = 0.0;
        for (int i = 0; i < h; i++) {
            const double v = (double)__double2float_rn(pooled[(int64_t)r * h + i]);
            q = __dadd_rn(q, __dmul_rn(v, v));
        }
        norm[r] = sqrt(q);
    }
    __syncthreads();
    for (int k = threadIdx.x; k < n * labels; k += blockDim.x) {
        const int x = k / labels, c = k % labels;
        double dot = 0.0;
        for (int i = 0; i < h; i++) {
            dot = __dadd_rn(dot, __dmul_rn(unit_at(pooled, norm, x, h, i), unit_at(pooled, norm, n + c, h, i)));
        }
        s[k] = __ddiv_rn(dot, temperature);
    }
    __syncthreads();
    if (threadIdx.x == 0) scores_cross_entropy(s, meta, n, labels, out);
}

// One thread each. meta = [label tokens (labels) | gold (n)]; logits [n, ld] in the compute type. out = (loss, 1).
__global__ void masked_choice_loss_f32(const float* logits, int ld, const int* meta, int n, int labels, float* out) {
    masked_choice(logits, ld, meta, n, labels, out);
}
__global__ void masked_choice_loss_bf16(const bf16* logits, int ld, const int* meta, int n, int labels, float* out) {
    masked_choice(logits, ld, meta, n, labels, out);
}
__global__ void masked_choice_loss_f16(const __half* logits, int ld, const int* meta, int n, int labels,
                                       float* out) {
    masked_choice(logits, ld, meta, n, labels, out);
}

// Grid = rows, 1024 threads: row_sc[2r] = Σ token_loss[r·seq + t], row_sc[2r + 1] = #(targets[r·seq + t] >= 0).
__global__ void choice_row_sums(const float* token_loss, const int* targets, float* row_sc, int seq) {
    __shared__ float scratch[32];
    const int64_t base = (int64_t)blockIdx.x * seq;
    float s = 0.f, c = 0.f;
    for (int i = threadIdx.x; i < seq; i += blockDim.x) {
        s += token_loss[base + i];
        c += targets[base + i] >= 0 ? 1.f : 0.f;
    }
    s = block_sum(s, scratch);
    c = block_sum(c, scratch);
    if (threadIdx.x == 0) {
        row_sc[2 * blockIdx.x] = s;
        row_sc[2 * blockIdx.x + 1] = c;
    }
}

// One thread. meta = [first row (n) | candidates (n) | gold (n)] of the n examples. metric 0: mean over examples of
// logsumexp(s) − s[gold]; 1: −accuracy; 2: −F1 (binary, positive class 1, when classes == 2; macro over the classes
// present otherwise). out = (loss as float, 1).
__global__ void choice_loss(const float* row_sc, const int* meta, int n, int metric, int classes, float* out) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const int* first = meta;
    const int* cand = meta + n;
    const int* gold = meta + 2 * n;
    double loss;
    if (metric == 0) {
        double total = 0.0;
        for (int x = 0; x < n; x++) {
            double mx = -INFINITY;
            for (int c = 0; c < cand[x]; c++) mx = java_max(mx, row_score(row_sc, first[x] + c));
            double z = 0.0;
            for (int c = 0; c < cand[x]; c++) z = __dadd_rn(z, exp(__dsub_rn(row_score(row_sc, first[x] + c), mx)));
            total = __dadd_rn(total, __dsub_rn(__dadd_rn(log(z), mx), row_score(row_sc, first[x] + gold[x])));
        }
        loss = __ddiv_rn(total, (double)n);
    } else if (metric == 1) {
        int right = 0;
        for (int x = 0; x < n; x++) right += predict(row_sc, first[x], cand[x]) == gold[x] ? 1 : 0;
        loss = -__ddiv_rn((double)right, (double)n);
    } else {
        bool present;
        if (classes == 2) {
            loss = -class_f1(row_sc, first, cand, gold, n, 1, &present);
        } else {
            double sum = 0.0;
            int k = 0;
            for (int c = 0; c < classes; c++) {
                const double f = class_f1(row_sc, first, cand, gold, n, c, &present);
                if (present) {
                    sum = __dadd_rn(sum, f);
                    k++;
                }
            }
            loss = -__ddiv_rn(sum, (double)k);
        }
    }
    out[0] = __double2float_rn(loss);
    out[1] = 1.f;
}

// One thread: out = (Σ_j pairs[2j] / pairs[2j + 1] summed in order in float32, divided by m when m > 1; 1).
__global__ void loss_mean(const float* pairs, int m, float* out) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    float sum = 0.f;
    for (int j = 0; j < m; j++) sum = __fadd_rn(sum, __fdiv_rn(pairs[2 * j], pairs[2 * j + 1]));
    out[0] = m == 1 ? sum : __fdiv_rn(sum, (float)m);
    out[1] = 1.f;
}

}  // extern "C"

}  // namespace zotune
