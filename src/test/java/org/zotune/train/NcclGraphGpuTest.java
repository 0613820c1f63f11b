package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.parallel.NcclGroup;
import org.zotune.parallel.WorkerFailure;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * Data-parallel steps inside the captured step graph (ALGORITHMS.md §10: the NCCL all-gather of the loss pairs
 * captured between the passes and ℓ±/g), on the bundled stories260K in float32 (objective lm):
 * <ul>
 *   <li>one rank on one GPU (NCCL with world size 1: the captured collective runs): the batch split equals the
 *       single engine's captured step bit for bit (one rank's pairs are its own: 0 + Σ in double, then the division
 *       rounded to float, which is the float division), for full fine-tuning, LoRA and a prefix, q = 1 and 2,
 *       M = 1 and 2; and the eager data-parallel step bit for bit (the same float pairs, the same arithmetic);</li>
 *   <li>classification: the samples split inside the graph = one engine bit for bit; the batch split stays eager;</li>
 *   <li>the samples split on one rank equals one engine bit for bit, captured and eager;</li>
 *   <li>two GPUs (skipped, saying so, with fewer): the batch split within float-summation tolerance of one GPU on
 *       the whole batch, a second run bit for bit the first, the replicas' checksums equal every step; the samples
 *       split bit for bit one GPU's step; LoRA over two GPUs within tolerance; a rank that fails stops the other
 *       with a failure naming it.</li>
 * </ul>
 * Needs NCCL (the launcher finds it) and, for two GPUs, NCCL_NVLS_ENABLE set (the launcher sets 0). Prints what it
 * compares.
 */
@Tag("gpu")
class NcclGraphGpuTest {
    private static final String[] LORA = {"peft:", "  method: lora", "  r: 4", "  alpha: 8", "  targets: [q, v]"};
    private static final String[] PREFIX = {"peft:", "  method: prefix", "  tokens: 3"};

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(String strategy, int gpus, int q, int micro, String split, String peft)
            throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        List<String> lines = new ArrayList<>(List.of("optimizer:", "  name: zo-adam", "  lr: 1e-3", "steps: 4",
                "eps: 1e-3", "perturbation: " + strategy, "q: " + q, "grad_accumulation: " + micro, "dtype: f32",
                "parallel:", "  gpus: " + gpus, "  split: " + split, "  checksum_every: 1", "  worker_timeout: 60"));
        if (peft.equals("lora")) {
            lines.addAll(List.of(LORA));
        } else if (peft.equals("prefix")) {
            lines.addAll(List.of(PREFIX));
        }
        return TrainRuns.config(TrainRuns.yamlOn("cuda", train, train, dir.resolve("o"),
                lines.toArray(String[]::new)));
    }

    /** One CUDA engine of {@code c}, with the config's noise variant as ZoEngines gives the replicas theirs. */
    private static ZoEngine single(TrainConfig c, LoadedModel m, Objective o, boolean graph) {
        return new CudaZoEngine(CudaOps.create(c.paramDType()), m.model(), m.parameters(), ZoEngines.adapter(c,
                m.model()), o, c.optimizer().referenceConfig(c.steps()), c.optimizer().lrSchedule(c.steps()),
                ZoEngines.stepConfig(c), graph, c.noiseVariant(true));
    }

    private static DataParallelEngine ranks(TrainConfig c, LoadedModel m, Objective o, boolean graph) {
        int n = c.parallel().gpus();
        int[] devices = new int[n];
        for (int k = 0; k < n; k++) {
            devices[k] = k;
        }
        return ZoEngines.gpuReplicas(c, m.model(), m.parameters(), ZoEngines.adapter(c, m.model()), null, o,
                NcclGroup.create(devices, c.parallel().workerTimeout()), graph);
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
        int micro = c.gradAccumulation();
        List<List<PromptBatch>> out = new ArrayList<>();
        for (int t = 0; t < c.steps(); t++) {
            List<PromptBatch> step = new ArrayList<>();
            for (int i = 0; i < micro; i++) {
                int from = 4 * (t * micro + i);
                step.add(PromptBatch.of(data.train().subList(from, from + 4), data.padId()));
            }
            out.add(step);
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
        System.out.printf("%s: l+- %s%n  expected %s (max relative %.2e, max |theta diff| %.2e)%n", what,
                fmt(actual.losses()), fmt(expected.losses()), maxRelative(expected.losses(), actual.losses()),
                maxAbs(expected.theta(), actual.theta()));
        for (int t = 0; t < expected.losses().size(); t++) {
            assertArrayEquals(expected.losses().get(t), actual.losses().get(t), what + ": l+- of step " + (t + 1));
        }
        for (int p = 0; p < expected.theta().size(); p++) {
            assertArrayEquals(expected.theta().get(p).toFloats(), actual.theta().get(p).toFloats(), what
                    + ": parameter " + expected.theta().get(p).name());
        }
    }

    @ParameterizedTest(name = "{0} q={1} M={2} {3}")
    @CsvSource({
        "shadow, 1, 1, full",
        "in-place, 1, 1, full",
        "in-place, 2, 2, full",
        "shadow, 2, 2, full",
        "shadow, 2, 1, lora",
        "in-place, 1, 2, lora",
        "shadow, 1, 1, prefix",
    })
    void oneRankInsideTheGraphIsTheSingleCapturedStep(String strategy, int q, int micro, String peft)
            throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 1, q, micro, "batch", peft);
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        String name = strategy + " q=" + q + " M=" + micro + " " + peft;
        Run captured;
        try (ZoEngine e = single(c, m, lm, true)) {
            captured = run(e, steps);
        }
        Run graph;
        try (ZoEngine e = ranks(c, m, lm, true)) {
            graph = run(e, steps);
        }
        Run eager;
        try (ZoEngine e = ranks(c, m, lm, false)) {
            eager = run(e, steps);
        }
        assertSameBits(captured, graph, name + ", one NCCL rank inside the graph vs the single captured step");
        // the same float pairs (the captured and eager cross-entropy agree bitwise: GraphObjectivesGpuTest), the
        // same double arithmetic on the host and in loss_pair_sum
        assertSameBits(eager, graph, name + ", one NCCL rank inside the graph vs the eager data-parallel step");
    }

    /**
     * A candidate-scoring objective (classification on SST-2): the samples split runs inside the graph (any device
     * loss) and equals one engine bit for bit; the batch split keeps the eager data-parallel step (its device loss is a
     * mean, not a sum): with the graph switch on it gives the eager data-parallel step's bits, and one rank is the
     * single eager step within 1e-5 relative (the sums are mean·n, then / n: not always the mean's bits).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"shadow", "in-place"})
    void classificationOnOneRank(String strategy) throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Path sst2 = org.zotune.TestData.file("datasets/sst2-glue/dev.tsv");
        List<List<PromptBatch>> steps = null;
        for (String split : new String[] {"samples", "batch"}) {
            TrainConfig c = TrainRuns.config(String.join("\n", "model: '" + b.model() + "'",
                    "tokenizer: '" + b.tokenizer() + "'", "data:", "  format: sst2", "  train: '" + sst2 + "'",
                    "  template: sst2", "  max_examples: 64", "objective: classification", "batch_size: 6",
                    "max_length: 64", "device: cuda", "out: '" + dir.resolve("o") + "'", "seed: 7", "optimizer:",
                    "  name: zo-sgd", "  lr: 1e-4", "steps: 3", "eps: 1e-3", "perturbation: " + strategy, "q: 2",
                    "dtype: f32", "parallel:", "  gpus: 1", "  split: " + split, "  checksum_every: 1", ""));
            if (steps == null) {
                TrainData d = TrainData.load(c.data(), Tokenizers.forModel(b.model(), b.tokenizer()), c.maxLength(),
                        c.seed());
                steps = new ArrayList<>();
                for (int t = 0; t < c.steps(); t++) {
                    steps.add(List.of(PromptBatch.of(d.train().subList(6 * t, 6 * t + 6), d.padId())));
                }
            }
            Objective o = Objective.named("classification");
            boolean graph = split.equals("samples");
            Run one;
            try (ZoEngine e = single(c, m, o, graph)) {
                one = run(e, steps);
            }
            Run ranks;
            try (ZoEngine e = ranks(c, m, o, true)) {
                ranks = run(e, steps);
            }
            String name = "classification " + strategy + " q=2, split " + split + " on one NCCL rank";
            if (graph) {
                assertSameBits(one, ranks, name + " vs the single captured step");
            } else {
                Run eager;
                try (ZoEngine e = ranks(c, m, o, false)) {
                    eager = run(e, steps);
                }
                assertSameBits(eager, ranks, name + ", graph switch on vs off");
                double rel = maxRelative(one.losses(), ranks.losses());
                System.out.printf("%s vs the single eager step: max relative %.2e, max |theta diff| %.2e%n", name,
                        rel, maxAbs(one.theta(), ranks.theta()));
                assertTrue(rel < 1e-5, name + ": l+- within 1e-5 relative of the single eager step: " + rel);
            }
        }
    }

    @ParameterizedTest(name = "{0} q={1}")
    @CsvSource({"shadow, 3", "in-place, 3", "in-place, 2"})
    void samplesSplitOnOneRankIsOneEngine(String strategy, int q) throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 1, q, 1, "samples", "full");
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        for (boolean graph : new boolean[] {true, false}) {
            Run one;
            try (ZoEngine e = single(c, m, lm, graph)) {
                one = run(e, steps);
            }
            Run split;
            try (ZoEngine e = ranks(c, m, lm, graph)) {
                split = run(e, steps);
            }
            assertSameBits(one, split, strategy + " q=" + q + (graph ? " captured" : " eager")
                    + ", samples over one NCCL rank vs one engine");
        }
    }

    private static void twoGpus() {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for the two-GPU runs, found " + n);
    }

    @ParameterizedTest(name = "{0} q={1} {2}")
    @CsvSource({"shadow, 1, full", "in-place, 2, full", "shadow, 1, lora"})
    void twoGpusInsideTheGraphMatchOneGpuOnTheWholeBatch(String strategy, int q, String peft) throws IOException {
        twoGpus();
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 2, q, 1, "batch", peft);
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        Run one;
        try (ZoEngine e = single(c, m, lm, true)) {
            one = run(e, steps);
        }
        Run two;
        try (DataParallelEngine e = ranks(c, m, lm, true)) {
            assertEquals(2, e.workers());
            two = run(e, steps);
        }
        Run again;
        try (ZoEngine e = ranks(c, m, lm, true)) {
            again = run(e, steps);
        }
        double rel = maxRelative(one.losses(), two.losses());
        double theta = maxAbs(one.theta(), two.theta());
        String name = strategy + " q=" + q + " " + peft;
        System.out.printf("%s, 2 GPUs inside the graph: l+- %s%n  one GPU %s (max relative %.2e, max |theta diff| "
                + "%.2e)%n", name, fmt(two.losses()), fmt(one.losses()), rel, theta);
        assertTrue(rel < 2e-6, name + ": l+- of two GPUs within 2e-6 relative of one GPU's: " + rel);
        assertTrue(theta < 1e-6, name + ": theta of two GPUs within 1e-6 of one GPU's: " + theta);
        assertSameBits(two, again, name + ", two GPUs inside the graph run twice");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"shadow", "in-place"})
    void twoGpusSplittingTheSamplesAreOneGpuBitForBit(String strategy) throws IOException {
        twoGpus();
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 2, 3, 1, "samples", "full");
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        for (boolean graph : new boolean[] {true, false}) {
            Run one;
            try (ZoEngine e = single(c, m, lm, graph)) {
                one = run(e, steps);
            }
            Run two;
            try (ZoEngine e = ranks(c, m, lm, graph)) {
                two = run(e, steps);
            }
            assertSameBits(one, two, strategy + " q=3" + (graph ? " captured" : " eager")
                    + ", samples over two GPUs vs one");
        }
    }

    @Test
    void aRankThatFailsStopsTheOtherNamingIt() throws IOException {
        twoGpus();
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config("shadow", 2, 1, 1, "batch", "full");
        List<List<PromptBatch>> steps = batches(c);
        Objective lm = Objective.named("lm");
        NcclGroup group = NcclGroup.create(new int[] {0, 1}, 10);
        DataParallelEngine e = new DataParallelEngine(group, 10, DataParallelEngine.Split.BATCH, lm, 1,
                (rank, o, x) -> {
                    Cuda.useDevice(rank);
                    CudaZoEngine r = (CudaZoEngine) single(c, m, o, true);
                    r.spreadBatch(group.deviceCollective(rank), lm);
                    ZoEngine on = new OnDevice(rank, r);
                    return rank == 1 ? new FailsAtStep(on, 2) : on;
                });
        Cuda.useDevice(0);
        try (e) {
            e.step(steps.get(0));
            WorkerFailure f = assertTimeoutPreemptively(Duration.ofSeconds(60),
                    () -> assertThrows(WorkerFailure.class, () -> e.step(steps.get(1))));
            System.out.println("a rank that failed at step 2: " + f.getMessage());
            assertEquals(1, f.rank(), f.getMessage());
        }
    }

    /** A replica that throws at step {@code at}. */
    private record FailsAtStep(ZoEngine engine, long at) implements ZoEngine {
        @Override
        public StepResult step(List<PromptBatch> microBatches) {
            if (engine.stepsDone() + 1 == at) {
                throw new IllegalStateException("test: rank stops at step " + at);
            }
            return engine.step(microBatches);
        }

        @Override
        public long stepsDone() {
            return engine.stepsDone();
        }

        @Override
        public <R> R evaluate(Evaluation<R> evaluation) {
            return engine.evaluate(evaluation);
        }

        @Override
        public List<HostTensor> exportParameters() {
            return engine.exportParameters();
        }

        @Override
        public State state() {
            return engine.state();
        }

        @Override
        public void restore(State state) {
            engine.restore(state);
        }

        @Override
        public String device() {
            return engine.device();
        }

        @Override
        public void close() {
            engine.close();
        }
    }

    private static String fmt(List<float[]> xs) {
        StringBuilder s = new StringBuilder();
        for (float[] x : xs) {
            s.append(Arrays.toString(x));
        }
        return s.toString();
    }
}
