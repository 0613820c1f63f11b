package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.Tf32SplitKernels;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoOptimizerConfig.Direction;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoStep;

/**
 * The shadow strategy's float32 projection matrices read by 3xTF32 products straight from θ (ShadowWeights defers
 * them, zo_shadow_split writes the product's split). The kernel: BITWISE the plain-Java split
 * ({@link Tf32SplitKernels#hi}) of what zo_shadow writes, for both noise variants, the Gaussian, Rademacher and
 * ZO-AdaMU directions (momentum in float32 and bf16), both signs and both part layouts, on shapes from one row of 4 to
 * 257 x 1024, from row offsets inside the matrix and noise indices that are not multiples of 8. The engine: ZO steps
 * of a random BERT in float32 whose products take 3xTF32 (512 rows of 128), shadow strategy, ZO-SGD and ZO-AdaMU,
 * eager and graph, with the deferral on and off: ℓ± of every step and θ after three steps bitwise equal, and with
 * the deferral on the products did read deferred splits. And zo_shadow_segments, which writes all vectors of a pass
 * in one launch, bitwise zo_shadow per tensor.
 */
@Tag("gpu")
class ShadowSplitGpuTest {
    private static final float EPS = 1e-2f;

    @Test
    void theShadowSplitIsBitwiseTheSplitOfTheShadow() {
        ZoGpu.assumeGpu();
        int cases = 0;
        List<ZoOptimizerConfig> opts = List.of(new ZoSgd.Config(LrSchedule.constant(1e-3)),
                new ZoAdaMu.Config(LrSchedule.constant(1e-3), AdaMuSchedule.defaults(100), 1e-8, 0.0, DType.F32),
                new ZoAdaMu.Config(LrSchedule.constant(1e-3), AdaMuSchedule.defaults(100), 1e-8, 0.0, DType.BF16));
        int[][] shapes = {{1, 4}, {3, 12}, {130, 132}, {257, 1024}};
        long[] noises = {0, 4, 1028};
        Random r = new Random(3);
        try (CudaOps ops = CudaOps.create(DType.F32)) {
            CudaStream s = ops.stream();
            for (NoiseVariant nv : NoiseVariant.values()) {
                for (ZoOptimizerConfig cfg : opts) {
                    GpuOptimizer opt = GpuOptimizer.of(cfg);
                    List<Direction> dirs = opt.direction() == Direction.ADAMU ? List.of(Direction.ADAMU)
                            : List.of(Direction.GAUSSIAN, Direction.RADEMACHER);
                    int most = 257 * 1024 + 1028;
                    try (ZoKernels k = ZoGpu.kernels(nv).stateDType(opt.stateDType());
                         DeviceBuffer theta = DeviceBuffer.allocate(4L * most);
                         DeviceBuffer m = DeviceBuffer.allocate(4L * most);
                         DeviceBuffer scalars = DeviceBuffer.allocate(ZoScalars.SIZE);
                         DeviceBuffer shadow = DeviceBuffer.allocate(4L * most);
                         DeviceBuffer split = DeviceBuffer.allocate(12L * most)) {
                        ByteBuffer th = ByteBuffer.allocate(4 * most).order(ByteOrder.LITTLE_ENDIAN);
                        ByteBuffer mm = ByteBuffer.allocate(4 * most).order(ByteOrder.LITTLE_ENDIAN);
                        for (int i = 0; i < most; i++) {
                            th.putFloat(4 * i, (float) (0.05 * r.nextGaussian()));
                            float mv = (float) (0.01 * r.nextGaussian());
                            if (opt.stateDType() == DType.F32) {
                                mm.putFloat(4 * i, mv);
                            } else {
                                mm.putShort(2 * i, DType.floatToBf16(mv));
                            }
                        }
                        ZoGpu.upload(theta, 0, th, s);
                        ZoGpu.upload(m, 0, mm, s);
                        scalars.fill(0, ZoScalars.SIZE, 0, s);
                        ByteBuffer in = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                        opt.writeInputs(in, 3, Noise.stepSeed(77, 3), EPS);
                        ZoGpu.upload(scalars, 0, in, s);
                        for (Direction dir : dirs) {
                            for (int[] sh : shapes) {
                                int rows = sh[0];
                                int cols = sh[1];
                                for (long noise : noises) {
                                    for (float sign : new float[] {1f, -1f}) {
                                        long n = (long) rows * cols;
                                        k.shadow(DType.F32, theta.address(), shadow.address(), n, noise,
                                                scalars.address(), m.address(), dir.code, sign, s);
                                        int[] w = ZoGpu.downloadWords(shadow.address(), (int) n, s);
                                        // all rows, then rows from the middle (a chunk of W's rows)
                                        for (int row0 : rows > 2 ? new int[] {0, rows / 2} : new int[] {0}) {
                                            int count = rows - row0;
                                            long first = (long) row0 * cols;
                                            for (int lo : new int[] {Tf32SplitKernels.LO_FIRST,
                                                Tf32SplitKernels.LO_SECOND}) {
                                                k.shadowSplit(theta.address() + 4 * first, count, cols, noise + first,
                                                        scalars.address(), m.address(), dir.code, sign, lo,
                                                        split.address(), s);
                                                int[] got = ZoGpu.downloadWords(split.address(), 3 * count * cols, s);
                                                String name = nv + " " + cfg.getClass().getSimpleName() + " "
                                                        + opt.stateDType() + " " + dir + " " + rows + "x" + cols
                                                        + " noise " + noise + " sign " + sign + " from row " + row0
                                                        + " lo " + lo;
                                                check(name, w, first, count, cols, lo, got);
                                                cases++;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        System.out.println("shadow split: " + cases + " cases bitwise the split of the shadow");
        assertTrue(cases >= 300, "cases: " + cases);
    }

    /**
     * zo_shadow_segments (every vector of a pass in one launch) against zo_shadow per tensor, bitwise: f32 and bf16,
     * both noise variants, the three directions, both signs; tensors of 1, 3, 5, 1001 and 16391 elements (two
     * segments), one of them starting one element off its vector alignment (the scalar path), destinations apart.
     */
    @Test
    void theSegmentsAreBitwiseTheShadowOfEachTensor() {
        ZoGpu.assumeGpu();
        long[] sizes = {1, 3, 5, 1001, 16391};
        long[] srcAt = {0, 8, 16, 25, 1032}; // element offsets in θ: 25 is one off an 8-element boundary
        long[] noiseAt = {0, 4, 8, 20, 1028};
        long[] dstAt = {0, 64, 128, 192, 1280};
        int total = 1280 + 16391 + 8; // covers every source and destination range
        int cases = 0;
        Random r = new Random(4);
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            try (CudaOps ops = CudaOps.create(dtype)) {
                CudaStream s = ops.stream();
                for (NoiseVariant nv : NoiseVariant.values()) {
                    for (ZoOptimizerConfig cfg : List.of(new ZoSgd.Config(LrSchedule.constant(1e-3)),
                            new ZoAdaMu.Config(LrSchedule.constant(1e-3), AdaMuSchedule.defaults(100), 1e-8, 0.0,
                                    DType.F32))) {
                        GpuOptimizer opt = GpuOptimizer.of(cfg);
                        List<Direction> dirs = opt.direction() == Direction.ADAMU ? List.of(Direction.ADAMU)
                                : List.of(Direction.GAUSSIAN, Direction.RADEMACHER);
                        int eb = dtype.bytes();
                        try (ZoKernels k = ZoGpu.kernels(nv).stateDType(opt.stateDType());
                             DeviceBuffer theta = DeviceBuffer.allocate((long) eb * total);
                             DeviceBuffer m = DeviceBuffer.allocate(4L * total);
                             DeviceBuffer scalars = DeviceBuffer.allocate(ZoScalars.SIZE);
                             DeviceBuffer one = DeviceBuffer.allocate(4L * total); // whole words for bf16 too
                             DeviceBuffer all = DeviceBuffer.allocate(4L * total);
                             DeviceBuffer table = DeviceBuffer.allocate(ShadowWeights.SEGMENT_BYTES * 8L)) {
                            ByteBuffer th = ByteBuffer.allocate(eb * total).order(ByteOrder.LITTLE_ENDIAN);
                            ByteBuffer mm = ByteBuffer.allocate(4 * total).order(ByteOrder.LITTLE_ENDIAN);
                            for (int i = 0; i < total; i++) {
                                float v = (float) (0.05 * r.nextGaussian());
                                if (dtype == DType.F32) {
                                    th.putFloat(4 * i, v);
                                } else {
                                    th.putShort(2 * i, DType.floatToBf16(v));
                                }
                                mm.putFloat(4 * i, (float) (0.01 * r.nextGaussian()));
                            }
                            ZoGpu.upload(theta, 0, th, s);
                            ZoGpu.upload(m, 0, mm, s);
                            scalars.fill(0, ZoScalars.SIZE, 0, s);
                            ByteBuffer in = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                            opt.writeInputs(in, 2, Noise.stepSeed(78, 2), EPS);
                            ZoGpu.upload(scalars, 0, in, s);
                            ByteBuffer t = ByteBuffer.allocate(ShadowWeights.SEGMENT_BYTES * 8)
                                    .order(ByteOrder.LITTLE_ENDIAN);
                            int count = 0;
                            for (int i = 0; i < sizes.length; i++) {
                                for (long e = 0; e < sizes[i]; e += ShadowWeights.SEGMENT) {
                                    long len = Math.min(ShadowWeights.SEGMENT, sizes[i] - e);
                                    t.putLong(theta.address() + (srcAt[i] + e) * eb).putLong(noiseAt[i] + e)
                                            .putLong(all.address() + (dstAt[i] + e) * eb).putInt((int) len).putInt(0);
                                    count++;
                                }
                            }
                            t.flip();
                            ZoGpu.upload(table, 0, t, s);
                            assertEquals(6, count, "16391 elements make two segments");
                            for (Direction dir : dirs) {
                                for (float sign : new float[] {1f, -1f}) {
                                    all.fill(0, 4L * total, 0, s);
                                    k.shadowSegments(dtype, table.address(), count, scalars.address(), m.address(),
                                            dir.code, sign, s);
                                    int[] got = ZoGpu.downloadWords(all.address(), (eb * total + 3) / 4, s);
                                    for (int i = 0; i < sizes.length; i++) {
                                        k.shadow(dtype, theta.address() + srcAt[i] * eb, one.address(), sizes[i],
                                                noiseAt[i], scalars.address(), m.address(), dir.code, sign, s);
                                        int[] want = ZoGpu.downloadWords(one.address(), (eb * total + 3) / 4, s);
                                        for (int e = 0; e < sizes[i]; e++) {
                                            int a = element(want, e, eb);
                                            int b = element(got, (int) dstAt[i] + e, eb);
                                            if (a != b) {
                                                throw new AssertionError(dtype + " " + nv + " " + dir + " sign " + sign
                                                        + " tensor of " + sizes[i] + ": element " + e + " "
                                                        + Integer.toHexString(b) + ", per tensor "
                                                        + Integer.toHexString(a));
                                            }
                                        }
                                        cases++;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        System.out.println("shadow segments: " + cases + " tensors bitwise the per-tensor shadow");
        assertEquals(2 * 2 * 3 * 2 * 5, cases);
    }

    /** Element e of dtype (4 or 2 bytes) from little-endian words, as raw bits. */
    private static int element(int[] words, int e, int bytes) {
        if (bytes == 4) {
            return words[e];
        }
        int w = words[e / 2];
        return e % 2 == 0 ? w & 0xffff : w >>> 16;
    }

    /** got [count, 3·cols] against the Java split of shadow rows from element {@code first}. */
    private static void check(String name, int[] shadow, long first, int count, int cols, int lo, int[] got) {
        for (int i = 0; i < count; i++) {
            for (int c = 0; c < cols; c++) {
                float x = Float.intBitsToFloat(shadow[(int) (first + (long) i * cols + c)]);
                float hi = Tf32SplitKernels.hi(x);
                for (int p = 0; p < 3; p++) {
                    float want = p == lo ? x - hi : hi;
                    int g = got[i * 3 * cols + p * cols + c];
                    if (Float.floatToRawIntBits(want) != g) {
                        throw new AssertionError(name + ": row " + i + " col " + c + " part " + p + " of " + x + ": "
                                + Float.intBitsToFloat(g) + ", reference " + want);
                    }
                }
            }
        }
    }

    @Test
    void shadowStepsAreBitwiseTheSameWithTheDeferralOnOrOff() {
        ZoGpu.assumeGpu();
        // a BERT whose products take 3xTF32: 8 rows of 64 tokens = 512 rows, hidden 128, FFN 512
        ModelConfig c = new ModelConfig(ModelFamily.BERT, 1000, 128, 2, 2, 2, 64, 512, 128, 1e-12,
                ModelConfig.Activation.GELU, true, false, false, 128, 0.0, null, true, true, -1, -1, 0,
                new ModelConfig.Encoder(2, 0, true));
        LanguageModel lm = Architectures.createModel(c);
        Random r = new Random(5);
        List<HostTensor> host = new ArrayList<>();
        for (ParamSpec p : lm.params()) {
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(4 * p.numel())).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < p.numel(); i++) {
                float v = p.role() == ParamSpec.Role.NORM_WEIGHT ? 1f : (float) (0.05 * r.nextGaussian());
                b.putFloat((int) (4 * i), v);
            }
            host.add(new HostTensor(p.name(), DType.F32, p.shape(), b));
        }
        int[][] seqs = new int[8][64];
        int[] maskRows = new int[8];
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 64; j++) {
                seqs[i][j] = 5 + r.nextInt(990);
            }
            seqs[i][10] = 3; // the mask row of each sequence
            maskRows[i] = i * 64 + 10;
        }
        Batch batch = Batch.rightPadded(seqs, 0);
        DeviceLoss loss = new DeviceLoss.MaskedChoices(maskRows, new int[] {7, 9}, new int[] {0, 1, 1, 0, 1, 0, 0, 1});
        List<ZoOptimizerConfig> opts = List.of(new ZoSgd.Config(LrSchedule.constant(1e-3)),
                new ZoAdaMu.Config(LrSchedule.constant(1e-3), AdaMuSchedule.defaults(100), 1e-8, 0.0, DType.F32));
        boolean saved = ShadowWeights.deferMatrices;
        try {
            for (ZoOptimizerConfig opt : opts) {
                for (boolean graph : new boolean[] {false, true}) {
                    float[][] losses = new float[2][];
                    float[][][] theta = new float[2][][];
                    for (int on = 0; on < 2; on++) {
                        ShadowWeights.deferMatrices = on == 1;
                        try (CudaOps ops = CudaOps.create(DType.F32);
                             Parameters params = ops.createParameters(host, DType.F32);
                             DeviceZoStep e = new DeviceZoStep(ops, lm, params, opt, new ZoStep.Config(EPS, 1,
                                     PerturbationStrategy.SHADOW, 1, 5, DType.F32, 11)).useGraph(graph)) {
                            long before = ops.deferredSplits();
                            losses[on] = new float[6];
                            for (int t = 0; t < 3; t++) {
                                e.submit(List.of(new DeviceZoStep.MicroBatch(batch, loss)));
                                List<ZoStep.Result> done = e.drain();
                                ZoStep.Result res = done.get(done.size() - 1);
                                losses[on][2 * t] = res.lossPlus()[0];
                                losses[on][2 * t + 1] = res.lossMinus()[0];
                            }
                            long read = ops.deferredSplits() - before;
                            String what = opt.getClass().getSimpleName() + (graph ? " graph" : " eager")
                                    + (on == 1 ? ", deferred" : ", written");
                            System.out.println(what + ": " + read + " products read a deferred split; l+ "
                                    + losses[on][0]);
                            if (on == 1) {
                                assertTrue(read > 0, what + ": the products read deferred splits");
                            } else {
                                assertEquals(0, read, what);
                            }
                            theta[on] = new float[lm.params().size()][];
                            for (int i = 0; i < theta[on].length; i++) {
                                theta[on][i] = ops.toHost(params.weight(i));
                            }
                        }
                    }
                    String what = opt.getClass().getSimpleName() + (graph ? " graph" : " eager");
                    for (int j = 0; j < losses[0].length; j++) {
                        assertEquals(Float.floatToRawIntBits(losses[0][j]), Float.floatToRawIntBits(losses[1][j]),
                                what + ": loss " + j + " " + losses[0][j] + " vs " + losses[1][j]);
                    }
                    for (int i = 0; i < theta[0].length; i++) {
                        assertArrayEquals(theta[0][i], theta[1][i], 0f, what + ": " + lm.params().get(i).name());
                    }
                }
            }
        } finally {
            ShadowWeights.deferMatrices = saved;
        }
    }
}
