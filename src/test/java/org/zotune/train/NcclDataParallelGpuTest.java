package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.parallel.InProcessGroup;
import org.zotune.parallel.NcclGroup;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * Data-parallel ZO on GPUs through NCCL (parallel.gpus), on the bundled stories260K in float32 with ZO-Adam at lr 1e-3
 * (the CPU workers' test's settings and bounds, DataParallelEngineTest):
 * <ul>
 *   <li>one rank on one GPU: every step's ℓ± and the final θ equal the single CUDA engine's eager step bit for bit
 *       (one rank's sums are its own: 0 + Σ, then the same division), and the in-process group's bit for bit; the
 *       captured single-engine step is within 1e-4 relative (another reduction order in its cross-entropy);</li>
 *   <li>two GPUs: ℓ± within the CPU workers' bound (2e-6 relative) of one engine on the whole batch, θ within 1e-6,
 *       the replicas' checksums equal every step, and a second run repeats bit for bit;</li>
 *   <li>zotune train with two GPUs: the dev loss within 1e-5 of one GPU's, a stopped run resumed with two GPUs
 *       repeats the uninterrupted one bit for bit, another number of GPUs is refused.</li>
 * </ul>
 * Needs NCCL (the launcher finds it) and, for two GPUs, NCCL_NVLS_ENABLE set (the launcher sets 0). Skips itself
 * without a usable CUDA device; the two-GPU cases skip themselves, saying so, with fewer than two devices.
 */
@Tag("gpu")
class NcclDataParallelGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(Path out, String strategy, int gpus, String... extra) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        List<String> lines = new ArrayList<>(List.of("optimizer:", "  name: zo-adam", "  lr: 1e-3", "steps: 4",
                "eps: 1e-3", "perturbation: " + strategy, "dtype: f32", "parallel:", "  gpus: " + gpus,
                "  checksum_every: 1"));
        lines.addAll(List.of(extra));
        return TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, out, lines.toArray(String[]::new)));
    }

    /** One CUDA engine of {@code c}, with the config's noise variant as ZoEngines gives the replicas theirs. */
    private static CudaZoEngine single(TrainConfig c, LoadedModel m, Objective o, boolean graph) {
        return new CudaZoEngine(CudaOps.create(c.paramDType()), m.model(), m.parameters(), null, o,
                c.optimizer().referenceConfig(c.steps()), c.optimizer().lrSchedule(c.steps()), ZoEngines.stepConfig(c),
                graph, c.noiseVariant(true));
    }

    private record Run(List<float[]> losses, List<HostTensor> theta) {
    }

    private static Run run(ZoEngine e, List<List<PromptBatch>> steps) {
        List<float[]> losses = new ArrayList<>();
        for (List<PromptBatch> b : steps) {
            ZoEngine.StepResult r = e.step(b);
            float[] l = Arrays.copyOf(r.lossPlus(), 2 * r.lossPlus().length);
            System.arraycopy(r.lossMinus(), 0, l, r.lossPlus().length, r.lossMinus().length);
            losses.add(l);
        }
        e.verifyReplicas();
        return new Run(losses, e.exportParameters());
    }

    private List<List<PromptBatch>> batches(TrainConfig c) {
        BundledModel b = BundledModel.get();
        TrainData data = TrainData.load(c.data(), Tokenizers.forModel(b.model(), b.tokenizer()), c.maxLength(),
                c.seed());
        List<List<PromptBatch>> out = new ArrayList<>();
        for (int t = 0; t < c.steps(); t++) {
            out.add(List.of(PromptBatch.of(data.train().subList(4 * t, 4 * t + 4), data.padId())));
        }
        return out;
    }

    private static double maxRelative(List<float[]> a, List<float[]> b) {
        double worst = 0;
        for (int t = 0; t < a.size(); t++) {
            for (int i = 0; i < a.get(t).length; i++) {
                double x = a.get(t)[i];
                worst = Math.max(worst, Math.abs(x - b.get(t)[i]) / Math.abs(x));
            }
        }
        return worst;
    }

    private static double maxAbs(List<HostTensor> a, List<HostTensor> b) {
        double worst = 0;
        for (int p = 0; p < a.size(); p++) {
            float[] x = a.get(p).toFloats();
            float[] y = b.get(p).toFloats();
            for (int i = 0; i < x.length; i++) {
                worst = Math.max(worst, Math.abs((double) x[i] - y[i]));
            }
        }
        return worst;
    }

    private static void assertSameBits(Run expected, Run actual, String what) {
        for (int t = 0; t < expected.losses().size(); t++) {
            assertArrayEquals(expected.losses().get(t), actual.losses().get(t), what + ": l+- of step " + (t + 1));
        }
        for (int p = 0; p < expected.theta().size(); p++) {
            assertArrayEquals(expected.theta().get(p).toFloats(), actual.theta().get(p).toFloats(), what
                    + ": parameter " + expected.theta().get(p).name());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"shadow", "in-place"})
    void oneRankOnOneGpuIsTheSingleEngineBitForBit(String strategy) throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(dir.resolve("o"), strategy, 1);
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        Run eager;
        try (ZoEngine e = single(c, m, lm, false)) {
            eager = run(e, steps);
        }
        Run captured;
        try (ZoEngine e = single(c, m, lm, true)) {
            captured = run(e, steps);
        }
        Run nccl;
        try (ZoEngine e = new DataParallelEngine(NcclGroup.create(new int[] {0}, 60), 60,
                DataParallelEngine.Split.BATCH, lm, 1, (rank, o, x) -> new OnDevice(0, single(c, m, o, true)))) {
            nccl = run(e, steps);
        }
        Run inProcess;
        try (ZoEngine e = new DataParallelEngine(new InProcessGroup(1, 60), 60, DataParallelEngine.Split.BATCH, lm, 1,
                (rank, o, x) -> single(c, m, o, true))) {
            inProcess = run(e, steps);
        }
        System.out.printf("NCCL 1 rank, %s: l+- %s%n  single eager %s%n  single captured %s (max relative %.2e, "
                + "max |theta diff| %.2e)%n", strategy, fmt(nccl.losses()), fmt(eager.losses()),
                fmt(captured.losses()), maxRelative(captured.losses(), nccl.losses()),
                maxAbs(captured.theta(), nccl.theta()));
        assertSameBits(eager, nccl, strategy + ", NCCL one rank vs the single engine's eager step");
        assertSameBits(inProcess, nccl, strategy + ", NCCL one rank vs the in-process group");
        assertTrue(maxRelative(captured.losses(), nccl.losses()) < 1e-4, "captured step vs NCCL one rank");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"shadow", "in-place"})
    void twoGpusMatchOneEngineOnTheWholeBatch(String strategy) throws IOException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for the two-GPU run, found " + n);
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(dir.resolve("o"), strategy, 2);
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        PrintWriter log = new PrintWriter(new StringWriter());
        Run one;
        try (ZoEngine e = single(c, m, lm, false)) {
            one = run(e, steps);
        }
        Run two;
        try (ZoEngine e = ZoEngines.create(c, m.model(), m.parameters(), lm, log)) {
            assertTrue(e instanceof DataParallelEngine d && d.workers() == 2, "two GPU replicas: " + e);
            two = run(e, steps);
        }
        Run again;
        try (ZoEngine e = ZoEngines.create(c, m.model(), m.parameters(), lm, log)) {
            again = run(e, steps);
        }
        double rel = maxRelative(one.losses(), two.losses());
        double theta = maxAbs(one.theta(), two.theta());
        System.out.printf("NCCL 2 GPUs, %s: l+- %s%n  one engine %s (max relative %.2e, max |theta diff| %.2e)%n",
                strategy, fmt(two.losses()), fmt(one.losses()), rel, theta);
        assertTrue(rel < 2e-6, "l+- of two GPUs within 2e-6 relative of one engine's: " + rel);
        assertTrue(theta < 1e-6, "theta of two GPUs within 1e-6 of one engine's: " + theta);
        assertSameBits(two, again, strategy + ", two GPUs run twice");
    }

    @Test
    void trainOnTwoGpusResumesBitForBitAndRefusesAnotherCount() throws IOException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for zotune train --gpus 2, found " + n);
        String[] extra = {"eval_every: 4", "grad_accumulation: 1"};
        Trainer.Summary one = TrainRuns.train(config(dir.resolve("one"), "shadow", 1, extra), TrainRuns.quiet());
        Path a = dir.resolve("a");
        Trainer.Summary two = TrainRuns.train(config(a, "shadow", 2, extra), TrainRuns.quiet());
        double d1 = one.finalDev().loss();
        double d2 = two.finalDev().loss();
        System.out.printf("zotune train, dev loss after 4 steps: 1 GPU %.9f, 2 GPUs %.9f%n", d1, d2);
        assertEquals(d1, d2, 1e-5 * d1, "dev loss after 4 steps: 1 GPU " + d1 + ", 2 GPUs " + d2);
        assertTrue(one.initialDev().loss() != d1, "the run moved the weights");

        Path b = dir.resolve("b");
        TrainConfig cb = config(b, "shadow", 2, extra);
        assertEquals("stop-after", TrainRuns.train(cb, new Trainer.Options(false, false, 2, false)).stopped());
        ZotuneException other = org.junit.jupiter.api.Assertions.assertThrows(ZotuneException.class,
                () -> TrainRuns.train(config(b, "shadow", 1, extra), new Trainer.Options(true, false, 0, false)));
        assertTrue(other.getMessage().contains("different config (key 'parallel.gpus')"), other.getMessage());
        assertEquals(4, TrainRuns.train(cb, new Trainer.Options(true, false, 0, false)).steps());
        assertEquals(ResumeAndReplayTest.stepRecords(a), ResumeAndReplayTest.stepRecords(b));
        Map<String, HostTensor> wa = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        Map<String, HostTensor> wb = SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors();
        ResumeAndReplayTest.assertSameTensors(wa, wb);
    }

    private static String fmt(List<float[]> xs) {
        StringBuilder s = new StringBuilder();
        for (float[] x : xs) {
            s.append(Arrays.toString(x));
        }
        return s.toString();
    }
}
