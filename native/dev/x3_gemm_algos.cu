// Bring-up survey of the 3xTF32 products' cuBLAS kernels (MatrixProducts' X·Wᵀ over split rows [lo | hi | hi] and
// [hi | lo | hi], one TF32 GEMM over 3k) on the GPU host: for each shape, cublasGemmEx's default (what the engine
// runs) and every algorithm cuBLASLt's heuristic offers, each timed (CUDA events, rotating over 4 operand sets so
// that L2 does not hold them) and its error on sampled rows against a double-precision product beside SGEMM's.
//   nvcc -arch=sm_90a -O3 -std=c++17 -Inative/include native/dev/x3_gemm_algos.cu -lcublasLt -lcublas -o /tmp/xa \
//        && /tmp/xa [m n k]...   (default: the RoBERTa-large products at 32x64 and 32x128, q|k|v stacked or not)
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "check_util.cuh"
#include "tf32.cuh"

using namespace zotune;

#define CB(x)                                                                         \
    do {                                                                              \
        cublasStatus_t s = (x);                                                       \
        if (s != CUBLAS_STATUS_SUCCESS) {                                             \
            std::printf("cuBLAS error %d at %s:%d\n", (int)s, __FILE__, __LINE__);    \
            std::exit(1);                                                             \
        }                                                                             \
    } while (0)

// out [rows, 3·cols] = each row as [lo | hi | hi] (loPart 0) or [hi | lo | hi] (loPart 1), as tf32_split.cu
__global__ void split(const float* x, int rows, int cols, int loPart, float* out) {
    const int64_t n = (int64_t)rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / cols;
        const int c = (int)(i - r * cols);
        const float v = x[i], h = tf32_hi(v);
        for (int p = 0; p < 3; p++) out[r * 3 * cols + (int64_t)p * cols + c] = p == loPart ? v - h : h;
    }
}

static const int SETS = 4;
// every 37th row of X and 5th column of the product is checked against the double-precision product
static const int SAMPLE = 37, SAMPLE_COLS = 5;

struct Problem {
    int m, n, k;  // out [n, m] = X [n, k] · W [m, k]ᵀ
    float *w[SETS], *x[SETS], *ws[SETS], *xs[SETS], *out;
    std::vector<float> hw, hx;  // set 0 on the host
    std::vector<double> exact;  // its product at the sampled rows and columns

    Problem(int m_, int n_, int k_) : m(m_), n(n_), k(k_) {
        CheckRandom rng;
        hw.resize((size_t)m * k);
        hx.resize((size_t)n * k);
        for (int s = 0; s < SETS; s++) {
            for (auto& v : hw) v = rng.next();
            for (auto& v : hx) v = rng.next();
            CK(cudaMalloc(&w[s], hw.size() * 4));
            CK(cudaMalloc(&x[s], hx.size() * 4));
            CK(cudaMalloc(&ws[s], hw.size() * 12));
            CK(cudaMalloc(&xs[s], hx.size() * 12));
            CK(cudaMemcpy(w[s], hw.data(), hw.size() * 4, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(x[s], hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
            split<<<1024, 256>>>(w[s], m, k, 1, ws[s]);
            split<<<1024, 256>>>(x[s], n, k, 0, xs[s]);
        }
        // the host copy is set 0's: regenerate it
        CheckRandom again;
        for (auto& v : hw) v = again.next();
        for (auto& v : hx) v = again.next();
        CK(cudaMalloc(&out, (size_t)n * m * 4));
        CK(cudaDeviceSynchronize());
        for (int r = 0; r < n; r += SAMPLE) {
            for (int c = 0; c < m; c += SAMPLE_COLS) {
                double e = 0;
                for (int i = 0; i < k; i++) e += (double)hx[(size_t)r * k + i] * hw[(size_t)c * k + i];
                exact.push_back(e);
            }
        }
    }

    // max |out - exact| over the sampled rows of set 0's product: run(0) first, then out copied from the device
    template <class F>
    double error(F run) const {
        run(0);
        std::vector<float> h((size_t)n * m);
        CK(cudaMemcpy(h.data(), out, h.size() * 4, cudaMemcpyDeviceToHost));
        double worst = 0;
        size_t j = 0;
        for (int r = 0; r < n; r += SAMPLE) {
            for (int c = 0; c < m; c += SAMPLE_COLS) {
                worst = std::fmax(worst, std::fabs(h[(size_t)r * m + c] - exact[j++]));
            }
        }
        return worst;
    }
};

template <class F>
static float timeIt(F run) {
    for (int i = 0; i < 3; i++) run(i % SETS);
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    const int reps = 40;
    CK(cudaEventRecord(a));
    for (int i = 0; i < reps; i++) run(i % SETS);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    return ms * 1000.f / reps;
}

int main(int argc, char** argv) {
    std::vector<int> shapes;
    for (int i = 1; i + 2 < argc; i += 3) {
        shapes.push_back(std::atoi(argv[i]));
        shapes.push_back(std::atoi(argv[i + 1]));
        shapes.push_back(std::atoi(argv[i + 2]));
    }
    if (shapes.empty()) {
        shapes = {1024, 2048, 1024, 3072, 2048, 1024, 4096, 2048, 1024, 1024, 2048, 4096,
                  1024, 4096, 1024, 3072, 4096, 1024, 4096, 4096, 1024, 1024, 4096, 4096};
    }
    cublasHandle_t blas;
    CB(cublasCreate(&blas));
    cublasLtHandle_t lt;
    CB(cublasLtCreate(&lt));
    const size_t wsBytes = 32u << 20;
    void* work;
    CK(cudaMalloc(&work, wsBytes));
    CB(cublasSetWorkspace(blas, work, wsBytes));
    const float one = 1.f, zero = 0.f;
    for (size_t s = 0; s < shapes.size(); s += 3) {
        Problem p(shapes[s], shapes[s + 1], shapes[s + 2]);
        const int m = p.m, n = p.n, k3 = 3 * p.k;
        const double flop = 2.0 * m * n * k3;
        std::printf("== out [%d, %d] = X [%d, %d] . W [%d, %d]^T in 3xTF32 (contraction %d)\n", n, m, n, p.k, m, p.k, k3);
        auto sgemm = [&](int i) {
            CB(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, p.k, &one, p.w[i], p.k, p.x[i], p.k, &zero, p.out, m));
        };
        float us = timeIt(sgemm);
        std::printf("  sgemm                      %8.1f us  %6.1f TFLOP/s (1x)  err %.3g\n", us,
                    2.0 * m * n * p.k / us * 1e-6, p.error(sgemm));
        auto engine = [&](int i) {
            CB(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k3, &one, p.ws[i], CUDA_R_32F, k3, p.xs[i],
                            CUDA_R_32F, k3, &zero, p.out, CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_TF32,
                            CUBLAS_GEMM_DEFAULT));
        };
        us = timeIt(engine);
        std::printf("  gemmEx default (engine)    %8.1f us  %6.1f TFLOP/s       err %.3g\n", us, flop / us * 1e-6,
                    p.error(engine));
        std::vector<float> engineOut((size_t)n * m), candOut((size_t)n * m);
        CK(cudaMemcpy(engineOut.data(), p.out, engineOut.size() * 4, cudaMemcpyDeviceToHost));

        cublasLtMatmulDesc_t desc;
        CB(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F));
        cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
        CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
        CB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn)));
        cublasLtMatrixLayout_t la, lb, ld;
        CB(cublasLtMatrixLayoutCreate(&la, CUDA_R_32F, k3, m, k3));
        CB(cublasLtMatrixLayoutCreate(&lb, CUDA_R_32F, k3, n, k3));
        CB(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m));
        cublasLtMatmulPreference_t pref;
        CB(cublasLtMatmulPreferenceCreate(&pref));
        CB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsBytes,
                                                sizeof(wsBytes)));
        const int want = 32;
        cublasLtMatmulHeuristicResult_t res[want];
        int got = 0;
        CB(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, want, res, &got));
        for (int a = 0; a < got; a++) {
            if (res[a].state != CUBLAS_STATUS_SUCCESS) continue;
            int id = 0, tile = 0, stages = 0, splitk = 0, swizzle = 0, cluster = 0, custom = 0, inner = 0,
                reduction = 0;
            size_t w;
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages,
                                                 sizeof(stages), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk,
                                                 sizeof(splitk), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle,
                                                 sizeof(swizzle), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster,
                                                 sizeof(cluster), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &custom,
                                                 sizeof(custom), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, &inner,
                                                 sizeof(inner), &w);
            cublasLtMatmulAlgoConfigGetAttribute(&res[a].algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &reduction,
                                                 sizeof(reduction), &w);
            auto ltRun = [&](int i) {
                CB(cublasLtMatmul(lt, desc, &one, p.ws[i], la, p.xs[i], lb, &zero, p.out, ld, p.out, ld,
                                  &res[a].algo, work, wsBytes, 0));
            };
            us = timeIt(ltRun);
            const double err = p.error(ltRun);
            CK(cudaMemcpy(candOut.data(), p.out, candOut.size() * 4, cudaMemcpyDeviceToHost));
            size_t differ = 0;
            for (size_t j = 0; j < candOut.size(); j++) differ += std::memcmp(&candOut[j], &engineOut[j], 4) != 0;
            std::printf("  lt #%-2d id %3d tile %3d stages %3d splitK %2d red %d swz %d cluster %3d custom %d inner %d"
                        " waves %.2f ws %8zu  %8.1f us  %6.1f TFLOP/s  err %.3g  %zu differ from the engine's\n",
                        a, id, tile, stages, splitk, reduction, swizzle, cluster, custom, inner, res[a].wavesCount,
                        res[a].workspaceSize, us, flop / us * 1e-6, err, differ);
        }
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(la);
        cublasLtMatrixLayoutDestroy(lb);
        cublasLtMatrixLayoutDestroy(ld);
        cublasLtMatmulDescDestroy(desc);
        std::fflush(stdout);
    }
    return 0;
}
