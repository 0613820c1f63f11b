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

}  // namespace

extern "C" {

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
