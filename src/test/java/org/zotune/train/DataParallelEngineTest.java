package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.io.TextCorpus;
import org.zotune.model.BundledModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.parallel.InProcessGroup;
import org.zotune.parallel.WorkerFailure;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Optimizer;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * Data-parallel ZO on CPU replicas (ALGORITHMS.md §10) against one engine on the whole batch, on stories260K with
 * real text: the same losses within float-summation tolerance, bitwise reproducible for a fixed number of workers,
 * replicas that stay identical, and failures that name the worker.
 */
class DataParallelEngineTest {
    private static LoadedModel model;
    private static List<PromptBatch> batches; // two micro-batches of 5 chunks
    private static Optimizer optimizer;
    private static final long STEPS = 4;

    @BeforeAll
    static void load(@TempDir Path dir) throws Exception {
        BundledModel b = BundledModel.get();
        model = ModelLoader.load(b.model());
        var tok = Tokenizers.forModel(b.model(), b.tokenizer());
        Path text = TrainRuns.austen(dir, "train.txt", 6000);
        List<int[]> chunks = TextCorpus.read(List.of(text), tok, 24, 10).chunks();
        batches = List.of(PromptBatch.ofChunks(chunks.subList(0, 5), 0), PromptBatch.ofChunks(chunks.subList(5, 10), 0));
        optimizer = TrainConfig.parse("t", "model: x\ndata: {format: text, train: a}\nout: o\n",
                List.of("optimizer.name=zo-adam", "optimizer.lr=1e-3")).optimizer();
    }

    private static ZoStep.Config stepConfig() {
        return ZoStep.Config.of(1e-3, 11).withMicroBatches(2);
    }

    private static CpuZoEngine single(Objective objective, List<HostTensor> initial) {
        LrSchedule lr = optimizer.lrSchedule(STEPS);
        return new CpuZoEngine(model.model(), initial, objective,
                ZoOptimizers.create(optimizer, STEPS, new NoiseLayout(model.model().params())), lr, stepConfig());
    }

    private static DataParallelEngine parallel(int workers, double timeout, Function<Objective, ZoEngine> replica) {
        return new DataParallelEngine(new InProcessGroup(workers, timeout), timeout, DataParallelEngine.Split.BATCH, new CausalLmLoss(), 2, (o, x) -> replica.apply(o));
    }

    private static DataParallelEngine parallel(int workers) {
        return parallel(workers, 60, o -> single(o, model.parameters()));
    }

    private static List<float[]> run(ZoEngine e, List<float[]> lossPlus) {
        for (int t = 0; t < STEPS; t++) {
            lossPlus.add(e.step(batches).lossPlus());
        }
        List<float[]> out = new ArrayList<>();
        for (HostTensor h : e.exportParameters()) {
            out.add(h.toFloats());
        }
        return out;
    }

    @Test
    void workersGiveTheWholeBatchsStepWithinSummationToleranceAndRepeatBitForBit() {
        List<float[]> refLoss = new ArrayList<>();
        List<float[]> ref;
        try (ZoEngine e = single(new CausalLmLoss(), model.parameters())) {
            ref = run(e, refLoss);
        }
        for (int workers : new int[] {2, 3, 5}) {
            List<float[]> loss = new ArrayList<>();
            List<float[]> again = new ArrayList<>();
            List<float[]> theta;
            List<float[]> theta2;
            try (DataParallelEngine e = parallel(workers)) {
                theta = run(e, loss);
                e.verifyReplicas();
            }
            try (DataParallelEngine e = parallel(workers)) {
                theta2 = run(e, again);
            }
            for (int t = 0; t < STEPS; t++) {
                assertEquals(refLoss.get(t)[0], loss.get(t)[0], 2e-6 * Math.abs(refLoss.get(t)[0]),
                        workers + " workers, l+ of step " + (t + 1));
                assertArrayEquals(loss.get(t), again.get(t), "a fixed number of workers repeats bit for bit");
            }
            double worst = 0;
            for (int p = 0; p < ref.size(); p++) {
                assertArrayEquals(theta.get(p), theta2.get(p), "parameter " + p + " repeats bit for bit");
                for (int i = 0; i < ref.get(p).length; i++) {
                    worst = Math.max(worst, Math.abs(ref.get(p)[i] - theta.get(p)[i]));
                }
            }
            // 4 ZO-Adam steps of lr 1e-3: a g that differs in its last bits moves no weight by more than this
            assertTrue(worst < 1e-6, workers + " workers: max |θ - θ_single| = " + worst);
        }
    }

    @Test
    void splittingTheSamplesGivesOneEnginesStepBitForBit() {
        for (PerturbationStrategy strategy : PerturbationStrategy.values()) {
            ZoStep.Config sc = stepConfig().withSamples(4).withStrategy(strategy);
            java.util.function.Function<Objective, CpuZoEngine> make = o -> new CpuZoEngine(model.model(),
                    model.parameters(), o, ZoOptimizers.create(optimizer, STEPS, new NoiseLayout(model.model().params())),
                    optimizer.lrSchedule(STEPS), sc);
            List<float[]> refLoss = new ArrayList<>();
            List<float[]> ref;
            try (ZoEngine e = make.apply(new CausalLmLoss())) {
                ref = run(e, refLoss);
            }
            for (int workers : new int[] {2, 3}) {
                List<float[]> loss = new ArrayList<>();
                List<float[]> theta;
                try (DataParallelEngine e = new DataParallelEngine(new InProcessGroup(workers, 60), 60,
                        DataParallelEngine.Split.SAMPLES, new CausalLmLoss(), 1, (o, exchange) -> {
                            CpuZoEngine c = make.apply(o);
                            c.spreadSamples(exchange);
                            return c;
                        })) {
                    theta = run(e, loss);
                }
                for (int t = 0; t < STEPS; t++) {
                    assertArrayEquals(refLoss.get(t), loss.get(t), strategy + ", " + workers + " workers, step " + t);
                }
                for (int p = 0; p < ref.size(); p++) {
                    assertArrayEquals(ref.get(p), theta.get(p), strategy + ", " + workers + " workers, parameter " + p);
                }
            }
        }
    }

    /** An objective that fails (or hangs) on its {@code at}-th call in the replica built {@code rank}-th. */
    private static Function<Objective, ZoEngine> faulty(int rank, int at, boolean hang) {
        AtomicInteger built = new AtomicInteger();
        return o -> {
            boolean bad = built.getAndIncrement() == rank;
            AtomicInteger calls = new AtomicInteger();
            Objective wrapped = new Objective() {
                @Override
                public String name() {
                    return o.name();
                }

                @Override
                public float loss(Ops ops, LanguageModel m, WeightSource w, PromptBatch b) {
                    if (bad && calls.incrementAndGet() == at) {
                        if (!hang) {
                            throw new IllegalStateException("simulated worker fault");
                        }
                        try {
                            Thread.sleep(60_000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IllegalStateException("abandoned");
                        }
                    }
                    return o.loss(ops, m, w, b);
                }
            };
            return single(wrapped, model.parameters());
        };
    }

    @Test
    void aFailingWorkerStopsTheStepNamingItsRank() {
        try (DataParallelEngine e = parallel(3, 60, faulty(1, 6, false))) {
            e.step(batches); // 4 loss calls per step (2 micro-batches × ±)
            WorkerFailure f = assertThrows(WorkerFailure.class, () -> e.step(batches));
            assertEquals(1, f.rank());
            assertEquals("worker rank 1 of 3 failed: simulated worker fault", f.getMessage());
            assertEquals(1, e.stepsDone());
            var again = assertThrows(org.zotune.ZotuneException.class, () -> e.step(batches));
            assertTrue(again.getMessage().startsWith("the data-parallel workers stopped earlier (worker rank 1 of 3 "
                    + "failed"), again.getMessage());
        }
    }

    @Test
    void aHangingWorkerIsNamedAfterTheTimeout() {
        long start = System.nanoTime();
        try (DataParallelEngine e = parallel(2, 0.5, faulty(1, 3, true))) {
            WorkerFailure f = assertThrows(WorkerFailure.class, () -> e.step(batches));
            assertEquals(1, f.rank());
            assertTrue(f.getMessage().startsWith("worker rank 1 of 2 did not reach collective 3 within 0.5 s"),
                    f.getMessage());
        }
        assertTrue((System.nanoTime() - start) / 1e9 < 30, "the run stops instead of waiting for the hung worker");
    }

    @Test
    void replicasThatDifferAreNamedByTheirChecksum() {
        AtomicInteger built = new AtomicInteger();
        List<HostTensor> other = new ArrayList<>(model.parameters());
        float[] w = other.get(0).toFloats();
        w[0] += 1f;
        other.set(0, HostTensor.ofFloats(other.get(0).name(), w, other.get(0).shape()));
        try (DataParallelEngine e = parallel(3, 60, o -> single(o, built.getAndIncrement() == 2 ? other
                : model.parameters()))) {
            WorkerFailure f = assertThrows(WorkerFailure.class, e::verifyReplicas);
            assertEquals(2, f.rank());
            assertTrue(f.getMessage().startsWith("data-parallel replicas differ at step 0: rank 2's parameter "
                    + "checksum"), f.getMessage());
        }
    }

    @Test
    void anObjectiveThatIsNotASumIsRefused() {
        var e = assertThrows(org.zotune.ZotuneException.class, () -> new DataParallelEngine(
                new InProcessGroup(2, 1), 1, DataParallelEngine.Split.BATCH, Objective.named("f1"), 0, (o, x) -> single(o, model.parameters())));
        assertEquals("parallel.workers 2: objective f1 cannot be split over workers (its loss is not a sum over "
                + "examples); use parallel.workers 1", e.getMessage());
    }

    @Test
    void checksumsAreOfTheBits() {
        HostTensor a = HostTensor.ofFloats("a", new float[] {1f, 2f}, new long[] {2});
        HostTensor b = HostTensor.ofFloats("a", new float[] {1f, Math.nextUp(2f)}, new long[] {2});
        assertTrue(DataParallelEngine.checksum(List.of(a)) != DataParallelEngine.checksum(List.of(b)));
        assertEquals(DataParallelEngine.checksum(List.of(a)), DataParallelEngine.checksum(List.of(a)));
    }
}
