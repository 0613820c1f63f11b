package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.bench.Gpt2Shapes;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.Architectures;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;

/**
 * The fused ZO kernels over every parameter of a GPT-2-shaped model (one launch each, chunk table as the engine
 * builds it), against a device-to-device copy of the same parameter bytes in the same run. Each invocation is one
 * launch followed by a stream synchronisation. Bytes moved per element (read + written): perturb and the ZO-SGD
 * update 2·b (b = 4 for f32, 2 for bf16 and f16); ZO-AdaMU 2·b + 8 (m in f32); ZO-Adam 2·b + 16 (m and v); copy
 * 2·b; the {@code _sbf16} variants keep the optimiser state in bf16: ZO-AdaMU 2·b + 4, ZO-Adam 2·b + 8; the
 * {@code _rad} variants use Rademacher (±1) directions (ALGORITHMS.md §1, ZO-SGD only): no Box–Muller. Every row
 * runs with the exact and the fast noise variant ({@code noise}; {@code -p noise=fast} for one).
 * Package org.zotune.zo.cuda to reach the engine's package-private direction codes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class ZoKernelBenchmark {

    @Param({"F32", "BF16", "F16"})
    public String dtype;

    @Param({"copy", "perturb", "sgd", "adamu", "adam", "adamu_sbf16", "adam_sbf16", "perturb_rad", "sgd_rad"})
    public String op;

    /** The noise variant of the kernels (NoiseVariant: exact or fast; the copy row ignores it). */
    @Param({"exact", "fast"})
    public String noise;

    /** GPT-2 shape whose parameter list (and so chunk table) is swept. */
    @Param({"774M"})
    public String model;

    private CudaOps ops;
    private CudaStream stream;
    private ZoKernels kernels;
    private GpuOptimizer opt;
    private DeviceBuffer theta;
    private DeviceBuffer copyTarget;
    private DeviceBuffer chunks;
    private DeviceBuffer scalars;
    private DeviceBuffer m;
    private DeviceBuffer v;
    private int nchunks;
    private long elements;
    private DType type;

    @Setup(Level.Trial)
    public void setUp() {
        type = DType.valueOf(dtype);
        ops = CudaOps.create(type);
        stream = ops.stream();
        List<ParamSpec> specs = Architectures.create(Gpt2Shapes.config(model)).params();
        long[] offsets = new long[specs.size()];
        long align = 256 / type.bytes();
        long total = 0;
        for (int i = 0; i < specs.size(); i++) {
            offsets[i] = total;
            total = (total + specs.get(i).numel() + align - 1) / align * align;
        }
        elements = total;
        ChunkTable table = ChunkTable.build(specs, offsets, null);
        nchunks = table.size();
        System.out.println("zo kernels: " + model + " " + type + ", flat buffer of " + total + " elements, "
                + "chunk table of " + nchunks + " chunks, " + noise + " noise");
        kernels = new ZoKernels(ops.device().multiprocessors() * 8, NoiseVariant.parse(noise));
        if (System.getProperty("zotune.bench.block") != null) {
            kernels.blockSize(Integer.getInteger("zotune.bench.block"));
        }
        theta = DeviceBuffer.allocate(total * type.bytes());
        randomise(theta, total);
        ByteBuffer tb = table.toBytes();
        chunks = DeviceBuffer.allocate(tb.capacity());
        try (PinnedBuffer pinned = PinnedBuffer.allocate(Math.max(tb.capacity(), ZoScalars.SIZE))) {
            pinned.slice(0, tb.capacity()).put(tb);
            chunks.copyFromHost(pinned.pointer(), 0, tb.capacity(), stream);
            stream.synchronize();
            opt = GpuOptimizer.of(optimizerConfig());
            ByteBuffer s = pinned.slice(0, ZoScalars.SIZE).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < ZoScalars.SIZE; i += 4) {
                s.putInt(i, 0);
            }
            opt.writeInputs(s, 2000, 0x9E3779B97F4A7C15L, 1e-3f);
            // two loss sums and counts as the forward would leave them: g = (2.31 - 2.30) / 2e-3
            s.putFloat(ZoScalars.CE_PLUS, 2.31f).putFloat(ZoScalars.CE_PLUS + 4, 1f);
            s.putFloat(ZoScalars.CE_MINUS, 2.30f).putFloat(ZoScalars.CE_MINUS + 4, 1f);
            scalars = DeviceBuffer.allocate(ZoScalars.SIZE);
            scalars.copyFromHost(pinned.pointer(), 0, ZoScalars.SIZE, stream);
            stream.synchronize();
        }
        kernels.grad(scalars.address(), stream);
        kernels.stateDType(opt.stateDType());
        long state = opt.stateBytes(table.stateElements());
        if (opt.stateVectors() >= 1) {
            m = DeviceBuffer.allocate(state);
            m.fill(0, state, 0, stream);
        }
        if (opt.stateVectors() >= 2) {
            v = DeviceBuffer.allocate(state);
            v.fill(0, state, 0, stream);
        }
        if (op.equals("copy")) {
            copyTarget = DeviceBuffer.allocate(total * type.bytes());
        }
        stream.synchronize();
    }

    private ZoOptimizerConfig optimizerConfig() {
        LrSchedule lr = LrSchedule.constant(1e-6);
        DType state = op.endsWith("_sbf16") ? DType.BF16 : DType.F32;
        switch (op.replace("_sbf16", "")) {
            case "adamu": return new ZoAdaMu.Config(lr, AdaMuSchedule.defaults(20000), 1e-8, 0.0, state);
            case "adam": return new ZoAdam.Config(lr, 0.9, 0.999, 1e-8, 0.0, state);
            case "perturb_rad":
            case "sgd_rad": return new ZoSgd.Config(lr, 0.0, Noise.Distribution.RADEMACHER); // ±1 directions
            default: return new ZoSgd.Config(lr, 0.0, Noise.Distribution.GAUSSIAN);
        }
    }

    /** Normal values (never zeros), cast to the parameter dtype on the device. */
    private void randomise(DeviceBuffer target, long n) {
        int cols = 1 << 16;
        int rows = (int) ((n + cols - 1) / cols);
        long padded = (long) rows * cols;
        try (DeviceBuffer f32 = DeviceBuffer.allocate(4 * padded); Ops.Scope scope = ops.scope()) {
            kernels.noiseFill(f32.address(), 12345L, 0, 0, padded, 0, stream);
            if (type == DType.F32) {
                DeviceBuffer.copy(target.address(), f32.address(), 4 * n, stream);
            } else {
                Tensor cast = ops.cast(CudaTensors.view(f32.address(), rows, cols, DType.F32), type);
                DeviceBuffer.copy(target.address(), CudaTensors.address(cast), n * type.bytes(), stream);
            }
            stream.synchronize();
        }
    }

    @Benchmark
    public void kernel() {
        long sc = scalars.address();
        long mAddr = m == null ? 0 : m.address();
        long vAddr = v == null ? 0 : v.address();
        switch (op) {
            case "copy":
                DeviceBuffer.copy(copyTarget.address(), theta.address(), elements * type.bytes(), stream);
                break;
            case "perturb":
            case "perturb_rad":
                kernels.perturb(type, theta.address(), chunks.address(), nchunks, sc, mAddr, opt.direction().code, 1f, stream);
                break;
            default:
                kernels.update(opt, type, theta.address(), chunks.address(), nchunks, sc, mAddr, vAddr,
                        opt.direction().code, true, stream);
                break;
        }
        stream.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (DeviceBuffer b : new DeviceBuffer[] {theta, copyTarget, chunks, scalars, m, v}) {
            if (b != null) {
                b.close();
            }
        }
        kernels.close();
        ops.close();
    }
}
