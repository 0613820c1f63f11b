package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaParameters;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.model.ParamSpec;
import org.zotune.model.ParamSpec.Role;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;
import org.zotune.zo.optim.ZoStep;

/**
 * Every zeroth-order kernel against the Java reference ({@link ZoStep} driving {@link ZoSgd}, {@link ZoSgdMomentum},
 * {@link ZoAdam}, {@link ZoAdaMu}) on awkward tensor sizes (1, 3, 1001, 4097, 21003 in chunks of 1024, and a frozen
 * tensor in between), f32, bf16 and f16, in place and shadow, over four steps with given losses. With Rademacher
 * noise (u = ±1 exactly on both sides) everything, stochastic rounding included, must be bitwise equal; with
 * Gaussian noise (CPU and GPU normals differ by a few ulp) f32 agrees to 1e-5 relative and bf16 / f16 to at most 2
 * ulp of the dtype in under 1% of the elements. Optimiser state in bf16 / f16 (rounded to nearest when stored) is checked the same way;
 * there a float32 value a few ulp apart can round to the neighbouring bf16 / f16 value, so up to 1% of the state and
 * parameter elements may differ by up to 1e-2 relative. The tensor sizes put chunk starts at global indices that
 * are 4 mod 8 (the bf16 kernels then take stochastic-rounding bits from two Philox blocks per 8 elements), leave
 * tails of 1 to 7 elements, and a flat buffer whose tensors start 8 bytes off a 16-byte boundary sends the bf16
 * kernels down their scalar path, which must give the same bits as the vector path. The kernels are the exact
 * noise variant's, pinned ({@link NoiseVariant#EXACT}): the Gaussian tolerances rest on its 3.5e-7 (the fast
 * variant's passes: {@link ZoFastNoiseGpuTest}).
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ZoKernelsGpuTest {
    static final List<ParamSpec> SPECS = List.of(
            new ParamSpec("bias", new long[] {1}, Role.BIAS),
            new ParamSpec("norm", new long[] {3}, Role.NORM_WEIGHT),
            new ParamSpec("frozen", new long[] {5}, Role.NORM_BIAS),
            new ParamSpec("matrix", new long[] {7, 143}, Role.MATRIX),
            new ParamSpec("embedding", new long[] {4097}, Role.EMBEDDING),
            new ParamSpec("big", new long[] {3, 7001}, Role.MATRIX));
    static final boolean[] TRAIN = {true, true, false, true, true, true};
    static final int STEPS = 4;
    static final float EPS = 1e-2f;

    private CudaOps f32;
    private CudaOps bf16;
    private CudaOps f16;

    @BeforeAll
    void open() {
        ZoGpu.assumeGpu();
        f32 = CudaOps.create(DType.F32);
        bf16 = CudaOps.create(DType.BF16);
        f16 = CudaOps.create(DType.F16);
    }

    @AfterAll
    void close() {
        if (f32 != null) {
            f32.close();
        }
        if (bf16 != null) {
            bf16.close();
        }
        if (f16 != null) {
            f16.close();
        }
    }

    static ZoOptimizer reference(ZoOptimizerConfig c, NoiseLayout l) {
        return c.reference(l);
    }

    /** The registered optimisers' examples (ZoOptimizerConfig.registered()): a new optimiser is swept too. */
    static List<ZoOptimizerConfig> registered() {
        return ZoOptimizerConfig.registered();
    }

    /** The registered optimisers that keep state, storing it in {@code state}. */
    static List<ZoOptimizerConfig> stateful(DType state) {
        List<ZoOptimizerConfig> out = new ArrayList<>();
        for (ZoOptimizerConfig c : registered()) {
            if (!c.stateVectors().isEmpty()) {
                out.add(c.withStateDType(state));
            }
        }
        return out;
    }

    static ZoOptimizerConfig sgd(Noise.Distribution d) {
        return new ZoSgd.Config(LrSchedule.linear(2e-2, 10), 0.1, d);
    }

    static ZoOptimizerConfig mmt() {
        return mmt(DType.F32);
    }

    static ZoOptimizerConfig mmt(DType state) {
        return new ZoSgdMomentum.Config(LrSchedule.constant(1e-2), 0.9, 0.05, state);
    }

    static ZoOptimizerConfig adam() {
        return adam(DType.F32);
    }

    static ZoOptimizerConfig adam(DType state) {
        return new ZoAdam.Config(LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 0.01, state);
    }

    static ZoOptimizerConfig adamu() {
        return adamu(DType.F32);
    }

    static ZoOptimizerConfig adamu(DType state) {
        // step 1 warm-up, step 2 start of the cosine (p = 0), step 3 mid-way, step 4 the end values
        return new ZoAdaMu.Config(LrSchedule.constant(1e-2), new AdaMuSchedule(2, 4, 5, 0.5, 0.9, 0.01, 1, 0.1, 1.5),
                1e-8, 0.1, state);
    }

    static float lossPlus(int t) {
        return lossPlus(t, 0);
    }

    static float lossMinus(int t) {
        return lossMinus(t, 0);
    }

    /** ℓ+ of SPSA sample k at step t: every sample its own projected gradient. */
    static float lossPlus(int t, int k) {
        return 2.0f + 0.1f * t + 0.01f * k;
    }

    static float lossMinus(int t, int k) {
        return lossPlus(t, k) - ((t + k) % 2 == 0 ? 0.013f : -0.021f);
    }

    /** A reference loss that returns the given losses and keeps what θ the forward would have seen. */
    private static final class Recording implements org.zotune.zo.optim.ZoLoss {
        final List<float[][]> seen = new ArrayList<>();
        int calls;
        int nanAt;
        int q = 1;

        @Override
        public float evaluate(float[][] theta, int microBatch) {
            float[][] copy = new float[theta.length][];
            for (int i = 0; i < theta.length; i++) {
                copy[i] = theta[i].clone();
            }
            seen.add(copy);
            int t = calls / (2 * q) + 1;
            int k = calls / 2 % q;
            boolean plus = calls % 2 == 0;
            calls++;
            if (t == nanAt && plus && k == q - 1) {
                return Float.NaN;
            }
            return plus ? lossPlus(t, k) : lossMinus(t, k);
        }
    }

    @Test
    void rademacherZoSgdIsBitwiseTheReference() {
        for (DType d : DType.values()) { // f16: stochastic rounding to f16 bit for bit StochasticRounding.toF16
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                run(sgd(Noise.Distribution.RADEMACHER), d, s, 256, 0, true);
            }
        }
    }

    @Test
    void gaussianOptimisersMatchTheReference() {
        for (ZoOptimizerConfig c : registered()) {
            for (DType d : DType.values()) {
                for (PerturbationStrategy s : PerturbationStrategy.values()) {
                    run(c, d, s, 256, 0, false);
                }
            }
        }
    }

    @Test
    void lowPrecisionStateMatchesTheReference() {
        for (DType state : new DType[] {DType.BF16, DType.F16}) {
            for (ZoOptimizerConfig c : stateful(state)) {
                for (DType d : new DType[] {DType.F32, DType.BF16}) {
                    run(c, d, PerturbationStrategy.IN_PLACE, 256, 0, false);
                }
                run(c, DType.BF16, PerturbationStrategy.SHADOW, 96, 0, false);
                run(c, DType.F16, PerturbationStrategy.IN_PLACE, 96, 0, false);
            }
        }
    }

    /** bf16 tensors 8 bytes off 16-byte alignment: the scalar path, bitwise the vector path's result. */
    @Test
    void misalignedTensorsGiveTheSameBits() {
        List<ZoOptimizerConfig> configs = new ArrayList<>(registered());
        configs.addAll(stateful(DType.BF16));
        for (ZoOptimizerConfig c : configs) {
            float[][] aligned = run(c, DType.BF16, PerturbationStrategy.IN_PLACE, 256, 0, false);
            float[][] shifted = runShifted(c, 128);  // also: chunks of 256, blocks looping over chunks
            for (int k = 0; k < aligned.length; k++) {
                assertBitwise(aligned[k], shifted[k], GpuOptimizer.of(c).name() + " misaligned vs aligned, tensor " + k);
            }
        }
    }

    /**
     * The in-place steps of {@link #run} on a bf16 flat buffer of our own whose tensors start at element 4 mod 8
     * (8 bytes off a 16-byte boundary), in chunks of 256 with fewer blocks than chunks, without the reference;
     * returns the final trainable θ.
     */
    float[][] runShifted(ZoOptimizerConfig cfg, int block) {
        DType dtype = DType.BF16;
        CudaStream s = bf16.stream();
        Random r = new Random(11);
        long[] offsets = new long[SPECS.size()];
        long total = 0;
        List<float[]> values = new ArrayList<>();
        for (int i = 0; i < SPECS.size(); i++) {
            ParamSpec p = SPECS.get(i);
            float[] v = new float[(int) p.numel()];
            for (int j = 0; j < v.length; j++) {
                v[j] = dtype.round((float) (0.5 * r.nextGaussian()));
            }
            values.add(v);
            offsets[i] = (total + 7) / 8 * 8 + 4;
            total = offsets[i] + v.length;
        }
        GpuOptimizer opt = GpuOptimizer.of(cfg);
        ChunkTable table = ChunkTable.build(SPECS, offsets, TRAIN, 256);
        long stateBytes = Math.max(4, opt.stateBytes(table.stateElements()));
        // a grid cap of 1 lets the chunk launches take 64 blocks for the table's ~100 chunks: blocks loop
        try (ZoKernels k = new ZoKernels(1, NoiseVariant.EXACT).blockSize(block).stateDType(opt.stateDType());
             DeviceBuffer flat = DeviceBuffer.allocate(2 * total);
             DeviceBuffer chunks = DeviceBuffer.allocate(table.toBytes().capacity());
             DeviceBuffer scalars = DeviceBuffer.allocate(ZoScalars.SIZE);
             DeviceBuffer m = DeviceBuffer.allocate(stateBytes);
             DeviceBuffer v = DeviceBuffer.allocate(stateBytes)) {
            ByteBuffer host = ByteBuffer.allocate((int) (2 * total)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < SPECS.size(); i++) {
                float[] vals = values.get(i);
                for (int j = 0; j < vals.length; j++) {
                    host.putShort((int) (2 * (offsets[i] + j)), DType.floatToBf16(vals[j]));
                }
            }
            ZoGpu.upload(flat, 0, host, s);
            ZoGpu.upload(chunks, 0, table.toBytes(), s);
            scalars.fill(0, ZoScalars.SIZE, 0, s);
            m.fill(0, stateBytes, 0, s);
            v.fill(0, stateBytes, 0, s);
            int dir = opt.direction().code;
            for (int t = 1; t <= STEPS; t++) {
                ByteBuffer in = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                opt.writeInputs(in, t, Noise.stepSeed(77, t), EPS);
                ZoGpu.upload(scalars, 0, in, s);
                k.perturb(dtype, flat.address(), chunks.address(), table.size(), scalars.address(), m.address(), dir,
                        1f, s);
                k.perturb(dtype, flat.address(), chunks.address(), table.size(), scalars.address(), m.address(), dir,
                        -2f, s);
                ByteBuffer ce = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                ce.putFloat(lossPlus(t)).putFloat(1f).putFloat(lossMinus(t)).putFloat(1f).flip();
                ZoGpu.upload(scalars, ZoScalars.CE_PLUS, ce, s);
                k.grad(scalars.address(), s);
                k.update(opt, dtype, flat.address(), chunks.address(), table.size(), scalars.address(),
                        m.address(), v.address(), dir, true, s);
            }
            float[][] out = new float[table.trainableCount()][];
            for (int j = 0; j < out.length; j++) {
                int p = table.parameter(j);
                out[j] = ZoGpu.download(flat.address() + 2 * offsets[p], SPECS.get(p).numel(), dtype, s);
            }
            return out;
        }
    }

    @Test
    void aNonFiniteLossSkipsTheUpdateButNotTheRestore() {
        for (DType d : DType.values()) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                run(sgd(Noise.Distribution.RADEMACHER), d, s, 256, 2, true);
                run(mmt(), d, s, 256, 3, false);
            }
        }
    }

    @Test
    void blockSizeDoesNotChangeABit() {
        List<ZoOptimizerConfig> configs = new ArrayList<>(registered());
        configs.addAll(stateful(DType.F16));
        for (ZoOptimizerConfig c : configs) {
            float[][] a = run(c, DType.BF16, PerturbationStrategy.IN_PLACE, 64, 0, false);
            float[][] b = run(c, DType.BF16, PerturbationStrategy.IN_PLACE, 512, 0, false);
            float[][] again = run(c, DType.BF16, PerturbationStrategy.IN_PLACE, 512, 0, false);
            for (int k = 0; k < a.length; k++) {
                assertBitwise(a[k], b[k], "block 64 vs 512, tensor " + k);
                assertBitwise(b[k], again[k], "repeated run, tensor " + k);
            }
        }
    }

    @Test
    void severalSpsaSamplesAverageTheirEstimates() {
        for (DType d : DType.values()) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                run(sgd(Noise.Distribution.RADEMACHER), d, s, 256, 0, true, 3); // ±1 directions: bitwise
                run(sgd(Noise.Distribution.GAUSSIAN), d, s, 256, 0, false, 2);
            }
        }
        run(mmt(DType.BF16), DType.F32, PerturbationStrategy.SHADOW, 256, 3, false, 2); // the last sample's NaN
        run(mmt(), DType.F16, PerturbationStrategy.IN_PLACE, 64, 2, false, 4);
        // Not ZO-Adam: it divides m by sqrt(v), so where the q estimates cancel (|ĝ| far below its terms) the
        // reference's noise, 3.5e-7 relative from the device's, moves its step by up to ~1 % (seen on the H200:
        // 4 bf16 ulps at θ = -0.0055 after 3 steps, q = 3). The estimate is the same code for every optimiser.
    }

    float[][] run(ZoOptimizerConfig cfg, DType dtype, PerturbationStrategy strategy, int block, int nanAt, boolean exact) {
        return run(cfg, dtype, strategy, block, nanAt, exact, 1);
    }

    /**
     * Runs STEPS steps with q SPSA samples on the GPU and the reference side by side; returns the GPU's final
     * trainable θ.
     */
    float[][] run(ZoOptimizerConfig cfg, DType dtype, PerturbationStrategy strategy, int block, int nanAt, boolean exact, int q) {
        String what = GpuOptimizer.of(cfg).name() + " " + dtype + " state " + GpuOptimizer.of(cfg).stateDType() + " "
                + strategy + " block " + block + (q > 1 ? " q " + q : "")
                + (nanAt > 0 ? " NaN at step " + nanAt : "");
        CudaOps ops = dtype == DType.F32 ? f32 : dtype == DType.BF16 ? bf16 : f16;
        CudaStream s = ops.stream();
        Random r = new Random(11);
        List<HostTensor> host = new ArrayList<>();
        for (ParamSpec p : SPECS) {
            float[] v = new float[(int) p.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = dtype.round((float) (0.5 * r.nextGaussian()));
            }
            host.add(HostTensor.ofFloats(p.name(), v, p.shape()));
        }
        GpuOptimizer opt = GpuOptimizer.of(cfg);
        try (CudaParameters params = (CudaParameters) ops.createParameters(host, dtype);
             ZoKernels k = ZoGpu.kernels().blockSize(block).stateDType(opt.stateDType())) {
            long[] offsets = new long[SPECS.size()];
            for (int i = 0; i < offsets.length; i++) {
                offsets[i] = params.offset(i);
            }
            ChunkTable table = ChunkTable.build(SPECS, offsets, TRAIN, 1024);
            NoiseLayout layout = table.layout();
            int nt = table.trainableCount();
            float[][] theta = new float[nt][];
            for (int j = 0; j < nt; j++) {
                theta[j] = host.get(table.parameter(j)).toFloats();
            }
            ZoOptimizer ref = reference(cfg, layout);
            ZoStep.Config zc = new ZoStep.Config(EPS, q, strategy, 1, 5, dtype, 77);
            ZoStep cpu = new ZoStep(zc, ref, theta);
            Recording loss = new Recording();
            loss.nanAt = nanAt;
            loss.q = q;
            long stateBytes = Math.max(4, opt.stateBytes(table.stateElements()));
            DType state = opt.stateDType();
            boolean lowState = state != DType.F32;
            try (DeviceBuffer chunks = DeviceBuffer.allocate(table.toBytes().capacity());
                 DeviceBuffer scalars = DeviceBuffer.allocate((long) q * ZoScalars.SIZE);
                 DeviceBuffer m = DeviceBuffer.allocate(stateBytes);
                 DeviceBuffer v = DeviceBuffer.allocate(stateBytes);
                 DeviceBuffer scratch = DeviceBuffer.allocate(4L * 21003)) {
                ZoGpu.upload(chunks, 0, table.toBytes(), s);
                scalars.fill(0, (long) q * ZoScalars.SIZE, 0, s);
                m.fill(0, stateBytes, 0, s);
                v.fill(0, stateBytes, 0, s);
                float[] frozenBefore = ZoGpu.download(CudaTensors.address(params.weight(2)), 5, dtype, s);
                boolean inPlace = strategy == PerturbationStrategy.IN_PLACE;
                int dir = opt.direction().code;
                float[][] peak = new float[nt][]; // per element: the largest |θ|, |θ ± εu| so far (f16 in place)
                for (int j = 0; j < nt; j++) {
                    peak[j] = new float[theta[j].length];
                    for (int i = 0; i < theta[j].length; i++) {
                        peak[j][i] = Math.abs(theta[j][i]);
                    }
                }
                for (int t = 1; t <= STEPS; t++) {
                    String at = what + ", step " + t;
                    // f16 in place: θ passes through θ ± εu, four roundings a step on a grid 8x finer than bf16's,
                    // and the reference's noise differs from the device's by up to 3.5e-7 relative, so a rare element
                    // flips a rounding at the magnitude of θ ± εu and the in-place passes carry that absolute offset
                    // on to smaller values (seen on the H100: one flip at |θ + εu| = 0.0313, where an f16 ulp is
                    // 2^-15, later 32 ulps of a value near 0.0019). So in place the bound is 2 ulps per step at the
                    // largest magnitude the element took in the passes so far; under 1% of elements may differ
                    int ulps = dtype == DType.F16 && inPlace ? 2 * t : 2;
                    for (int sm = 0; sm < q; sm++) {
                        ByteBuffer in = ByteBuffer.allocate(ZoScalars.INPUT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                        opt.writeInputs(in, t, Noise.stepSeed(77, t), EPS, sm, q);
                        ZoGpu.upload(scalars, (long) sm * ZoScalars.SIZE, in, s);
                    }
                    int before = loss.seen.size();
                    ZoStep.Result res = cpu.step(loss);
                    float[][] scale = null;
                    for (int sm = 0; sm < q; sm++) {
                        String atk = q > 1 ? at + " sample " + sm : at;
                        long blk = scalars.address() + (long) sm * ZoScalars.SIZE;
                        float[][] seenPlus = loss.seen.get(before + 2 * sm);
                        float[][] seenMinus = loss.seen.get(before + 2 * sm + 1);
                        if (dtype == DType.F16 && inPlace) {
                            for (int j = 0; j < nt; j++) {
                                for (int i = 0; i < peak[j].length; i++) {
                                    peak[j][i] = Math.max(peak[j][i], Math.max(Math.abs(seenPlus[j][i]),
                                            Math.abs(seenMinus[j][i])));
                                }
                            }
                            scale = peak;
                        }
                        if (inPlace) {
                            k.perturb(dtype, params.address(), chunks.address(), table.size(), blk, m.address(), dir,
                                    1f, s);
                            compareTensors(atk + " θ+εu", seenPlus, params, table, dtype, exact, lowState, ulps, scale,
                                    s);
                            k.perturb(dtype, params.address(), chunks.address(), table.size(), blk, m.address(), dir,
                                    -2f, s);
                            compareTensors(atk + " θ-εu", seenMinus, params, table, dtype, exact, lowState, ulps, scale,
                                    s);
                        } else {
                            for (int j = 0; j < nt; j++) {
                                long n = layout.size(j);
                                long src = CudaTensors.address(params.weight(table.parameter(j)));
                                k.shadow(dtype, src, scratch.address(), n, layout.offset(j), blk, m.address(), dir, 1f,
                                        s);
                                compareParams(atk + " shadow + tensor " + j, seenPlus[j],
                                        ZoGpu.download(scratch.address(), n, dtype, s), dtype, exact, lowState);
                                k.shadow(dtype, src, scratch.address(), n, layout.offset(j), blk, m.address(), dir,
                                        -1f, s);
                                compareParams(atk + " shadow - tensor " + j, seenMinus[j],
                                        ZoGpu.download(scratch.address(), n, dtype, s), dtype, exact, lowState);
                            }
                        }
                        ByteBuffer ce = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
                        ce.putFloat(res.lossPlus()[sm]).putFloat(1f).putFloat(res.lossMinus()[sm]).putFloat(1f).flip();
                        ZoGpu.upload(scalars, (long) sm * ZoScalars.SIZE + ZoScalars.CE_PLUS, ce, s);
                        k.grad(blk, s);
                        if (inPlace && sm < q - 1) { // the restore of every sample but the last (fused with the update)
                            k.perturb(dtype, params.address(), chunks.address(), table.size(), blk, m.address(), dir,
                                    1f, s);
                        }
                    }
                    k.update(opt, dtype, params.address(), chunks.address(), table.size(), scalars.address(),
                            m.address(), v.address(), dir, inPlace, s);
                    for (int sm = 0; sm < q; sm++) {
                        String atk = q > 1 ? at + " sample " + sm : at;
                        int[] out = ZoGpu.downloadWords(scalars.address() + (long) sm * ZoScalars.SIZE
                                + ZoScalars.OUTPUT, 16, s);
                        ZoScalars.Outputs o = ZoScalars.Outputs.read(wordsToBytes(out));
                        float lp = res.lossPlus()[sm];
                        float lm = res.lossMinus()[sm];
                        float g = res.projectedGradient()[sm];
                        boolean bad = !Float.isFinite(lp) || !Float.isFinite(lm) || !Float.isFinite(g);
                        assertEquals(t, o.step(), atk);
                        assertEquals(bad, o.bad(), atk + " bad flag");
                        assertEquals(Float.floatToIntBits(lp), Float.floatToIntBits(o.lossPlus()), atk);
                        assertEquals(lm, o.lossMinus(), 0f, atk);
                        assertEquals(bad ? 0f : g, o.g(), 0f, atk + " g");
                    }
                    compareTensors(at + " θ after the update", theta, params, table, dtype, exact, lowState, ulps, scale, s);
                    compareState(at, ref, m, v, table, exact, dtype != DType.F32 || lowState, state, s);
                }
                assertBitwise(frozenBefore, ZoGpu.download(CudaTensors.address(params.weight(2)), 5, dtype, s),
                        what + ": frozen tensor untouched");
                float[][] result = new float[nt][];
                for (int j = 0; j < nt; j++) {
                    result[j] = ZoGpu.download(CudaTensors.address(params.weight(table.parameter(j))), layout.size(j),
                            dtype, s);
                }
                return result;
            }
        }
    }

    private static ByteBuffer wordsToBytes(int[] w) {
        ByteBuffer b = ByteBuffer.allocate(4 * w.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : w) {
            b.putInt(x);
        }
        b.flip();
        return b;
    }

    private static void compareTensors(String what, float[][] expected, CudaParameters params, ChunkTable table,
                                       DType dtype, boolean exact, boolean lowState, int ulps, float[][] scale,
                                       CudaStream s) {
        for (int j = 0; j < table.trainableCount(); j++) {
            float[] actual = ZoGpu.download(CudaTensors.address(params.weight(table.parameter(j))),
                    table.layout().size(j), dtype, s);
            if (scale != null && !exact) {
                compareAtScale(what + " tensor " + j, expected[j], actual, dtype, ulps, scale[j]);
            } else {
                compareParams(what + " tensor " + j, expected[j], actual, dtype, exact, lowState, ulps);
            }
        }
    }

    /** {@link #compare}, or with low-precision state (float32 parameters), {@link #compareMostly}. */
    private static void compareParams(String what, float[] expected, float[] actual, DType dtype, boolean exact,
                                      boolean lowState) {
        compareParams(what, expected, actual, dtype, exact, lowState, 2);
    }

    private static void compareParams(String what, float[] expected, float[] actual, DType dtype, boolean exact,
                                      boolean lowState, int ulps) {
        if (lowState && dtype == DType.F32 && !exact) {
            compareMostly(what, expected, actual, 1e-7);
        } else {
            compare(what, expected, actual, dtype, exact, 1e-7, ulps);
        }
    }

    /**
     * Optimiser state (float32). With bf16 / f16 parameters, an element whose θ came out one ulp apart (allowed
     * above) feeds a different λθ into its moments: such elements, up to 1%, need only agree to 1e-2.
     */
    private static void compareState(String at, ZoOptimizer ref, DeviceBuffer m, DeviceBuffer v, ChunkTable table,
                                     boolean exact, boolean bf16Params, DType state, CudaStream s) {
        NoiseLayout l = table.layout();
        for (int j = 0; j < table.trainableCount(); j++) {
            int n = (int) l.size(j);
            List<String> vectors = ref.config().stateVectors();
            if (vectors.isEmpty()) {
                return;
            }
            float[] em = ref.state(0, j); // m: a first moment or momentum
            float[] ev = vectors.size() > 1 ? ref.state(1, j) : null; // v: a second moment (squares)
            long at4 = (long) state.bytes() * l.offset(j);
            // m sums terms of order |g·u| ~ 1 that may cancel: its float32 error is absolute, ~1e-7 of the terms
            float[] am = ZoGpu.download(m.address() + at4, n, state, s);
            if (state != DType.F32) {
                // a value rounded to the neighbouring bf16 / f16 one (1 ulp of |m|) feeds the next step's
                // μ·m + ...: where that sum cancels, the difference is 1 ulp of the terms, not of the result
                compareMostly(at + " m of tensor " + j, em, am, 1e-6, 1e-2 * rms(em));
            } else if (bf16Params && !exact) {
                compareMostly(at + " m of tensor " + j, em, am, 1e-6);
            } else {
                compare(at + " m of tensor " + j, em, am, DType.F32, exact, 1e-6);
            }
            if (ev != null) {
                float[] av = ZoGpu.download(v.address() + at4, n, state, s);
                if (state != DType.F32) {
                    compareMostly(at + " v of tensor " + j, ev, av, 1e-12, 1e-2 * rms(ev));
                } else if (bf16Params && !exact) {
                    compareMostly(at + " v of tensor " + j, ev, av, 1e-12);
                } else {
                    compare(at + " v of tensor " + j, ev, av, DType.F32, exact, 1e-12);
                }
            }
        }
    }

    /** |a - e| <= 1e-5 |e| + atol, except for at most 1 + 1% of the elements, which need 1e-2 |e| + atol. */
    static void compareMostly(String what, float[] expected, float[] actual, double atol) {
        compareMostly(what, expected, actual, atol, 0);
    }

    /** As above, the loose elements also allowed {@code looseAtol} more. */
    static void compareMostly(String what, float[] expected, float[] actual, double atol, double looseAtol) {
        assertEquals(expected.length, actual.length, what);
        int loose = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double err = Math.abs((double) actual[i] - e);
            if (Float.isNaN(actual[i]) || err > 1e-2 * Math.abs(e) + atol + looseAtol) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + e);
            }
            if (err > 1e-5 * Math.abs(e) + atol) {
                loose++;
            }
        }
        assertTrue(loose <= 1 + expected.length / 100, what + ": " + loose + " of " + expected.length
                + " elements beyond 1e-5");
    }

    static double rms(float[] x) {
        double s = 0;
        for (float v : x) {
            s += (double) v * v;
        }
        return Math.sqrt(s / Math.max(1, x.length));
    }

    static void assertBitwise(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected bitwise " + expected[i]);
            }
        }
    }

    /**
     * exact: bitwise. Otherwise f32: |a - e| <= 1e-5 |e| + atol; bf16 / f16: at most 2 ulp of the dtype apart, in
     * under 1% of the elements (the rest bitwise).
     */
    static void compare(String what, float[] expected, float[] actual, DType dtype, boolean exact, double atol) {
        compare(what, expected, actual, dtype, exact, atol, 2);
    }

    /**
     * 16-bit values that may differ by up to {@code ulps} ulps of the dtype at magnitude {@code scale[i]} (the largest
     * the element took), in under 1% of the elements; the rest bitwise.
     */
    static void compareAtScale(String what, float[] expected, float[] actual, DType dtype, int ulps, float[] scale) {
        assertEquals(expected.length, actual.length, what);
        int differ = 0;
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i];
            float a = actual[i];
            if (Float.isNaN(a) || Float.isNaN(e)) {
                fail(what + ": NaN at " + i);
            }
            if (Float.floatToRawIntBits(a) != Float.floatToRawIntBits(e)) {
                differ++;
                double bound = ulps * ulpAt(dtype, Math.max(scale[i], Math.max(Math.abs(e), Math.abs(a))));
                if (Math.abs((double) a - e) > bound) {
                    fail(what + ": element " + i + " is " + a + ", expected " + e + " (more than " + ulps + " " + dtype
                            + " ulp at magnitude " + scale[i] + ")");
                }
            }
        }
        assertTrue(differ <= 1 + expected.length / 100, what + ": " + differ + " of " + expected.length + " differ");
    }

    /** The spacing of bf16 / f16 values at magnitude x. */
    static double ulpAt(DType dtype, double x) {
        int mantissa = dtype == DType.BF16 ? 7 : 10;
        int minExp = dtype == DType.BF16 ? -126 : -14;
        int exp = x > 0 ? Math.max(Math.getExponent(x), minExp) : minExp;
        return Math.scalb(1.0, exp - mantissa);
    }

    /** {@link #compare} allowing up to {@code ulps} (instead of 2) for bf16 / f16 values. */
    static void compare(String what, float[] expected, float[] actual, DType dtype, boolean exact, double atol,
                        int ulps) {
        if (exact) {
            assertBitwise(expected, actual, what);
            return;
        }
        assertEquals(expected.length, actual.length, what);
        int differ = 0;
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i];
            float a = actual[i];
            if (Float.isNaN(a) || Float.isNaN(e)) {
                fail(what + ": NaN at " + i);
            }
            if (dtype == DType.F32) {
                if (Math.abs((double) a - e) > 1e-5 * Math.abs(e) + atol) {
                    fail(what + ": element " + i + " is " + a + ", expected " + e);
                }
            } else if (Float.floatToRawIntBits(a) != Float.floatToRawIntBits(e)) {
                differ++;
                if (ZoGpu.ulpDistance(dtype, a, e) > ulps) {
                    fail(what + ": element " + i + " is " + a + ", expected " + e + " (more than " + ulps + " " + dtype
                            + " ulp)");
                }
            }
        }
        if (differ > 0) {
            assertTrue(differ <= 1 + expected.length / 100, what + ": " + differ + " of " + expected.length
                    + " " + dtype + " values differ by an ulp");
        }
        assertFalse(expected.length == 0, what);
    }
}
