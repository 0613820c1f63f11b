package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.TestData;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.model.BundledModel;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * The CUDA ZO engine on the real stories260K (float32) against the CPU engine, and the GPU run's reproducibility:
 * <ul>
 *   <li>same seed, same batches: ℓ± of every step within 1e-4 relative of the CPU's (float32 accumulation in a
 *       different order, CPU/GPU normals within ~1e-6, compounded over a few steps), for the captured step (lm),
 *       the eager step (several micro-batches; classification and −accuracy), and q = 2 (both kinds of step); with
 *       the exact noise, and on three rows (captured, in place, eager) the fast noise (normals within 1e-4 of the
 *       CPU's: key {@code noise}, pinned per row);</li>
 *   <li>a run stopped at step 4 and resumed from its checkpoint reports every later loss bitwise as an
 *       uninterrupted run, which equals a second uninterrupted run bitwise (determinism); the weights agree
 *       bitwise, and replaying the trajectory on the GPU rebuilds them bit for bit.</li>
 * </ul>
 * Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class CudaZoEngineGpuTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    /** @param noise key noise: the comparisons with the CPU engine pin the variant (auto would be fast on CUDA) */
    private TrainConfig config(String device, String objective, String opt, double lr, String strategy, int q,
            int micro, String noise) throws IOException {
        List<String> extra = new ArrayList<>(List.of("optimizer:", "  name: " + opt, "  lr: " + lr, "steps: 4",
                "eps: 1e-3", "perturbation: " + strategy, "q: " + q, "grad_accumulation: " + micro, "dtype: f32",
                "noise: " + noise));
        String yaml;
        if (objective.equals("lm")) {
            Path train = TrainRuns.austen(dir, "train.txt", 20_000);
            yaml = TrainRuns.yamlOn(device, train, train, dir.resolve("o-" + device), extra.toArray(String[]::new));
        } else {
            BundledModel b = BundledModel.get();
            Path sst2 = TestData.file("datasets/sst2-glue/dev.tsv");
            yaml = String.join("\n", "model: '" + b.model() + "'", "tokenizer: '" + b.tokenizer() + "'", "data:",
                    "  format: sst2", "  train: '" + sst2 + "'", "  template: sst2", "  max_examples: 64",
                    "objective: " + objective, "batch_size: 8", "max_length: 64", "device: " + device,
                    "out: '" + dir.resolve("o-" + device) + "'", "seed: 7", String.join("\n", extra), "");
        }
        return TrainRuns.config(yaml);
    }

    @ParameterizedTest(name = "{0} {1} {3} q={4} M={5} {6} noise")
    @CsvSource({
        "lm, zo-sgd, 5e-4, shadow, 1, 1, exact",          // captured step
        "lm, zo-adamu, 2e-5, in-place, 1, 1, exact",      // captured step, in place
        "lm, zo-adam, 1e-4, shadow, 1, 2, exact",         // eager step, two micro-batches
        "lm, zo-sgd, 5e-4, shadow, 2, 1, exact",          // q = 2: the captured step with two samples
        "lm, zo-sgd-mmt, 1e-4, in-place, 2, 2, exact",    // q = 2, eager (two micro-batches)
        "classification, zo-sgd, 5e-4, shadow, 1, 1, exact",
        "accuracy, zo-sgd, 1e-5, shadow, 1, 1, exact",
        // the fast noise (normals within 1e-4 of the CPU's, ZoFastNoiseGpuTest): the same bound
        "lm, zo-sgd, 5e-4, shadow, 1, 1, fast",
        "lm, zo-adamu, 2e-5, in-place, 1, 1, fast",
        "lm, zo-adam, 1e-4, shadow, 1, 2, fast",
    })
    void gpuEngineMatchesCpuEngine(String objective, String opt, double lr, String strategy, int q, int micro,
                                   String noise) throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig cpuConfig = config("cpu", objective, opt, lr, strategy, q, micro, "exact");
        TrainConfig gpuConfig = config("cuda", objective, opt, lr, strategy, q, micro, noise);
        TrainData data = TrainData.load(cpuConfig.data(), tok, cpuConfig.maxLength(), cpuConfig.seed());
        int perMicro = objective.equals("lm") ? 4 : 8;
        int steps = 4;
        assertTrue(data.train().size() >= steps * micro * perMicro, "data: " + data.train().size());
        PrintWriter log = new PrintWriter(new StringWriter());
        List<float[]> cpu = new ArrayList<>();
        List<float[]> gpu = new ArrayList<>();
        Objective obj = Objective.named(objective);
        try (ZoEngine c = ZoEngines.create(cpuConfig, m.model(), m.parameters(), obj, log);
                ZoEngine g = ZoEngines.create(gpuConfig, m.model(), m.parameters(), obj, log)) {
            assertEquals("cpu", c.device());
            assertEquals("cuda", g.device());
            for (int t = 0; t < steps; t++) {
                List<PromptBatch> batches = new ArrayList<>();
                for (int i = 0; i < micro; i++) {
                    int from = (t * micro + i) * perMicro;
                    List<EncodedExample> ex = data.train().subList(from, from + perMicro);
                    batches.add(PromptBatch.of(ex, data.padId()));
                }
                ZoEngine.StepResult x = c.step(batches);
                ZoEngine.StepResult y = g.step(batches);
                assertEquals(x.seed(), y.seed());
                assertEquals(x.lr(), y.lr());
                cpu.add(concat(x.lossPlus(), x.lossMinus()));
                gpu.add(concat(y.lossPlus(), y.lossMinus()));
            }
        }
        double worst = 0;
        for (int t = 0; t < steps; t++) {
            float[] x = cpu.get(t);
            float[] y = gpu.get(t);
            for (int i = 0; i < x.length; i++) {
                double d = Math.abs((double) x[i] - y[i]);
                worst = Math.max(worst, d / Math.max(Math.abs(x[i]), 1e-3));
                assertEquals(x[i], y[i], 1e-4 * Math.abs(x[i]) + 1e-6, "step " + (t + 1) + " loss " + i);
            }
        }
        System.out.printf("cuda engine vs cpu, %s %s %s q=%d M=%d: cpu %s%n  gpu %s (max relative %.2e)%n",
                objective, opt, strategy, q, micro, fmt(cpu), fmt(gpu), worst);
        if (!objective.equals("accuracy")) {
            // the parameters moved: the last step's losses are not the first step's on other batches' scale
            assertFalse(Arrays.equals(cpu.get(0), cpu.get(steps - 1)));
        }
    }

    /**
     * An objective the engines do not know, scoring the gold labels at their own positions (the target layout of a
     * masked LM; here on the causal model, only the numbers matter): the CUDA engine runs it in its captured step from
     * {@link Objective#tokenTargets} alone, never calling its loss, and matches the CPU engine, which calls loss.
     */
    @Test
    void capturedStepRunsAnObjectivesOwnTokenTargets() throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig cpuConfig = config("cpu", "lm", "zo-sgd", 5e-4, "shadow", 1, 1, "exact");
        TrainConfig gpuConfig = config("cuda", "lm", "zo-sgd", 5e-4, "shadow", 1, 1, "exact");
        TrainData data = TrainData.load(cpuConfig.data(), tok, cpuConfig.maxLength(), cpuConfig.seed());
        OwnPositions onCpu = new OwnPositions();
        OwnPositions onGpu = new OwnPositions();
        PrintWriter log = new PrintWriter(new StringWriter());
        int steps = 3;
        try (ZoEngine c = ZoEngines.create(cpuConfig, m.model(), m.parameters(), onCpu, log);
                ZoEngine g = ZoEngines.create(gpuConfig, m.model(), m.parameters(), onGpu, log)) {
            for (int t = 0; t < steps; t++) {
                List<PromptBatch> batches = List.of(PromptBatch.of(data.train().subList(4 * t, 4 * t + 4),
                        data.padId()));
                ZoEngine.StepResult x = c.step(batches);
                ZoEngine.StepResult y = g.step(batches);
                float[] xs = concat(x.lossPlus(), x.lossMinus());
                float[] ys = concat(y.lossPlus(), y.lossMinus());
                for (int i = 0; i < xs.length; i++) {
                    assertEquals(xs[i], ys[i], 1e-4 * Math.abs(xs[i]) + 1e-6, "step " + (t + 1) + " loss " + i);
                }
            }
        }
        assertEquals(2 * steps, onCpu.losses, "the CPU engine evaluates the objective's loss");
        assertEquals(0, onGpu.losses, "the captured step computes the loss from the objective's targets");
    }

    /** Mean cross-entropy of the logits at each gold label's own position against that label. */
    private static final class OwnPositions implements Objective {
        int losses;

        @Override
        public String name() {
            return "own-positions";
        }

        @Override
        public Optional<int[]> tokenTargets(LanguageModel model, PromptBatch batch) {
            return Optional.of(batch.goldLabels());
        }

        @Override
        public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
            losses++;
            try (Ops.Scope s = ops.scope()) {
                float[] ce = ops.toHost(ops.crossEntropy(model.forward(ops, weights, batch.batch()),
                        ops.ints(batch.goldLabels())));
                return (float) ((double) ce[0] / ce[1]);
            }
        }
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

    @ParameterizedTest(name = "{0} {2} q={3} M={4} {5}")
    @CsvSource({
        "zo-adamu, 1e-4, shadow, 1, 1, f32",       // captured step
        "zo-sgd, 1e-4, in-place, 1, 1, bf16",      // captured step, bf16 in place (stochastic rounding)
        "zo-sgd, 1e-4, in-place, 1, 1, f16",       // the same in f16 (MeZO trains OPT in fp16)
        "zo-adam, 1e-4, in-place, 1, 2, f32",      // eager step
        "zo-sgd-mmt, 1e-5, shadow, 2, 1, f32",     // q = 2, captured step
        "zo-sgd, 1e-4, in-place, 2, 1, bf16",      // q = 2 in place: sample 0's restore is a pass of its own
    })
    void resumedAndRepeatedRunsAreBitwiseAndReplayRebuildsTheWeights(String opt, double lr, String perturbation,
            int q, int accumulation, String dtype) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        String[] extra = {"optimizer:", "  name: " + opt, "  lr: " + lr, "  schedule: linear", "steps: 10",
            "eval_every: 3", "perturbation: " + perturbation, "q: " + q, "grad_accumulation: " + accumulation,
            "dtype: " + dtype};
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        Path c = dir.resolve("c");
        // key noise absent: auto, the fast noise on CUDA, which the runs record and --resume and replay take
        TrainRuns.train(TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, a, extra)), TrainRuns.quiet());
        TrainRuns.train(TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, c, extra)), TrainRuns.quiet());
        TrainConfig cb = TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, b, extra));
        Trainer.Summary first = TrainRuns.train(cb, new Trainer.Options(false, false, 4, false));
        assertEquals(4, first.steps());
        Trainer.Summary resumed = TrainRuns.train(cb, new Trainer.Options(true, false, 0, false));
        assertEquals(10, resumed.steps());
        assertEquals("cuda", JSON.readTree(a.resolve("summary.json").toFile()).path("device").asText());

        List<String> la = ResumeAndReplayTest.stepRecords(a);
        assertEquals(10 + 5, la.size());
        assertEquals(la, ResumeAndReplayTest.stepRecords(c), "two runs with the same seed");
        assertEquals(la, ResumeAndReplayTest.stepRecords(b), "resumed at step 4");
        assertEquals(ResumeAndReplayTest.trajectorySteps(a), ResumeAndReplayTest.trajectorySteps(b));
        System.out.printf("cuda %s %s q=%d M=%d %s: %s%n", opt, perturbation, q, accumulation, dtype, la);

        Map<String, HostTensor> wa = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        ResumeAndReplayTest.assertSameTensors(wa,
                SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors());
        ResumeAndReplayTest.assertSameTensors(wa,
                SafetensorsFile.open(c.resolve("model/model.safetensors")).tensors());

        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        HostTensor q0 = wa.get("model.layers.0.self_attn.q_proj.weight");
        assertFalse(q0.bytes().equals(base.parameters().get(2).bytes()), "training left q_proj unchanged");
        List<HostTensor> replayed = Replay.run(base, Trajectory.read(a.resolve("trajectory.jsonl")), "cuda");
        assertEquals(base.parameters().size(), replayed.size());
        for (HostTensor r : replayed) {
            assertEquals(wa.get(r.name()).bytes(), r.bytes(), "replayed " + r.name());
        }
    }
}
