// Bring-up check of the float32 fused attention in 3xTF32 (flash_attention[_bidir]_x3_d{32,64}_f32) on the GPU host,
// before the Java tests run it: its error against a double-precision CPU attention on sampled rows, and its launch
// time, on one shape.
//   nvcc -arch=sm_90a -O3 -std=c++17 -Inative/include -Inative/kernels native/dev/flash_x3_check.cu -o /tmp/fx \
//        && /tmp/fx B T H D causal bias
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "check_util.cuh"
#include "flash_attention.cu"

using namespace zotune;

typedef void (*Kernel)(const float*, const float*, const float*, float*, const int*, const float*, int, int, int, int,
                       int, int, int, int, int, int, int, int, int, int, int, float);

int main(int argc, char** argv) {
    if (argc < 7) {
        std::printf("usage: fx B T H D causal bias\n");
        return 2;
    }
    const int B = std::atoi(argv[1]), Tn = std::atoi(argv[2]), H = std::atoi(argv[3]), D = std::atoi(argv[4]);
    const bool causal = std::atoi(argv[5]) != 0, withBias = std::atoi(argv[6]) != 0;
    Kernel f = D == 32 ? (causal ? flash_attention_x3_d32_f32 : flash_attention_bidir_x3_d32_f32)
                       : (causal ? flash_attention_x3_d64_f32 : flash_attention_bidir_x3_d64_f32);
    const int ld = 3 * H * D;  // packed q|k|v rows, as the engine's
    std::vector<float> hx((size_t)B * Tn * ld), hb((size_t)ld);
    const std::vector<int> hm = check_masks(B, Tn);
    CheckRandom rng;
    auto rnd = [&]() { return rng.next(); };
    for (auto& x : hx) x = rnd() * 2.f;
    for (auto& x : hb) x = rnd() * 0.5f;
    float *x, *bias, *o;
    int* m;
    const size_t on = (size_t)B * Tn * H * D;
    CK(cudaMalloc(&x, hx.size() * 4));
    CK(cudaMalloc(&bias, hb.size() * 4));
    CK(cudaMalloc(&o, on * 4));
    CK(cudaMalloc(&m, hm.size() * 4));
    CK(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(bias, hb.data(), hb.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(m, hm.data(), hm.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(o, 0xff, on * 4));  // NaN: a row the kernel does not write shows
    const int smem = (2 * 2 * 64 * D + 2 * 64 + D) * 4;
    CK(cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const float scale = 1.f / std::sqrt((float)D);
    dim3 grid((Tn + 63) / 64, B * H);
    cudaFuncAttributes attr;
    CK(cudaFuncGetAttributes(&attr, f));
    int blocksPerSm = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocksPerSm, f, FX_THREADS, smem));
    auto run = [&]() {
        f<<<grid, FX_THREADS, smem>>>(x, x + H * D, x + 2 * H * D, o, m, withBias ? bias : nullptr, Tn, H, H, Tn * ld,
                                      ld, D, Tn * ld, ld, D, Tn * ld, ld, D, Tn * H * D, H * D, D, scale);
    };
    run();
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> ho(on);
    CK(cudaMemcpy(ho.data(), o, on * 4, cudaMemcpyDeviceToHost));
    // double-precision reference on sampled rows of every sequence and head
    double worstAbs = 0, worstRel = 0;
    long checked = 0, nan = 0;
    std::vector<double> p(Tn);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = (b * 7 + h * 3) % 11; t < Tn; t += 11) {
                const float* qr = &hx[((size_t)b * Tn + t) * ld + h * D];
                double mx = -INFINITY;
                for (int j = 0; j < Tn; j++) {
                    p[j] = -INFINITY;
                    if (!hm[(size_t)b * Tn + j] || (causal && j > t)) continue;
                    const float* kr = &hx[((size_t)b * Tn + j) * ld + H * D + h * D];
                    double s = 0;
                    for (int d = 0; d < D; d++) {
                        const double qd = (double)qr[d] + (withBias ? hb[h * D + d] : 0.f);
                        const double kd = (double)kr[d] + (withBias ? hb[H * D + h * D + d] : 0.f);
                        s += qd * kd;
                    }
                    p[j] = s * scale;
                    mx = std::fmax(mx, p[j]);
                }
                double l = 0;
                for (int j = 0; j < Tn; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : std::exp(p[j] - mx);
                    l += p[j];
                }
                for (int d = 0; d < D; d++) {
                    double e = 0;
                    if (l > 0) {
                        for (int j = 0; j < Tn; j++) {
                            if (p[j] == 0.0) continue;
                            const double vd = (double)hx[((size_t)b * Tn + j) * ld + 2 * H * D + h * D + d] +
                                              (withBias ? hb[2 * H * D + h * D + d] : 0.f);
                            e += p[j] * vd;
                        }
                        e /= l;
                    }
                    const double g = ho[((size_t)b * Tn + t) * H * D + h * D + d];
                    if (std::isnan(g)) nan++;
                    const double a = std::fabs(g - e);
                    worstAbs = std::fmax(worstAbs, a);
                    worstRel = std::fmax(worstRel, a / std::fmax(std::fabs(e), 1e-3));
                    checked++;
                }
            }
        }
    }
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++) run();
    const int reps = 20;
    CK(cudaEventRecord(e0));
    for (int i = 0; i < reps; i++) run();
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    const double us = ms * 1000.0 / reps;
    const double flop = 4.0 * B * H * (double)Tn * Tn * D * (causal ? 0.5 : 1.0);
    std::printf("x3 d%d B=%d T=%d H=%d %s bias=%d: %d regs, %d blocks/SM, %zu B local | %ld values vs double: "
                "max abs %.3e rel %.3e, NaN %ld | %.2f us, %.1f TFLOP/s\n",
                D, B, Tn, H, causal ? "causal" : "bidir", withBias ? 1 : 0, attr.numRegs, blocksPerSm,
                (size_t)attr.localSizeBytes, checked, worstAbs, worstRel, nan, us, flop / us * 1e-6);
    return nan > 0 || worstAbs > 1e-4 ? 1 : 0;
}
