package org.zotune.bench;

import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaOptions;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The fused attention alone, the short-sequence kernels ({@code kernel=short}, the default for T ≤ 256) against the
 * 64-row kernels they replace ({@code kernel=long}: the same backend with -Dzotune.cuda.flashShort=false, two-stage
 * where D ≤ 80; every kernel but {@code hopper} runs with -Dzotune.cuda.flashHopper=false), the wide kernels for T > 256 ({@code kernel=wide}: -Dzotune.cuda.flashWide=true, 128 query rows a
 * block, 2 m-tiles a warp; at T ≤ 256 the same as {@code short}), the Hopper kernels at every T ({@code kernel=hopper}:
 * warpgroup MMA, 128 query rows a block, on a compute capability 9.0 GPU; short kernels off), the float32 kernels
 * ({@code kernel=x3} with {@code -p dtype=F32}: 3xTF32 on the tensor cores, 64 query rows a block), the unfused path
 * ({@code kernel=unfused}: -Dzotune.cuda.flashAttention=false, scores through device memory and cuBLAS; in F32 what
 * every kernel but x3 runs), and a device-to-device
 * copy of the same bytes
 * ({@code kernel=copy}: q, k, v read and the output written once, 4·B·T·H·D·b bytes, b = 2 for bf16 / f16; the copy
 * reads and writes 2·B·T·H·D·b), in one run. Shapes
 * ({@code -p shape=}): {@code gpt2xl-16x128} and {@code gpt2xl-16x512} (GPT-2 1.5B: H = 25, D = 64, causal, packed
 * q|k|v rows of 3·1600 with the qkv bias fused into the kernel, as the model runs it), {@code roberta-large-32x128}
 * and {@code roberta-large-32x512} (H = 16, D = 64, bidirectional, separate q, k, v; every key visible). Each invocation is {@value #LAUNCHES}
 * launches back to back then one stream synchronisation, so the score is µs per launch without the host's
 * synchronisation. Bytes moved are printed at setup; GB/s = bytes / time. Run on the GPU host, with the bundle and
 * the benchmarks jar as for LoraKernelBenchmark (benchmarks/RESULTS.md):
 * {@code java -cp "bench/benchmarks.jar:bench/lib/*:dist/lib/*" org.openjdk.jmh.Main AttentionKernelBenchmark
 * -wi 2 -w 300ms -i 5 -r 300ms -f 1} (add {@code -p shape=gpt2xl-16x128} for one shape, {@code -p dtype=F16}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx8g"})
public class AttentionKernelBenchmark {
    static final int LAUNCHES = 20;

    @Param({"BF16"})
    public String dtype;

    @Param({"gpt2xl-16x128", "gpt2xl-16x512", "roberta-large-32x128", "roberta-large-32x512"})
    public String shape;

    @Param({"copy", "long", "short", "wide", "hopper"})
    public String kernel;

    private CudaOps ops;
    private CudaStream stream;
    private DType type;
    private AttentionSpec spec;
    private boolean packed;
    private Parameters inputs;
    private Parameters slot;
    private IntTensor mask;
    private IntTensor positions;
    private long copyBytes;

    @Setup(Level.Trial)
    public void setUp() {
        type = DType.valueOf(dtype);
        int b;
        int t;
        int h;
        boolean causal;
        switch (shape) {
            case "gpt2xl-16x128" -> { b = 16; t = 128; h = 25; causal = true; packed = true; }
            case "gpt2xl-16x512" -> { b = 16; t = 512; h = 25; causal = true; packed = true; }
            case "roberta-large-32x128" -> { b = 32; t = 128; h = 16; causal = false; packed = false; }
            case "roberta-large-32x512" -> { b = 32; t = 512; h = 16; causal = false; packed = false; }
            default -> throw new IllegalArgumentException("unknown shape " + shape
                    + " (gpt2xl-16x128, gpt2xl-16x512, roberta-large-32x128, roberta-large-32x512)");
        }
        int d = 64;
        spec = new AttentionSpec(b, t, h, h, d, (float) (1 / Math.sqrt(d)), 0, null).withCausal(causal);
        CudaOptions dflt = CudaOptions.fromSystemProperties();
        ops = CudaOps.create(type, new CudaOptions(dflt.fuseNorm(), dflt.fuseBias(), dflt.stridedLogits(),
                dflt.flashBias(), dflt.flashPipeline(), !kernel.equals("unfused"),
                !kernel.equals("long") && !kernel.equals("hopper"), dflt.ltEpilogue(), dflt.arenaChunkMiB(),
                dflt.captureHostMiB(), kernel.equals("wide"), dflt.decodeAttention(), kernel.equals("hopper"),
                dflt.hopperMinBlocks(), kernel.equals("x3"), dflt.gemmF32(), dflt.tuneProducts(), dflt.splitOnlyMlp()));
        stream = ops.stream();
        Random r = new Random(11);
        int tokens = b * t;
        int hd = h * d;
        // parameter 0: packed q|k|v [tokens, 3·hd] (or q, k, v as three [tokens, hd]), then the [3, hd] bias
        inputs = ops.createParameters(packed
                ? List.of(host("qkv", r, tokens, 3 * hd, 1.0), host("bias", r, 3, hd, 0.1))
                : List.of(host("q", r, tokens, hd, 1.0), host("k", r, tokens, hd, 1.0), host("v", r, tokens, hd, 1.0)),
                type);
        copyBytes = 2L * tokens * hd * type.bytes();
        int copyElements = Math.toIntExact(copyBytes / type.bytes());
        slot = ops.createParameters(List.of(host("from", r, 1, copyElements, 1.0), host("to", r, 1, copyElements, 1.0)),
                type);
        int[] ones = new int[tokens];
        java.util.Arrays.fill(ones, 1);
        mask = ops.ints(ones);
        positions = ops.ints(new int[tokens]);
        System.out.printf("attention kernels: %s %s %s, B=%d T=%d H=%d D=%d %s%s, %d bytes moved per launch%n", shape,
                type, kernel, b, t, h, d, causal ? "causal" : "bidirectional", packed ? " packed+bias" : "",
                2 * copyBytes);
    }

    private static HostTensor host(String name, Random r, int rows, int cols, double scale) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return HostTensor.ofFloats(name, v, rows, cols);
    }

    @Benchmark
    @OperationsPerInvocation(LAUNCHES)
    public void attention() {
        for (int i = 0; i < LAUNCHES; i++) {
            if (kernel.equals("copy")) {
                DeviceBuffer.copy(CudaTensors.address(slot.weight(1)), CudaTensors.address(slot.weight(0)), copyBytes,
                        stream);
                continue;
            }
            try (Ops.Scope s = ops.scope()) { // the output comes from the arena and goes back to it
                if (packed) {
                    ops.attentionPacked(inputs.weight(0), inputs.weight(1), mask, positions, spec);
                } else {
                    ops.attention(inputs.weight(0), inputs.weight(1), inputs.weight(2), mask, positions, spec);
                }
            }
        }
        stream.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (Parameters p : new Parameters[] {inputs, slot}) {
            if (p != null) {
                p.close();
            }
        }
        ops.close();
    }
}
