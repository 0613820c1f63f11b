// Embedding gather: out[r, :] = table[ids[r], :]. An id outside [0, vocab) writes NaN so that a bad
// id shows up in the loss instead of silently reading another row.
#include "block.cuh"
#include "dtype.cuh"

namespace zotune {
namespace {
template <typename T>
__device__ void embedding_gather(const int* ids, const T* table, T* out, int rows, int cols, int vocab) {
    ZT_GRID_STRIDE(i, (int64_t)rows * cols) {
        int64_t r = i / cols, c = i % cols;
        int id = ids[r];
        out[i] = (id >= 0 && id < vocab) ? table[(int64_t)id * cols + c] : from_float<T>(NAN);
    }
}
}  // namespace

extern "C" {
__global__ void embedding_gather_f32(const int* ids, const float* table, float* out, int rows, int cols, int vocab) {
    embedding_gather(ids, table, out, rows, cols, vocab);
}
__global__ void embedding_gather_bf16(const int* ids, const bf16* table, bf16* out, int rows, int cols, int vocab) {
    embedding_gather(ids, table, out, rows, cols, vocab);
}
__global__ void embedding_gather_f16(const int* ids, const __half* table, __half* out, int rows, int cols, int vocab) {
    embedding_gather(ids, table, out, rows, cols, vocab);
}
}  // extern "C"

}  // namespace zotune
