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
import java.util.Map;
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
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.train.objective.Objective;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * LoRA on the CUDA engine, on the real stories260K (Llama, dim 64, 5 layers; q 64→64 and v 64→32 adapted, r 4, α 8):
 * <ul>
 *   <li>against the CPU engine (float32, same seed, same batches): ℓ± of every step within 1e-4 relative, every
 *       optimiser, both perturbation strategies, the captured step, the eager step (two micro-batches) and q = 2;
 *       the optimiser state and the checkpointed tensors are the adapters' elements only;</li>
 *   <li>a bf16 base with float32 adapters trains (its exported adapters are float32) and its losses track the
 *       float32 run's;</li>
 *   <li>the captured graph step equals the eager launches of the same step bit for bit (both strategies, f32 and
 *       bf16 base);</li>
 *   <li>a run stopped and resumed equals an uninterrupted one bitwise; its adapter, loaded with {@code --adapter} on
 *       CUDA, scores dev exactly as the run's last evaluation; the trajectory replays on CUDA to the same adapter bit
 *       for bit.</li>
 * </ul>
 * Prints what it compares (losses, max relative differences). Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class LoraCudaGpuTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] PEFT = {"peft:", "  method: lora", "  r: 4", "  alpha: 8", "  targets: [q, v]"};

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

    /** Adapter elements of stories260K's q and v at rank 4 (A [r, in] and B [out, r] each), 5 layers. */
    private static long adapterElements(LoadedModel m) {
        long n = 0;
        for (ParamSpec s : m.model().params()) {
            if (s.name().endsWith("self_attn.q_proj.weight") || s.name().endsWith("self_attn.v_proj.weight")) {
                n += 4 * (s.shape()[0] + s.shape()[1]);
            }
        }
        return n;
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

    @ParameterizedTest(name = "{0} {2} q={3} M={4}")
    @CsvSource({
        // rates that move B every step yet keep ℓ+ - ℓ- (whose cancellation amplifies the engines' ~1e-6 loss
        // differences in g) from compounding past the tolerance in 4 steps
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
    void loraOnCudaMatchesTheCpuEngine(String opt, double lr, String strategy, int q, int micro) throws IOException {
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
        try (ZoEngine c = ZoEngines.create(cpuConfig, m.model(), m.parameters(), obj, log);
                ZoEngine g = ZoEngines.create(gpuConfig, m.model(), m.parameters(), obj, log)) {
            assertEquals("cpu", c.device());
            assertEquals("cuda", g.device());
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
        System.out.printf("lora cuda vs cpu, %s: cpu %s%n  gpu %s (max relative %.2e)%n", what, fmt(cpu.losses()),
                fmt(gpu.losses()), worst);
        for (int t = 0; t < steps; t++) {
            float[] x = cpu.losses().get(t);
            float[] y = gpu.losses().get(t);
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-4 * Math.abs(x[i]) + 1e-6, what + ": step " + (t + 1) + " loss " + i);
            }
        }
        // the adapters trained (B left zero), as on the CPU, and the base was not what moved
        long elements = adapterElements(m);
        assertEquals(cpu.exported().size(), gpu.exported().size());
        long exported = 0;
        boolean moved = false;
        for (int k = 0; k < gpu.exported().size(); k++) {
            HostTensor h = gpu.exported().get(k);
            assertEquals(cpu.exported().get(k).name(), h.name());
            assertEquals(DType.F32, h.dtype(), h.name());
            exported += h.numel();
            if (h.name().endsWith("lora_B.weight")) {
                moved |= Arrays.stream(box(h.toFloats())).anyMatch(v -> v != 0f);
            }
        }
        assertEquals(elements, exported, "the engine exports the adapters only");
        assertTrue(moved, what + ": B moved away from zero");
        // memory: the optimiser state is sized to the adapters (one value per element and state vector)
        long stateElements = gpu.state().optimizerState().stream().mapToLong(HostTensor::numel).sum();
        long cpuStateElements = cpu.state().optimizerState().stream().mapToLong(HostTensor::numel).sum();
        assertEquals(cpuStateElements, stateElements, what + ": state sizes as on the CPU");
        assertEquals(0, stateElements % elements, what + ": " + stateElements + " state values for " + elements);
        assertTrue(stateElements <= 2 * elements, what + ": at most m and v over the adapters");
        assertEquals(elements, gpu.state().parameters().stream().mapToLong(HostTensor::numel).sum(),
                "the state holds the adapters, not the frozen base");
    }

    /** A bf16 base with float32 adapters trains, exports float32 adapters, and tracks the float32 base's losses. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"zo-sgd, shadow", "zo-sgd, in-place", "zo-adamu, shadow"})
    void bf16BaseWithFloat32AdaptersTracksTheFloat32Run(String opt, String strategy) throws IOException {
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
        try (ZoEngine e = ZoEngines.create(f32, m.model(), m.parameters(), obj, log)) {
            a = train(e, data, 4, 1);
        }
        try (ZoEngine e = ZoEngines.create(bf16, m.model(), m.parameters(), obj, log)) {
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
        System.out.printf("lora cuda bf16 base vs f32 base, %s %s: f32 %s%n  bf16 %s (max relative %.2e)%n", opt,
                strategy, fmt(a.losses()), fmt(h.losses()), worst);
        // a bf16 forward of this model is within ~1 % of the float32 one; the same noise and g sign keep them close
        assertTrue(worst < 2e-2, "bf16 base losses track the f32 run: max relative " + worst);
        for (HostTensor t : h.exported()) {
            assertEquals(DType.F32, t.dtype(), "adapters train in float32 over a bf16 base: " + t.name());
        }
        boolean moved = h.exported().stream().filter(t -> t.name().endsWith("lora_B.weight"))
                .anyMatch(t -> Arrays.stream(box(t.toFloats())).anyMatch(v -> v != 0f));
        assertTrue(moved, "the bf16-base run's B moved away from zero");
    }

    /** The captured step and the eager launches of the same step: the same losses and adapters, bit for bit. */
    @Test
    void capturedStepEqualsEagerLaunchesBitForBit() throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig c = config("cuda", "zo-adam", 1e-2, "shadow", 1, 1, "f32");
        TrainData data = TrainData.load(c.data(), tok, c.maxLength(), c.seed());
        Lora lora = ZoEngines.lora(c, m.model());
        for (DType d : List.of(DType.F32, DType.BF16)) {
            for (PerturbationStrategy s : PerturbationStrategy.values()) {
                String what = d + " base, " + s;
                float[][] graph = stepDevice(m, lora, c, data, d, s, true);
                float[][] eager = stepDevice(m, lora, c, data, d, s, false);
                System.out.printf("lora captured vs eager, %s: losses %s%n", what, Arrays.toString(graph[0]));
                for (int i = 0; i < graph.length; i++) {
                    assertEquals(graph[i].length, eager[i].length);
                    for (int j = 0; j < graph[i].length; j++) {
                        assertEquals(Float.floatToRawIntBits(graph[i][j]), Float.floatToRawIntBits(eager[i][j]),
                                what + ": " + (i == 0 ? "loss " : "adapter tensor " + (i - 1) + " element ") + j
                                        + " graph " + graph[i][j] + " eager " + eager[i][j]);
                    }
                }
            }
        }
    }

    /** A body run under a {@code zotune.lora.path} value, the property restored afterwards. */
    private interface Body {
        void run() throws IOException;
    }

    private static void onPath(String path, Body body) throws IOException {
        String old = System.getProperty("zotune.lora.path");
        System.setProperty("zotune.lora.path", path);
        try {
            assertEquals(Lora.Path.parse(path), Lora.configuredPath(), "the switch took effect");
            body.run();
        } finally {
            if (old == null) {
                System.clearProperty("zotune.lora.path");
            } else {
                System.setProperty("zotune.lora.path", old);
            }
        }
    }

    /**
     * The skinny path (y += s·(x·Aᵀ)·Bᵀ on q and v, Ops.loraDelta's two kernels) on the CUDA engine against the CPU
     * engine on the same path: the same checks and bounds as the merge path's.
     */
    @ParameterizedTest(name = "skinny {0} {2}")
    @CsvSource({"zo-sgd, 1e-3, shadow", "zo-sgd, 1e-3, in-place", "zo-adamu, 1e-4, shadow", "zo-adam, 1e-3, in-place"})
    void skinnyPathOnCudaMatchesTheCpuEngine(String opt, double lr, String strategy) throws IOException {
        onPath("skinny", () -> loraOnCudaMatchesTheCpuEngine(opt, lr, strategy, 1, 1));
    }

    /** The skinny path's captured step equals its eager launches bit for bit (f32 and bf16 base, both strategies). */
    @Test
    void skinnyCapturedStepEqualsEagerLaunchesBitForBit() throws IOException {
        onPath("skinny", this::capturedStepEqualsEagerLaunchesBitForBit);
    }

    /**
     * On CUDA the two paths give the same losses over 4 steps: within 1e-4 relative with a float32 base, 2e-2 with
     * a bf16 base (the merge path rounds W' to bf16, the skinny path x·Wᵀ before adding the float32 delta).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"f32, 1e-4", "bf16, 2e-2"})
    void mergeAndSkinnyPathsAgreeOnCuda(String dtype, double bound) throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig c = config("cuda", "zo-sgd", 1e-3, "shadow", 1, 1, dtype);
        TrainData data = TrainData.load(c.data(), tok, c.maxLength(), c.seed());
        PrintWriter log = new PrintWriter(new StringWriter());
        Objective obj = Objective.named("lm");
        Trained[] runs = new Trained[2];
        String[] paths = {"merge", "skinny"};
        for (int i = 0; i < 2; i++) {
            int k = i;
            onPath(paths[i], () -> {
                try (ZoEngine e = ZoEngines.create(c, m.model(), m.parameters(), obj, log)) {
                    runs[k] = train(e, data, 4, 1);
                }
            });
        }
        double worst = 0;
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < runs[0].losses().get(t).length; i++) {
                float x = runs[0].losses().get(t)[i];
                float y = runs[1].losses().get(t)[i];
                worst = Math.max(worst, Math.abs((double) x - y) / Math.abs(x));
            }
        }
        System.out.printf("lora cuda merge vs skinny, %s base: merge %s%n  skinny %s (max relative %.2e, bound %.0e)%n",
                dtype, fmt(runs[0].losses()), fmt(runs[1].losses()), worst, bound);
        assertTrue(worst <= bound, dtype + ": merge and skinny losses, max relative " + worst);
    }

    /** Row 0: ℓ+, ℓ- of 3 steps; then the adapters' tensors after them. */
    private static float[][] stepDevice(LoadedModel m, Lora lora, TrainConfig c, TrainData data, DType d,
            PerturbationStrategy s, boolean graph) {
        ZoStep.Config zc = new ZoStep.Config(1e-3, 1, s, 1, 3, DType.F32, 2024);
        try (CudaOps ops = CudaOps.create(d);
                Parameters frozen = ops.createParameters(m.parameters(), d);
                Lora.Applied applied = lora.apply(ops);
                Parameters own = ops.createParameters(lora.initial(7), DType.F32);
                DeviceZoStep z = new DeviceZoStep(ops, m.model(), frozen, TrainableStorage.own(applied.set(), own),
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
     * Stop and resume on CUDA equal an uninterrupted run bitwise; the exported adapter loaded with --adapter on CUDA
     * scores dev as the run's last evaluation did; the trajectory replays on CUDA to the run's adapter bit for bit.
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
        System.out.printf("lora cuda %s %s %s: %s%n", opt, perturbation, dtype, la);
        assertEquals(la, ResumeAndReplayTest.stepRecords(r), "resumed at step 3");
        assertEquals(ResumeAndReplayTest.trajectorySteps(a), ResumeAndReplayTest.trajectorySteps(r));
        Map<String, HostTensor> want = SafetensorsFile.open(a.resolve("adapter/adapter_model.safetensors")).tensors();
        Map<String, HostTensor> resumed = SafetensorsFile.open(r.resolve("adapter/adapter_model.safetensors"))
                .tensors();
        assertEquals(want.keySet(), resumed.keySet());
        for (String k : want.keySet()) {
            assertArrayEquals(want.get(k).toFloats(), resumed.get(k).toFloats(), "resumed " + k);
        }

        // the adapter, loaded onto the base on CUDA, scores dev exactly as the run's last evaluation
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
        try (Model mo = Model.open(bundled, Device.CUDA, p, a.resolve("adapter"))) {
            scored = mo.evaluate(DataSet.text(dev), 32, 16, 7).loss();
        }
        System.out.printf("  dev loss: run %.9f, --adapter on cuda %.9f%n", runDevLoss, scored);
        assertEquals(runDevLoss, scored, 0.0, "the loaded adapter scores dev as the run did");

        // the trajectory replays on CUDA to the run's adapter, bit for bit
        Path replayed = dir.resolve("replayed");
        FineTune.replay(bundled, a.resolve("trajectory.jsonl"), replayed, Device.CUDA);
        Map<String, HostTensor> got = SafetensorsFile.open(replayed.resolve("adapter_model.safetensors")).tensors();
        assertEquals(want.keySet(), got.keySet());
        for (String k : want.keySet()) {
            assertArrayEquals(want.get(k).toFloats(), got.get(k).toFloats(), "replayed " + k);
        }
        boolean moved = want.entrySet().stream().filter(e -> e.getKey().endsWith("lora_B.weight"))
                .anyMatch(e -> Arrays.stream(box(e.getValue().toFloats())).anyMatch(v -> v != 0f));
        assertTrue(moved, "the run trained B");
    }

    private static Float[] box(float[] v) {
        Float[] out = new Float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
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
