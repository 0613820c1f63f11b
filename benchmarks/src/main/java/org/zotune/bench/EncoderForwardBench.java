package org.zotune.bench;

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
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;

/**
 * The CUDA forward pass of BERT/RoBERTa-shaped encoders ({@link EncoderShapes}) with random weights, against which
 * benchmarks/hf_forward.py --encoders times Hugging Face's eager and sdpa attention in the same run
 * (benchmarks/forward.sh --encoders). {@code output=hidden}: the body's last hidden states (BertModel /
 * RobertaModel's last_hidden_state); {@code mlm}: the masked-LM head's logits at every position (…ForMaskedLM's
 * logits). Rows are full length (no padding); the attention reads the padding mask all the same (all ones here: the
 * bf16 path's fused kernel checks each key's mask entry, fp32's masked softmax too). {@code mode=graph} replays
 * the captured forward; {@code eager} launches every kernel from Java. Each invocation ends by waiting for the
 * stream. This class's name avoids "ForwardBenchmark", forward.sh's JMH pattern for the decoder rows.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx24g"})
public class EncoderForwardBench {

    @Param({"bert-base", "bert-large", "roberta-large"})
    public String model;

    @Param({"32x128", "32x512"})
    public String shape;

    @Param({"bf16"})
    public String dtype;

    @Param({"hidden", "mlm"})
    public String output;

    @Param({"graph"})
    public String mode;

    private CudaOps ops;
    private Parameters params;
    private AutoCloseable graph;
    private Runnable replay;
    private Ops.Scope scope;

    /** The timed forward: the encoder's hidden states or its MLM logits at every position. */
    public static Tensor forward(Ops ops, EncoderModel m, WeightSource w, Batch batch, String output) {
        switch (output) {
            case "hidden": return m.hiddenStates(ops, w, batch, null);
            case "mlm": return m.forward(ops, w, batch);
            default: throw new IllegalArgumentException("output " + output + ": expected hidden or mlm");
        }
    }

    /** bf16, fp16 or fp32 (the names the Python side uses). */
    public static DType dtype(String s) {
        switch (s) {
            case "bf16": return DType.BF16;
            case "fp16": return DType.F16;
            case "fp32": return DType.F32;
            default: throw new IllegalArgumentException("dtype " + s + ": expected bf16, fp16 or fp32");
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        ModelConfig config = EncoderShapes.config(model);
        EncoderModel m = (EncoderModel) Architectures.createModel(config);
        DType dt = dtype(dtype);
        Batch batch = EncoderShapes.batch(config, shape, 7);
        ops = CudaOps.create(dt);
        params = ops.createParameters(Gpt2Shapes.randomWeights(m.params(), 42), dt);
        if (mode.equals("graph")) {
            // one eager pass sizes the activation arena: no device allocation may happen during capture
            try (Ops.Scope s = ops.scope()) {
                forward(ops, m, params, batch, output);
                ops.stream().synchronize();
            }
            scope = ops.scope();
            CudaOps.Graph g = ops.captureGraph(() -> forward(ops, m, params, batch, output));
            graph = g;
            replay = g::replay;
        } else if (mode.equals("eager")) {
            replay = () -> {
                try (Ops.Scope s = ops.scope()) {
                    forward(ops, m, params, batch, output);
                }
            };
        } else {
            throw new IllegalArgumentException("mode " + mode + ": expected graph or eager");
        }
    }

    @Benchmark
    public void forward() {
        replay.run();
        ops.stream().synchronize();
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
