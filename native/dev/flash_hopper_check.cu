// Bring-up check of the Hopper attention kernels (flash_attention[_bidir]_h_d64_*) against the 64-row mma.sync
// kernels on the GPU host, before the Java tests run them: differences and launch times on one shape.
//   nvcc -gencode arch=compute_90a,code=sm_90a -O3 -std=c++17 -Inative/include -Inative/kernels \
//        native/dev/flash_hopper_check.cu -o /tmp/fhc && /tmp/fhc B T H causal bias [f16]
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>
#include "check_util.cuh"
#include "flash_attention.cu"

using namespace zotune;

typedef void (*Kernel)(const void*, const void*, const void*, void*, const int*, const void*, int, int, int, int, int,
                       int, int, int, int, int, int, int, int, int, int, float);

template <typename T> float tof(T x);
template <> float tof<bf16>(bf16 x) { return __bfloat162float(x); }
template <> float tof<__half>(__half x) { return __half2float(x); }
template <typename T> T fromf(float x);
template <> bf16 fromf<bf16>(float x) { return __float2bfloat16(x); }
template <> __half fromf<__half>(float x) { return __float2half(x); }

template <typename T>
int run(int B, int Tn, int H, bool causal, bool withBias, Kernel ref, Kernel hop) {
    const int D = 64, Hkv = H;
    const int ld = 3 * H * D;  // packed q|k|v rows, as the engine's
    std::vector<T> hx((size_t)B * Tn * ld), hb((size_t)3 * H * D);
    const std::vector<int> hm = check_masks(B, Tn);
    CheckRandom rng;
    auto rnd = [&]() { return rng.next(); };
    for (auto& x : hx) x = fromf<T>(rnd() * 2.f);
    for (auto& x : hb) x = fromf<T>(rnd() * 0.5f);
    T *x, *bias, *o1, *o2;
    int* m;
    CK(cudaMalloc(&x, hx.size() * sizeof(T)));
    CK(cudaMalloc(&bias, hb.size() * sizeof(T)));
    CK(cudaMalloc(&o1, (size_t)B * Tn * H * D * sizeof(T)));
    CK(cudaMalloc(&o2, (size_t)B * Tn * H * D * sizeof(T)));
    CK(cudaMalloc(&m, hm.size() * sizeof(int)));
    CK(cudaMemcpy(x, hx.data(), hx.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(bias, hb.data(), hb.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(m, hm.data(), hm.size() * sizeof(int), cudaMemcpyHostToDevice));
    CK(cudaMemset(o1, 0xff, (size_t)B * Tn * H * D * sizeof(T)));
    CK(cudaMemset(o2, 0xff, (size_t)B * Tn * H * D * sizeof(T)));
    const size_t hsmem = 1024 + FH_STAGES * 2 * FH_TILE * sizeof(T) + FH_STAGES * FA_ROWS * sizeof(int) + D * sizeof(T);
    CK(cudaFuncSetAttribute((const void*)hop, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)hsmem));
    const float scale = 0.125f;
    const T* bp = withBias ? bias : nullptr;
    auto launch = [&](int h, T* o) {
        dim3 grid(h ? (Tn + 127) / 128 : (Tn + 63) / 64, B * H);
        (h == 0 ? ref : hop)<<<grid, h ? 256 : 128, h ? hsmem : 0>>>(x, x + H * D, x + 2 * H * D, o, m, bp, Tn, H, Hkv,
                                                              Tn * ld, ld, D, Tn * ld, ld, D, Tn * ld, ld, D,
                                                              Tn * H * D, H * D, D, scale);
    };
    launch(0, o1);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<T> r1((size_t)B * Tn * H * D), r2(r1.size());
    CK(cudaMemcpy(r1.data(), o1, r1.size() * sizeof(T), cudaMemcpyDeviceToHost));
    int bad = 0;
    float us[2];
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int h = 0; h < 2; h++) {
        if (h > 0) {
            CK(cudaMemset(o2, 0xff, (size_t)B * Tn * H * D * sizeof(T)));
            launch(h, o2);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(r2.data(), o2, r2.size() * sizeof(T), cudaMemcpyDeviceToHost));
            double maxd = 0, maxa = 0;
            size_t differ = 0, nan = 0, first = (size_t)-1;
            for (size_t i = 0; i < r1.size(); i++) {
                const float a = tof<T>(r1[i]), c = tof<T>(r2[i]);
                if (c != c || a != a) {
                    nan++;
                    if (first == (size_t)-1) first = i;
                    continue;
                }
                const double d = std::fabs((double)a - c);
                if (d > 0) differ++;
                if (d > maxd) {
                    maxd = d;
                    if (d > 0.05 && first == (size_t)-1) first = i;
                }
                maxa = std::fmax(maxa, std::fabs((double)a));
            }
            std::printf("%s B %d T %d H %d causal %d bias %d: %zu of %zu values differ, max |diff| %.4g (max |o| %.3g), "
                        "NaN %zu", "h", B, Tn, H, causal, withBias, differ, r1.size(), maxd, maxa, nan);
            if (first != (size_t)-1) {
                const size_t row = first / (H * D), col = first % (H * D);
                std::printf("; first bad at batch %zu token %zu head %zu d %zu: ref %g new %g", row / Tn, row % Tn,
                            col / D, col % D, tof<T>(r1[first]), tof<T>(r2[first]));
            }
            std::printf("\n");
            if (!(maxd < 0.05 && nan == 0)) bad = 1;
        }
        for (int i = 0; i < 20; i++) launch(h, h ? o2 : o1);
        CK(cudaEventRecord(e0));
        for (int i = 0; i < 200; i++) launch(h, h ? o2 : o1);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        us[h] = ms * 1000.f / 200;
    }
    std::printf("  us/launch: 64-row kernel %.2f, Hopper kernel %.2f (%.2fx)\n", us[0], us[1], us[0] / us[1]);
    cudaFree(x);
    cudaFree(bias);
    cudaFree(o1);
    cudaFree(o2);
    cudaFree(m);
    return bad;
}

int main(int argc, char** argv) {
    const int B = argc > 1 ? atoi(argv[1]) : 32, T = argc > 2 ? atoi(argv[2]) : 512, H = argc > 3 ? atoi(argv[3]) : 16;
    const bool causal = argc > 4 && atoi(argv[4]) != 0, bias = argc > 5 && atoi(argv[5]) != 0;
    const bool f16 = argc > 6 && std::string(argv[6]) == "f16";
    if (f16) {
        return run<__half>(B, T, H, causal, bias,
                           (Kernel)(causal ? flash_attention_p_d64_f16 : flash_attention_bidir_p_d64_f16),
                           (Kernel)(causal ? flash_attention_h_d64_f16 : flash_attention_bidir_h_d64_f16));
    }
    return run<bf16>(B, T, H, causal, bias,
                     (Kernel)(causal ? flash_attention_p_d64_bf16 : flash_attention_bidir_p_d64_bf16),
                     (Kernel)(causal ? flash_attention_h_d64_bf16 : flash_attention_bidir_h_d64_bf16));
}
