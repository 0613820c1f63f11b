package org.zotune.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Random;
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
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * LoRA's bandwidth passes on one adapted weight W [rows, cols] (zotune's [out, in]) of rank r, against a
 * device-to-device copy of W's bytes in the same run. Each invocation is one pass followed by a stream
 * synchronisation. Ops: {@code copy} (read W, write a W-sized buffer: 2·rows·cols·b bytes, b = 2 for bf16 / f16, 4 for
 * f32); {@code weight_vector} and {@code weight_scalar}: W' = W + s·B·A (Ops.loraWeight into a slot, the merge path),
 * the same bytes as the copy plus (rows + cols)·r·4 of factors, by the tiled 16-byte kernel (W 16-byte aligned) and
 * by the scalar one (W read through a view one element in, so the host falls back to it; the slot stays aligned);
 * {@code delta_vector} and {@code delta_scalar}: the skinny path's y += s·(x·Aᵀ)·Bᵀ (Ops.loraDelta) for
 * {@code tokens} rows, x [tokens, cols] and y [tokens, rows]: lora_down (the same kernel in both) then lora_up, tiled
 * or scalar by y's alignment; lora_up moves 2·tokens·rows·b bytes, lora_down reads tokens·cols·b. Shapes: GPT-2 1.5B's
 * c_attn as zotune holds it ([4800, 1600], the scope's merge weight), its transpose [1600, 4800], and [4096, 4096]
 * (a 7B model's q or v). Bytes moved are printed at setup; GB/s = bytes / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class LoraKernelBenchmark {

    @Param({"BF16"})
    public String dtype;

    /** W's shape, rows x cols. */
    @Param({"4800x1600", "1600x4800", "4096x4096"})
    public String shape;

    @Param({"8"})
    public int rank;

    @Param({"copy", "weight_scalar", "weight_vector", "delta_scalar", "delta_vector"})
    public String op;

    /** Rows of x and y for the delta ops (16 sequences of 128 tokens). */
    @Param({"2048"})
    public int tokens;

    private CudaOps ops;
    private CudaStream stream;
    private DType type;
    private int rows;
    private int cols;
    private Parameters weights;
    private Parameters factors;
    private Parameters slot;
    private Tensor w;
    private Tensor x;
    private Tensor y;

    @Setup(Level.Trial)
    public void setUp() {
        type = DType.valueOf(dtype);
        String[] rc = shape.split("x");
        rows = Integer.parseInt(rc[0]);
        cols = Integer.parseInt(rc[1]);
        ops = CudaOps.create(type);
        stream = ops.stream();
        Random r = new Random(7);
        boolean delta = op.startsWith("delta");
        boolean scalar = op.endsWith("scalar");
        int pad = 16 / type.bytes(); // one vector of slack, so a view one element in stays inside
        long n = delta ? (long) tokens * cols : (long) rows * cols;
        long m = delta ? (long) tokens * rows : (long) rows * cols;
        // parameter 0: W (or x), 1: y for delta; every one at a 256-byte-aligned address
        weights = ops.createParameters(delta
                ? List.of(host("x", r, n + pad), host("y", r, m + pad))
                : List.of(host("W", r, n + pad)), type);
        factors = ops.createParameters(List.of(
                HostTensor.ofFloats("B", gaussian(r, rows * rank, 1.0), rows, rank),
                HostTensor.ofFloats("At", gaussian(r, cols * rank, 1.0 / Math.sqrt(cols)), cols, rank)), DType.F32);
        slot = ops.createParameters(List.of(new HostTensor("slot", type, new long[] {1, m},
                ByteBuffer.allocate(Math.toIntExact(m * type.bytes())).order(ByteOrder.LITTLE_ENDIAN))), type);
        long base = CudaTensors.address(weights.weight(0));
        long off = scalar ? type.bytes() : 0; // one element in: not 16-byte aligned, so the scalar kernel
        if (delta) {
            x = CudaTensors.view(base, tokens, cols, type);
            y = CudaTensors.view(CudaTensors.address(weights.weight(1)) + off, tokens, rows, type);
        } else {
            w = CudaTensors.view(base + off, rows, cols, type);
        }
        long bytes = switch (op) {
            case "copy", "weight_scalar", "weight_vector" -> 2L * rows * cols * type.bytes();
            default -> 2L * tokens * rows * type.bytes() + (long) tokens * cols * type.bytes();
        };
        System.out.printf("lora kernels: %s %s r=%d %s%s, %d bytes of %s moved per pass%n", shape, type, rank, op,
                delta ? " tokens=" + tokens : "", bytes, delta ? "x, y" : "W, W'");
    }

    private HostTensor host(String name, Random r, long n) {
        return HostTensor.ofFloats(name, gaussian(r, Math.toIntExact(n), 1.0), 1, Math.toIntExact(n));
    }

    private static float[] gaussian(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }

    @Benchmark
    public void kernel() {
        switch (op) {
            case "copy":
                DeviceBuffer.copy(CudaTensors.address(slot.weight(0)), CudaTensors.address(weights.weight(0)),
                        (long) rows * cols * type.bytes(), stream);
                break;
            case "weight_scalar":
            case "weight_vector":
                ops.loraWeight(w, factors.weight(0), factors.weight(1), 2f, slot.weight(0));
                break;
            default:
                try (Ops.Scope s = ops.scope()) { // loraDelta's t [tokens, r] comes from the arena
                    ops.loraDelta(x, factors.weight(1), factors.weight(0), 2f, y);
                }
                break;
        }
        stream.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Parameters p : new Parameters[] {weights, factors, slot}) {
            if (p != null) {
                p.close();
            }
        }
        ops.close();
    }
}
