package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;

/**
 * The GPU noise kernel against {@link Noise} (ALGORITHMS.md §1): Gaussian within 1e-6 relative (CUDA's logf and
 * sincosf, no fast-math intrinsics, against the CPU's correctly rounded double functions), Rademacher and raw words
 * bitwise; bitwise identical across block sizes, grids and repeated runs.
 */
@Tag("gpu")
class ZoNoiseGpuTest {
    private static final int N = 100_003;

    private static float[] gpu(ZoKernels k, CudaStream s, DeviceBuffer out, long seed, int stream, long start, int dist) {
        out.fill(0, out.bytes(), 0xff, s);
        k.noiseFill(out.address(), seed, stream, start, N, dist, s);
        return ZoGpu.download(out.address(), N, DType.F32, s);
    }

    @Test
    void gaussianMatchesTheCpuWithinOneMillionth() {
        ZoGpu.assumeGpu();
        try (ZoKernels k = ZoGpu.kernels(); CudaStream s = CudaStream.create();
             DeviceBuffer out = DeviceBuffer.allocate(4L * N)) {
            long[][] cases = {{0L, 0, 0}, {Noise.stepSeed(42, 1), 1, 3}, {-7L, 2, (1L << 32) + 5}, {123456789L, 7, 1001}};
            double worst = 0;
            for (long[] c : cases) {
                float[] expected = new float[N];
                Noise.fill(c[0], (int) c[1], c[2], expected, 0, N, Noise.Distribution.GAUSSIAN);
                float[] actual = gpu(k, s, out, c[0], (int) c[1], c[2], 0);
                for (int i = 0; i < N; i++) {
                    double err = Math.abs((double) actual[i] - expected[i]);
                    double rel = expected[i] == 0 ? err : err / Math.abs(expected[i]);
                    if (!(rel <= 1e-6)) {
                        fail("seed " + c[0] + " stream " + c[1] + " index " + (c[2] + i) + ": GPU " + actual[i]
                                + ", CPU " + expected[i] + " (relative " + rel + ")");
                    }
                    worst = Math.max(worst, rel);
                }
            }
            System.out.printf("zo noise: Gaussian GPU vs CPU, %d values, max relative error %.3e%n", 4 * N, worst);
        }
    }

    @Test
    void rademacherAndWordsAreBitwiseTheCpu() {
        ZoGpu.assumeGpu();
        try (ZoKernels k = ZoGpu.kernels(); CudaStream s = CudaStream.create();
             DeviceBuffer out = DeviceBuffer.allocate(4L * N)) {
            long seed = Noise.stepSeed(9, 3);
            float[] expected = new float[N];
            Noise.fill(seed, 0, 6, expected, 0, N, Noise.Distribution.RADEMACHER);
            assertArrayEquals(expected, gpu(k, s, out, seed, 0, 6, 1), 0f);
            int[] words = new int[N];
            Noise.fillWords(seed, Noise.STREAM_ROUNDING, 1, words, 0, N);
            gpu(k, s, out, seed, Noise.STREAM_ROUNDING, 1, 2);
            assertArrayEquals(words, ZoGpu.downloadWords(out.address(), N, s));
        }
    }

    @Test
    void launchConfigurationAndRepetitionDoNotChangeABit() {
        ZoGpu.assumeGpu();
        try (ZoKernels k = ZoGpu.kernels(); CudaStream s = CudaStream.create();
             DeviceBuffer out = DeviceBuffer.allocate(4L * N);
             ZoKernels oneBlock = new ZoKernels(1)) {
            long seed = 0x0123456789abcdefL;
            float[] first = gpu(k, s, out, seed, 1, 2, 0);
            for (int block : new int[] {32, 96, 256, 1024}) {
                k.blockSize(block);
                assertArrayEquals(first, gpu(k, s, out, seed, 1, 2, 0), 0f, "block size " + block);
                assertArrayEquals(first, gpu(k, s, out, seed, 1, 2, 0), 0f, "repeated, block size " + block);
            }
            assertArrayEquals(first, gpu(oneBlock.blockSize(64), s, out, seed, 1, 2, 0), 0f, "a single block");
            // a different seed or stream changes the values
            float[] other = gpu(k, s, out, seed, 0, 2, 0);
            int same = 0;
            for (int i = 0; i < N; i++) {
                same += other[i] == first[i] ? 1 : 0;
            }
            assertTrue(same < N / 1000, "streams 0 and 1 differ");
        }
    }
}
