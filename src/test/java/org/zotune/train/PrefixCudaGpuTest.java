package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.api.DataSet;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.Generation;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.Batch;
import org.zotune.model.BundledModel;
import org.zotune.model.CausalLM;
import org.zotune.model.KvCache;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.peft.Adapter;
import org.zotune.peft.Prefix;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.train.objective.Objective;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * Prefix tuning on the CUDA engine, on the real stories260K (Llama, dim 64, 5 layers, 4 kv heads of 8; p = 3 keys and
 * values per layer: 960 float32 elements):
 * <ul>
 *   <li>the initial prefix ({@link Prefix#bind} on CudaOps: the frozen model's keys and values for the seed's tokens)
 *       against the CPU's within 1e-4 absolute + 1e-4 relative (float32; KvCacheGpuTest's logits tolerance);</li>
 *   <li>against the CPU engine (float32, same seed, same batches): ℓ± of every step within 1e-4 relative (+1e-6),
 *       every optimiser, both perturbation strategies, the captured step, the eager step (two micro-batches) and
 *       q = 2; the optimiser state and the checkpointed tensors are the prefix's elements only. Unlike LoRA (whose
 *       start is the same on both engines) each engine starts from its own device's forward, so step 1 already
 *       differs by the forward's rounding;</li>
 *   <li>a bf16 base with a float32 prefix trains (its exported prefix is float32) and its losses track the float32
 *       run's within 2e-2;</li>
 *   <li>the captured graph step equals the eager launches of the same step bit for bit (both strategies, f32 and
 *       bf16 base);</li>
 *   <li>a run stopped and resumed equals an uninterrupted one bitwise; its adapter, loaded with {@code --adapter} on
 *       CUDA, scores dev exactly as the run's last evaluation and generates; the trajectory replays on CUDA to the
 *       same prefix bit for bit;</li>
 *   <li>a float32 prefix under bf16/f16 in generation's key/value cache: the copy rounds as the attention does
 *       (bitwise {@link DType#round}), cached steps track the full pass;</li>
 *   <li>an encoder (tiny BERT, objective similarity) prefix step on CUDA against the CPU engine.</li>
 * </ul>
 * Prints what it compares (losses, max differences). Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class PrefixCudaGpuTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] PEFT = {"peft:", "  method: prefix", "  tokens: 3"};
    private static final int TOKENS = 3;

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(String device, String opt, double lr, String strategy, int q, int micro,
            String dtype) throws IOException {
        List<String> extra = new ArrayList<>(List.of("optimizer:", "  name: " + opt, "  lr: " + lr, "steps: 4",
                "eps: 1e-3", "perturbation: " + strategy, "q: " + q, "grad_accumulation: " + micro,
                "dtype: " + dtype,
                "noise: exact")); // the CPU engine's comparisons rest on the exact noise (auto: fast on CUDA)
        extra.addAll(List.of(PEFT));
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        return TrainRuns.config(TrainRuns.yamlOn(device, train, train, dir.resolve("o-" + device + "-" + dtype),
                extra.toArray(String[]::new)));
    }

    /** Prefix elements of stories260K: 5 layers × (keys, values) × p × Hkv·D. */
    private static long prefixElements(LoadedModel m) {
        assertEquals(5, m.model().config().numLayers(), "stories260K's layers");
        return 5L * 2 * TOKENS * m.model().config().numKvHeads() * m.model().config().headDim();
    }

    /** Per step ℓ+ then ℓ- of every sample, and the engine's exported tensors and state at the end. */
    private record Trained(List<float[]> losses, List<HostTensor> exported, ZoEngine.State state) {
    }

    private static Trained train(ZoEngine e, TrainData data, int steps, int micro) {
        List<float[]> losses = new ArrayList<>();
        int perMicro = 4;
        for (int t = 0; t < steps; t++) {
            List<PromptBatch> batches = new ArrayList<>();
            for (int i = 0; i < micro; i++) {
                int from = (t * micro + i) * perMicro;
                batches.add(PromptBatch.of(data.train().subList(from, from + perMicro), data.padId()));
            }
            ZoEngine.StepResult r = e.step(batches);
            losses.add(concat(r.lossPlus(), r.lossMinus()));
        }
        return new Trained(losses, e.exportParameters(), e.state());
    }

    /** The initial prefix: the frozen model's keys and values for the seed's tokens, on CUDA as on the CPU. */
    @Test
    void initialPrefixOnCudaMatchesTheCpu() {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        Prefix prefix = Prefix.of(m.model().config(), TOKENS, 32);
        List<HostTensor> cpu;
        List<HostTensor> gpu;
        try (CpuOps ops = new CpuOps(DType.F32);
                Parameters frozen = ops.createParameters(m.parameters(), DType.F32);
                Adapter.Bound bound = prefix.bind(ops, m.model(), frozen, 7)) {
            cpu = bound.initial();
        }
        try (CudaOps ops = CudaOps.create(DType.F32);
                Parameters frozen = ops.createParameters(m.parameters(), DType.F32);
                Adapter.Bound bound = prefix.bind(ops, m.model(), frozen, 7)) {
            gpu = bound.initial();
        }
        assertEquals(prefix.tensors().size(), gpu.size());
        double worst = 0;
        for (int k = 0; k < cpu.size(); k++) {
            assertEquals(cpu.get(k).name(), gpu.get(k).name());
            assertEquals(DType.F32, gpu.get(k).dtype(), gpu.get(k).name());
            float[] x = cpu.get(k).toFloats();
            float[] y = gpu.get(k).toFloats();
            assertEquals(x.length, y.length, cpu.get(k).name());
            for (int i = 0; i < x.length; i++) {
                worst = Math.max(worst, Math.abs((double) x[i] - y[i]));
                assertEquals(x[i], y[i], 1e-4 + 1e-4 * Math.abs(x[i]), cpu.get(k).name() + " element " + i);
            }
        }
        System.out.printf("prefix init cuda vs cpu (f32): max abs difference %.2e over %d tensors%n", worst,
                cpu.size());
    }

    @ParameterizedTest(name = "{0} {2} q={3} M={4}")
    @CsvSource({
        "zo-sgd, 1e-3, shadow, 1, 1",        // captured step
        "zo-sgd, 1e-3, in-place, 1, 1",
        "zo-sgd-mmt, 1e-3, shadow, 1, 1",
        "zo-sgd-mmt, 1e-3, in-place, 1, 1",
        "zo-adam, 1e-3, shadow, 1, 1",
        "zo-adam, 1e-3, in-place, 1, 1",
        "zo-adamu, 1e-4, shadow, 1, 1",
        "zo-adamu, 1e-4, in-place, 1, 1",
        "zo-adam, 1e-3, shadow, 1, 2",       // eager step, two micro-batches
        "zo-sgd, 1e-3, in-place, 2, 1",      // q = 2, captured
        "zo-sgd-mmt, 1e-3, shadow, 2, 2",    // q = 2, eager
    })
    void prefixOnCudaMatchesTheCpuEngine(String opt, double lr, String strategy, int q, int micro)
            throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig cpuConfig = config("cpu", opt, lr, strategy, q, micro, "f32");
        TrainConfig gpuConfig = config("cuda", opt, lr, strategy, q, micro, "f32");
        TrainData data = TrainData.load(cpuConfig.data(), tok, cpuConfig.maxLength(), cpuConfig.seed());
        int steps = 4;
        assertTrue(data.train().size() >= steps * micro * 4, "data: " + data.train().size());
        PrintWriter log = new PrintWriter(new StringWriter());
        Objective obj = Objective.named("lm");
        Trained cpu;
        Trained gpu;
        List<HostTensor> start;
        try (ZoEngine c = ZoEngines.create(cpuConfig, m.model(), m.parameters(), obj, log);
                ZoEngine g = ZoEngines.create(gpuConfig, m.model(), m.parameters(), obj, log)) {
            assertEquals("cpu", c.device());
            assertEquals("cuda", g.device(), "a prefix run on device cuda trains on the CUDA engine");
            start = g.exportParameters();
            cpu = train(c, data, steps, micro);
            gpu = train(g, data, steps, micro);
        }
        String what = opt + " " + strategy + " q=" + q + " M=" + micro;
        double worst = 0;
        for (int t = 0; t < steps; t++) {
            float[] x = cpu.losses().get(t);
            float[] y = gpu.losses().get(t);
            for (int i = 0; i < x.length; i++) {
                worst = Math.max(worst, Math.abs((double) x[i] - y[i]) / Math.max(Math.abs(x[i]), 1e-3));
            }
        }
        System.out.printf("prefix cuda vs cpu, %s: cpu %s%n  gpu %s (max relative %.2e)%n", what,
                fmt(cpu.losses()), fmt(gpu.losses()), worst);
        for (int t = 0; t < steps; t++) {
            float[] x = cpu.losses().get(t);
            float[] y = gpu.losses().get(t);
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-4 * Math.abs(x[i]) + 1e-6, what + ": step " + (t + 1) + " loss " + i);
            }
        }
        // the prefix trained (moved from its start), as on the CPU, and nothing but the prefix is exported
        long elements = prefixElements(m);
        assertEquals(cpu.exported().size(), gpu.exported().size());
        long exported = 0;
        double moved = 0;
        for (int k = 0; k < gpu.exported().size(); k++) {
            HostTensor h = gpu.exported().get(k);
            assertEquals(cpu.exported().get(k).name(), h.name());
            assertTrue(h.name().startsWith("prefix.layers."), h.name());
            assertEquals(DType.F32, h.dtype(), h.name());
            exported += h.numel();
            float[] now = h.toFloats();
            float[] was = start.get(k).toFloats();
            for (int i = 0; i < now.length; i++) {
                moved = Math.max(moved, Math.abs((double) now[i] - was[i]));
            }
        }
        assertEquals(elements, exported, "the engine exports the prefix only");
        System.out.printf("  largest prefix change over %d steps: %.3e%n", steps, moved);
        assertTrue(moved > 0, what + ": the prefix moved from its start");
        // memory: the optimiser state is sized to the prefix (one value per element and state vector)
        long stateElements = gpu.state().optimizerState().stream().mapToLong(HostTensor::numel).sum();
        long cpuStateElements = cpu.state().optimizerState().stream().mapToLong(HostTensor::numel).sum();
        assertEquals(cpuStateElements, stateElements, what + ": state sizes as on the CPU");
        assertEquals(0, stateElements % elements, what + ": " + stateElements + " state values for " + elements);
        assertTrue(stateElements <= 2 * elements, what + ": at most m and v over the prefix");
        assertEquals(elements, gpu.state().parameters().stream().mapToLong(HostTensor::numel).sum(),
                "the state holds the prefix, not the frozen base");
    }

    /** A bf16 base with a float32 prefix trains, exports a float32 prefix, and tracks the float32 base's losses. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"zo-sgd, shadow", "zo-sgd, in-place", "zo-adamu, shadow"})
    void bf16BaseWithAFloat32PrefixTracksTheFloat32Run(String opt, String strategy) throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        double lr = opt.equals("zo-adamu") ? 1e-4 : 1e-3;
        TrainConfig f32 = config("cuda", opt, lr, strategy, 1, 1, "f32");
        TrainConfig bf16 = config("cuda", opt, lr, strategy, 1, 1, "bf16");
        TrainData data = TrainData.load(f32.data(), tok, f32.maxLength(), f32.seed());
        PrintWriter log = new PrintWriter(new StringWriter());
        Objective obj = Objective.named("lm");
        Trained a;
        Trained h;
        List<HostTensor> start;
        try (ZoEngine e = ZoEngines.create(f32, m.model(), m.parameters(), obj, log)) {
            a = train(e, data, 4, 1);
        }
        try (ZoEngine e = ZoEngines.create(bf16, m.model(), m.parameters(), obj, log)) {
            start = e.exportParameters();
            h = train(e, data, 4, 1);
        }
        double worst = 0;
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < a.losses().get(t).length; i++) {
                float x = a.losses().get(t)[i];
                float y = h.losses().get(t)[i];
                assertTrue(Float.isFinite(y), "bf16 loss " + t + "/" + i);
                worst = Math.max(worst, Math.abs((double) x - y) / Math.abs(x));
            }
        }
        System.out.printf("prefix cuda bf16 base vs f32 base, %s %s: f32 %s%n  bf16 %s (max relative %.2e)%n", opt,
                strategy, fmt(a.losses()), fmt(h.losses()), worst);
        // a bf16 forward of this model is within ~1 % of the float32 one; the same noise and g sign keep them close
        assertTrue(worst < 2e-2, "bf16 base losses track the f32 run: max relative " + worst);
        boolean moved = false;
        for (int k = 0; k < h.exported().size(); k++) {
            HostTensor t = h.exported().get(k);
            assertEquals(DType.F32, t.dtype(), "a prefix trains in float32 over a bf16 base: " + t.name());
            moved |= !Arrays.equals(t.toFloats(), start.get(k).toFloats());
        }
        assertTrue(moved, "the bf16-base run's prefix moved from its start");
    }

    /** The captured step and the eager launches of the same step: the same losses and prefix, bit for bit. */
    @Test
    void capturedStepEqualsEagerLaunchesBitForBit() throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig c = config("cuda", "zo-adam", 1e-2, "shadow", 1, 1, "f32");
        TrainData data = TrainData.load(c.data(), tok, c.maxLength(), c.seed());
        Prefix prefix = (Prefix) ZoEngines.adapter(c, m.model());
        for (DType d : List.of(DType.F32, DType.BF16)) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                String what = d + " base, " + s;
                float[][] graph = stepDevice(m, prefix, c, data, d, s, true);
                float[][] eager = stepDevice(m, prefix, c, data, d, s, false);
                System.out.printf("prefix captured vs eager, %s: losses %s%n", what, Arrays.toString(graph[0]));
                for (int i = 0; i < graph.length; i++) {
                    assertEquals(graph[i].length, eager[i].length);
                    for (int j = 0; j < graph[i].length; j++) {
                        assertEquals(Float.floatToRawIntBits(graph[i][j]), Float.floatToRawIntBits(eager[i][j]),
                                what + ": " + (i == 0 ? "loss " : "prefix tensor " + (i - 1) + " element ") + j
                                        + " graph " + graph[i][j] + " eager " + eager[i][j]);
                    }
                }
            }
        }
    }

    /** Row 0: ℓ+, ℓ- of 3 steps; then the prefix's tensors after them. */
    private static float[][] stepDevice(LoadedModel m, Prefix prefix, TrainConfig c, TrainData data, DType d,
            PerturbationStrategy s, boolean graph) {
        ZoStep.Config zc = new ZoStep.Config(1e-3, 1, s, 1, 3, DType.F32, 2024);
        try (CudaOps ops = CudaOps.create(d);
                Parameters frozen = ops.createParameters(m.parameters(), d);
                Adapter.Bound bound = prefix.bind(ops, m.model(), frozen, 7);
                Parameters own = ops.createParameters(bound.initial(), DType.F32);
                DeviceZoStep z = new DeviceZoStep(ops, m.model(), frozen, TrainableStorage.own(bound.set(), own),
                        c.optimizer().referenceConfig(c.steps()), zc).useGraph(graph)) {
            float[] losses = new float[6];
            for (int t = 0; t < 3; t++) {
                PromptBatch pb = PromptBatch.of(data.train().subList(4 * t, 4 * t + 4), data.padId());
                ZoStep.Result r = z.step(pb.batch(), NextTokenTargets.of(pb.batch()));
                losses[2 * t] = r.lossPlus()[0];
                losses[2 * t + 1] = r.lossMinus()[0];
            }
            float[][] out = new float[1 + own.count()][];
            out[0] = losses;
            for (int k = 0; k < own.count(); k++) {
                out[1 + k] = ops.toHost(own.weight(k));
            }
            return out;
        }
    }

    /**
     * Stop and resume on CUDA equal an uninterrupted run bitwise; the exported prefix loaded with --adapter on CUDA
     * scores dev as the run's last evaluation did (and generates through the key/value cache); the trajectory replays
     * on CUDA to the run's prefix bit for bit.
     */
    @ParameterizedTest(name = "{0} {2} {3}")
    @CsvSource({
        "zo-adam, 1e-2, shadow, f32",
        "zo-sgd, 1e-3, in-place, bf16",
        "zo-adamu, 1e-4, in-place, f32",
        "zo-sgd-mmt, 1e-3, shadow, bf16",
    })
    void resumeExportScoringAndReplayOnCuda(String opt, double lr, String perturbation, String dtype)
            throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        List<String> extra = new ArrayList<>(List.of("optimizer:", "  name: " + opt, "  lr: " + lr,
                "  schedule: linear", "steps: 8", "eval_every: 4", "perturbation: " + perturbation,
                "dtype: " + dtype));
        extra.addAll(List.of(PEFT));
        String[] x = extra.toArray(String[]::new);
        Path a = dir.resolve("a");
        Path r = dir.resolve("r");
        TrainRuns.train(TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, a, x)), TrainRuns.quiet());
        TrainConfig cr = TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, r, x));
        assertEquals(3, TrainRuns.train(cr, new Trainer.Options(false, false, 3, false)).steps());
        assertEquals(8, TrainRuns.train(cr, new Trainer.Options(true, false, 0, false)).steps());
        assertEquals("cuda", JSON.readTree(a.resolve("summary.json").toFile()).path("device").asText());
        List<String> la = ResumeAndReplayTest.stepRecords(a);
        System.out.printf("prefix cuda %s %s %s: %s%n", opt, perturbation, dtype, la);
        assertEquals(la, ResumeAndReplayTest.stepRecords(r), "resumed at step 3");
        assertEquals(ResumeAndReplayTest.trajectorySteps(a), ResumeAndReplayTest.trajectorySteps(r));
        float[] want = SafetensorsFile.open(a.resolve("adapter").resolve(PrefixExport.WEIGHTS)).tensors()
                .get("prompt_embeddings").toFloats();
        float[] resumed = SafetensorsFile.open(r.resolve("adapter").resolve(PrefixExport.WEIGHTS)).tensors()
                .get("prompt_embeddings").toFloats();
        assertArrayEquals(want, resumed, "resumed prompt_embeddings");

        // the prefix, loaded onto the base on CUDA, scores dev exactly as the run's last evaluation
        double runDevLoss = Double.NaN;
        for (String line : Files.readAllLines(a.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")
                    && n.path("t").asLong() == 8) {
                runDevLoss = n.path("loss").asDouble();
            }
        }
        assertTrue(Double.isFinite(runDevLoss), "the run evaluated dev at step 8");
        BundledModel b = BundledModel.get();
        ModelSource bundled = ModelSource.of(b.model()).withTokenizer(b.tokenizer());
        Precision p = dtype.equals("bf16") ? Precision.BF16 : Precision.F32;
        double scored;
        String generated;
        try (Model mo = Model.open(bundled, Device.CUDA, p, a.resolve("adapter"))) {
            assertEquals("prefix", mo.adapterMethod());
            scored = mo.evaluate(DataSet.text(dev), 32, 16, 7).loss();
            generated = mo.generate("Once upon a time", Generation.greedy(8)); // through the key/value cache
        }
        System.out.printf("  dev loss: run %.9f, --adapter on cuda %.9f; generated: %s%n", runDevLoss, scored,
                generated);
        assertEquals(runDevLoss, scored, 0.0, "the loaded prefix scores dev as the run did");
        assertTrue(!generated.isBlank(), "generated text");

        // the trajectory replays on CUDA to the run's prefix, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(bundled, a.resolve("trajectory.jsonl"), replayed, Device.CUDA);
        float[] got = SafetensorsFile.open(replayed.resolve(PrefixExport.WEIGHTS)).tensors().get("prompt_embeddings")
                .toFloats();
        assertArrayEquals(want, got, "replayed prompt_embeddings");
        assertEquals(Files.readString(a.resolve("adapter").resolve(PrefixExport.CONFIG)),
                Files.readString(replayed.resolve(PrefixExport.CONFIG)));
    }

    /**
     * A float32 prefix under a bf16/f16 compute type in generation's key/value cache: {@link CudaOps#copy} rounds
     * it exactly as {@link DType#round} does (what the prefix attention does when it reads float32), and each cached
     * step's logits track the float32 forward on the rounded weights and prefix as the full pass does: the worst
     * relative error over the steps within bf16 1e-2, f16 5e-3, or twice the full pass's worst, as KvCacheGpuTest
     * (measured on an H100, bf16: cached 1.9e-2 at position 8, the full pass 5.1e-3 there and 1.16e-2 at worst).
     */
    @Test
    void aFloat32PrefixInTheKeyValueCacheUnderBf16AndF16() {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        CausalLM lm = m.model();
        int width = lm.config().numKvHeads() * lm.config().headDim();
        Random rnd = new Random(41);
        float[] keys = new float[TOKENS * width];
        float[] values = new float[TOKENS * width];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) rnd.nextGaussian();
            values[i] = (float) rnd.nextGaussian();
        }
        int[] seq = {1, 403, 261, 300, 281, 395, 263, 271, 290, 265, 500, 266};
        for (DType t : List.of(DType.BF16, DType.F16)) {
            try (CudaOps ops = CudaOps.create(t);
                    Parameters w = ops.createParameters(m.parameters(), t);
                    Parameters kv = ops.createParameters(List.of(HostTensor.ofFloats("k", keys, TOKENS, width),
                            HostTensor.ofFloats("v", values, TOKENS, width)), DType.F32);
                    Parameters dst = ops.createParameters(List.of(HostTensor.ofFloats("d", new float[keys.length],
                            TOKENS, width)), t)) {
                // the copy itself: float32 in, the compute type out, rounded once to nearest even
                ops.copy(dst.weight(0), kv.weight(0));
                float[] copied = ops.toHost(dst.weight(0));
                for (int i = 0; i < keys.length; i++) {
                    assertEquals(Float.floatToRawIntBits(t.round(keys[i])), Float.floatToRawIntBits(copied[i]),
                            t + " copy of float32 element " + i + ": " + keys[i] + " -> " + copied[i]);
                }
                WeightSource prefixed = new WeightSource() {
                    @Override
                    public Tensor weight(int index) {
                        return w.weight(index);
                    }

                    @Override
                    public KvPrefix kvPrefix(int attention) {
                        return new KvPrefix(kv.weight(0), kv.weight(1));
                    }
                };
                // the float32 forward on the rounded weights and prefix: what both 16-bit passes are held to
                List<HostTensor> roundedW = new ArrayList<>();
                for (HostTensor h : m.parameters()) {
                    float[] v = h.toFloats();
                    for (int i = 0; i < v.length; i++) {
                        v[i] = t.round(v[i]);
                    }
                    roundedW.add(HostTensor.ofFloats(h.name(), v, h.shape()));
                }
                float[] rk = keys.clone();
                float[] rv = values.clone();
                for (int i = 0; i < rk.length; i++) {
                    rk[i] = t.round(rk[i]);
                    rv[i] = t.round(rv[i]);
                }
                double worst = 0;
                double worstFull = 0;
                try (CudaOps f32 = CudaOps.create(DType.F32);
                     Parameters we = f32.createParameters(roundedW, DType.F32);
                     Parameters kve = f32.createParameters(List.of(HostTensor.ofFloats("k", rk, TOKENS, width),
                             HostTensor.ofFloats("v", rv, TOKENS, width)), DType.F32);
                     KvCache cache = new KvCache(ops, seq.length)) {
                    WeightSource exactSource = new WeightSource() {
                        @Override
                        public Tensor weight(int index) {
                            return we.weight(index);
                        }

                        @Override
                        public KvPrefix kvPrefix(int attention) {
                            return new KvPrefix(kve.weight(0), kve.weight(1));
                        }
                    };
                    WeightSource cw = cache.over(prefixed);
                    for (int len = 4; len <= seq.length; len++) {
                        int start = cache.length();
                        float[] step;
                        float[] full;
                        try (Ops.Scope s = ops.scope()) {
                            int[] ones = new int[len - start];
                            Arrays.fill(ones, 1);
                            Tensor fresh = lm.forward(ops, cw, new Batch(1, len - start,
                                    Arrays.copyOfRange(seq, start, len), ones), start);
                            cache.advance(len - start);
                            step = ops.toHost(ops.rows(fresh, len - start - 1, len - start));
                            Tensor all = lm.forward(ops, prefixed, Batch.of(Arrays.copyOf(seq, len)));
                            full = ops.toHost(ops.rows(all, len - 1, len));
                        }
                        float[] exact;
                        try (Ops.Scope s = f32.scope()) {
                            Tensor all = lm.forward(f32, exactSource, Batch.of(Arrays.copyOf(seq, len)));
                            exact = f32.toHost(f32.rows(all, len - 1, len));
                        }
                        for (int i = 0; i < full.length; i++) {
                            assertTrue(Float.isFinite(step[i]), t + " position " + (len - 1) + " logit " + i);
                        }
                        // the cached attention and the full pass's round differently: each is held to float32
                        worst = Math.max(worst, org.zotune.RelativeError.of(step, exact));
                        worstFull = Math.max(worstFull, org.zotune.RelativeError.of(full, exact));
                    }
                }
                double bound = t == DType.BF16 ? 1e-2 : 5e-3;
                assertTrue(worst <= bound || worst <= 2 * worstFull, t + ": cached steps' worst ||x - f32||/||f32|| "
                        + worst + " is above " + bound + " and twice the full pass's " + worstFull);
                System.out.printf("prefix in the key/value cache, %s: copy bitwise, worst ||x - f32||/||f32||: cached"
                        + " %.3e, full pass %.3e%n", t, worst, worstFull);
            }
        }
    }

    /** Objective similarity on a tiny BERT with a prefix of 2: the CUDA engine's ℓ± against the CPU engine's. */
    @ParameterizedTest
    @CsvSource({"zo-sgd", "zo-adam"})
    void encoderPrefixStepOnCudaMatchesTheCpu(String opt) throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 7, false);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        String[] texts = {"the movie was great fun", "dull plot", "a boring film , the acting is bad", "loved it"};
        int[] gold = {1, 0, 0, 1};
        PrintWriter log = new PrintWriter(new StringWriter());
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            TextRowEncoder enc = new TextRowEncoder(tok, 32);
            List<EncodedExample> ex = new ArrayList<>();
            for (int i = 0; i < texts.length; i++) {
                ex.add(enc.encode("t:" + i, List.of(texts[i]), gold[i]));
            }
            PromptBatch batch = PromptBatch.of(ex, 0);
            TrainConfig cpuConfig = encoderConfig("cpu", opt);
            TrainConfig gpuConfig = encoderConfig("cuda", opt);
            Objective obj = EncoderObjectives.objective(cpuConfig, enc, List.of("0", "1"), 0);
            Adapter cpuPrefix = ZoEngines.adapter(cpuConfig, m.model());
            Adapter gpuPrefix = ZoEngines.adapter(gpuConfig, m.model());
            try (ZoEngine c = ZoEngines.create(cpuConfig, m.model(), m.parameters(), cpuPrefix, null, obj, log);
                    ZoEngine g = ZoEngines.create(gpuConfig, m.model(), m.parameters(), gpuPrefix, null, obj, log)) {
                assertEquals("cuda", g.device());
                double worst = 0;
                for (int t = 1; t <= 3; t++) {
                    ZoEngine.StepResult x = c.step(List.of(batch));
                    ZoEngine.StepResult y = g.step(List.of(batch));
                    System.out.printf("encoder prefix %s step %d: cpu %.7f %.7f, cuda %.7f %.7f%n", opt, t,
                            x.lossPlus()[0], x.lossMinus()[0], y.lossPlus()[0], y.lossMinus()[0]);
                    worst = Math.max(worst, Math.abs(x.lossPlus()[0] - y.lossPlus()[0]) / Math.abs(x.lossPlus()[0]));
                    assertEquals(x.lossPlus()[0], y.lossPlus()[0], 1e-4 * Math.abs(x.lossPlus()[0]) + 1e-6,
                            opt + ": l+ step " + t);
                    assertEquals(x.lossMinus()[0], y.lossMinus()[0], 1e-4 * Math.abs(x.lossMinus()[0]) + 1e-6,
                            opt + ": l- step " + t);
                }
                long elements = g.exportParameters().stream().mapToLong(HostTensor::numel).sum();
                assertEquals(2L * m.model().config().numLayers() * 2 * m.model().config().numKvHeads()
                        * m.model().config().headDim(), elements, "layers × (keys, values) × 2 tokens × Hkv·D");
                System.out.printf("encoder prefix %s: max relative l+ difference %.2e%n", opt, worst);
            }
        }
    }

    private static TrainConfig encoderConfig(String device, String opt) {
        return TrainConfig.parse("t", "model: x\ndata: {format: jsonl, train: a}\nout: o\n", List.of(
                "objective=similarity", "device=" + device, "optimizer.name=" + opt, "optimizer.lr=1e-3",
                "eps=1e-2", "dtype=f32", "max_length=32", "peft.method=prefix", "peft.tokens=2",
                "noise=exact", // compared with the CPU engine: the exact noise (auto: fast on CUDA)
                "similarity.labels={\"0\": \"it was terrible\", \"1\": \"it was great\"}",
                "similarity.temperature=0.5"));
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String fmt(List<float[]> xs) {
        StringBuilder s = new StringBuilder();
        for (float[] x : xs) {
            s.append(Arrays.toString(x));
        }
        return s.toString();
    }
}
