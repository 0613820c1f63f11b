package org.zotune.zo.cuda;

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
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.bench.StepShapes;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.tensor.DType;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.optim.ZoStep;

/**
 * One zeroth-order step of {@link DeviceZoStep} (two forwards, perturbation, projected gradient, update) on a
 * random-weight GPT-2 or OPT shape ({@link StepShapes} names), per invocation: submit, then drain (which waits
 * for the step's event) and a stream synchronisation, so JMH's time is the whole step. Weights as
 * {@link StepBench#randomParameters}. Variant = optimiser-strategy-launch, e.g. {@code sgd-inplace-graph}.
 * tokens/s = batch·seq / (ms per op / 1000).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx16g", "-XX:MaxDirectMemorySize=4g"})
public class ZoStepBenchmark {

    @Param({"gpt2-1558M"})
    public String model;

    @Param({"16x128"})
    public String shape;

    @Param({"bf16"})
    public String dtype;

    @Param({"sgd-inplace-graph", "sgd-shadow-graph", "adamu-inplace-graph", "adamu-shadow-graph",
            "sgd-inplace-eager"})
    public String variant;

    private Parameters params;
    private CudaOps ops;
    private DeviceZoStep engine;
    private Batch batch;

    @Setup(Level.Trial)
    public void setUp() {
        DType t = StepBench.dtype(dtype);
        StepBench.Variant v = StepBench.Variant.parse(variant);
        CausalLM lm = Architectures.create(StepShapes.config(model));
        batch = StepBench.batch(shape, lm.config().vocabSize());
        params = StepBench.randomParameters(lm, t, 42);
        ops = CudaOps.create(t);
        engine = new DeviceZoStep(ops, lm, params, v.optimizer(), new ZoStep.Config(1e-3, 1, v.strategy(), 1, 5, t, 1))
                .useGraph(v.graph());
    }

    @Benchmark
    public float step() {
        engine.submit(batch, NextTokenTargets.of(batch));
        float loss = engine.drain().get(0).loss();
        ops.stream().synchronize();
        return loss;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.close();
        ops.close();
        params.close();
    }
}
