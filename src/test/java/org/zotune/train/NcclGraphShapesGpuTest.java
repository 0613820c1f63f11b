package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.parallel.NcclGroup;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * The captured step's graphs per shape in data-parallel steps (the ranks key their graphs by every rank's shape
 * together, DeviceZoStep.submit): batches whose length alternates give, on one NCCL rank inside the graph, bitwise
 * the single captured step and the eager data-parallel step, with one capture per distinct shape; on two GPUs
 * (where present), shards of length buckets (each rank's own shape alternating) repeat bit for bit with one capture
 * per distinct pair of shard shapes, within 2e-6 relative of one GPU on the whole batch.
 */
@Tag("gpu")
class NcclGraphShapesGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(String strategy, int gpus) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        return TrainRuns.config(TrainRuns.yamlOn("cuda", train, train, dir.resolve("o"), "optimizer:",
                "  name: zo-adam", "  lr: 1e-3", "steps: 6", "eps: 1e-3", "perturbation: " + strategy, "dtype: f32",
                "parallel:", "  gpus: " + gpus, "  split: batch", "  checksum_every: 1", "  worker_timeout: 60"));
    }

    private static CudaZoEngine single(TrainConfig c, LoadedModel m, Objective o) {
        return new CudaZoEngine(CudaOps.create(c.paramDType()), m.model(), m.parameters(), null, o,
                c.optimizer().referenceConfig(c.steps()), c.optimizer().lrSchedule(c.steps()),
                ZoEngines.stepConfig(c), true, c.noiseVariant(true));
    }

    private static DataParallelEngine ranks(TrainConfig c, LoadedModel m, Objective o, boolean graph) {
        int n = c.parallel().gpus();
        int[] devices = new int[n];
        for (int k = 0; k < n; k++) {
            devices[k] = k;
        }
        return ZoEngines.gpuReplicas(c, m.model(), m.parameters(), null, null, o,
                NcclGroup.create(devices, c.parallel().workerTimeout()), graph);
    }

    private record Run(List<float[]> losses, List<HostTensor> theta, long captures) {
    }

    private static Run run(ZoEngine e, List<PromptBatch> steps) {
        List<float[]> losses = new ArrayList<>();
        for (PromptBatch b : steps) {
            ZoEngine.StepResult r = e.step(List.of(b));
            float[] l = Arrays.copyOf(r.lossPlus(), 2 * r.lossPlus().length);
            System.arraycopy(r.lossMinus(), 0, l, r.lossPlus().length, r.lossMinus().length);
            losses.add(l);
        }
        e.verifyReplicas();
        return new Run(losses, e.exportParameters(), e.graphCaptures());
    }

    /** Step t: 4 text chunks, cut to lengths[t]'s entries (one per chunk). */
    private List<PromptBatch> batches(TrainConfig c, int[][] lengths) {
        BundledModel b = BundledModel.get();
        TrainData data = TrainData.load(c.data(), Tokenizers.forModel(b.model(), b.tokenizer()), c.maxLength(),
                c.seed());
        List<PromptBatch> out = new ArrayList<>();
        for (int t = 0; t < lengths.length; t++) {
            List<int[]> chunks = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                int[] row = data.train().get(4 * t + i).rows()[0];
                chunks.add(Arrays.copyOf(row, Math.min(row.length, lengths[t][i])));
            }
            out.add(PromptBatch.ofChunks(chunks, data.padId()));
        }
        return out;
    }

    private static void assertSameBits(Run expected, Run actual, String what) {
        for (int t = 0; t < expected.losses().size(); t++) {
            System.out.printf("%s, step %d: l+- %s, expected %s%n", what, t + 1,
                    Arrays.toString(actual.losses().get(t)), Arrays.toString(expected.losses().get(t)));
            assertArrayEquals(expected.losses().get(t), actual.losses().get(t), what + ": l+- of step " + (t + 1));
        }
        for (int p = 0; p < expected.theta().size(); p++) {
            assertArrayEquals(expected.theta().get(p).toFloats(), actual.theta().get(p).toFloats(), what
                    + ": parameter " + expected.theta().get(p).name());
        }
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

    @ParameterizedTest(name = "{0}")
    @CsvSource({"shadow", "in-place"})
    void alternatingShapesOnOneRankReplayTheirGraphs(String strategy) throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 1);
        int[] a = {32, 32, 32, 32};
        int[] b = {20, 20, 20, 20};
        List<PromptBatch> steps = batches(c, new int[][] {a, b, a, b, a, b});
        Objective lm = Objective.named("lm");
        Run captured;
        try (ZoEngine e = single(c, m, lm)) {
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
        assertSameBits(captured, graph, strategy + ", lengths 32, 20 x3, one NCCL rank vs the single captured step");
        assertSameBits(eager, graph, strategy + ", lengths 32, 20 x3, one NCCL rank: graph vs eager");
        System.out.printf("%s: captures single %d, one rank %d, eager %d%n", strategy, captured.captures(),
                graph.captures(), eager.captures());
        assertEquals(2, captured.captures(), "single captured step: one capture per shape");
        assertEquals(2, graph.captures(), "one NCCL rank: one capture per shape");
        assertEquals(0, eager.captures(), "the eager data-parallel step captures nothing");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"shadow", "in-place"})
    void twoGpusKeyTheirGraphsByBothShards(String strategy) throws IOException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for the two-GPU runs, found " + n);
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        TrainConfig c = config(strategy, 2);
        // shards of examples {0, 1} and {2, 3}: with buckets of 16 (limit 32) the shards are (32, 16) then (16, 32)
        int[] a = {32, 30, 12, 9};
        int[] b = {7, 12, 31, 32};
        List<PromptBatch> steps = batches(c, new int[][] {a, b, a, b, a, b});
        Objective lm = Objective.named("lm");
        Run one;
        try (ZoEngine e = single(c, m, lm)) {
            one = run(e, steps);
        }
        Run two;
        try (DataParallelEngine e = ranks(c, m, lm, true).lengthBuckets(new LengthBuckets(16, 32))) {
            two = run(e, steps);
        }
        Run again;
        try (DataParallelEngine e = ranks(c, m, lm, true).lengthBuckets(new LengthBuckets(16, 32))) {
            again = run(e, steps);
        }
        double rel = maxRelative(one.losses(), two.losses());
        System.out.printf("%s, 2 GPUs, shards (32, 16) and (16, 32) alternating: captures %d, max relative vs one "
                + "GPU %.2e%n", strategy, two.captures(), rel);
        assertSameBits(two, again, strategy + ", two GPUs run twice");
        assertEquals(2, two.captures(), "two GPUs: one capture per distinct pair of shard shapes");
        assertTrue(rel < 2e-6, strategy + ": l+- of two GPUs within 2e-6 relative of one GPU's: " + rel);
    }
}
