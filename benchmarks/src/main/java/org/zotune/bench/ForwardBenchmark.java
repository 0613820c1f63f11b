package org.zotune.bench;

import java.util.SplittableRandom;
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
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.train.objective.NextTokenTargets;

/**
 * The CUDA forward pass (logits + mean cross-entropy) of GPT-2-shaped models with random bf16 weights.
 * {@code mode=graph} replays a captured CUDA graph; {@code eager} launches every kernel from Java. Each
 * invocation ends with a copy of the loss to the host, which synchronises the stream.
 * tokens/s = batch·seq / (ms per op / 1000).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx48g"})
public class ForwardBenchmark {

    @Param({"124M", "355M", "774M", "1558M"})
    public String model;

    @Param({"16x128", "8x1024"})
    public String shape;

    @Param({"graph"})
    public String mode;

    private CudaOps ops;
    private Parameters params;
    private CausalLM lm;
    private Batch batch;
    private AutoCloseable graph;
    private Runnable replay;
    private Ops.Scope scope;
    private Tensor loss;

    @Setup(Level.Trial)
    public void setUp() {
        ModelConfig config = Gpt2Shapes.config(model);
        String[] bt = shape.split("x");
        int b = Integer.parseInt(bt[0]);
        int t = Integer.parseInt(bt[1]);
        lm = Architectures.create(config);
        ops = CudaOps.create(DType.BF16);
        params = ops.createParameters(Gpt2Shapes.randomWeights(lm.params(), 42), DType.BF16);
        SplittableRandom rnd = new SplittableRandom(7);
        int[][] seqs = new int[b][t];
        for (int[] s : seqs) {
            for (int i = 0; i < t; i++) {
                s[i] = rnd.nextInt(config.vocabSize());
            }
        }
        batch = Batch.rightPadded(seqs, 0);
        if (mode.equals("graph")) {
            // one eager pass sizes the activation arena: no device allocation may happen during capture
            try (Ops.Scope s = ops.scope()) {
                ops.toHost(step());
            }
            scope = ops.scope();
            CudaOps.Graph g = ops.captureGraph(() -> loss = step());
            graph = g;
            replay = g::replay;
        } else {
            replay = () -> {
                try (Ops.Scope s = ops.scope()) {
                    loss = step();
                    ops.toHost(loss);
                }
            };
        }
    }

    private Tensor step() {
        IntTensor targets = ops.ints(NextTokenTargets.of(batch));
        Tensor logits = lm.forward(ops, params, batch);
        return ops.crossEntropy(logits, targets);
    }

    @Benchmark
    public float forward() {
        replay.run();
        if (mode.equals("graph")) {
            return ops.toHost(loss)[0];
        }
        return 0f;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        if (graph != null) {
            graph.close();
        }
        if (scope != null) {
            scope.close();
        }
        params.close();
        ops.close();
    }
}
