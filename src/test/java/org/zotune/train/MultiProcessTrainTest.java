package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.ZotuneException;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.parallel.InProcessGroup;
import org.zotune.parallel.ProcessGroup;
import org.zotune.parallel.WorkerFailure;
import org.zotune.tensor.HostTensor;

/**
 * The multi-process run (parallel.world_size, rank, init) driven through the real Trainer, with the processes as
 * threads of this JVM, each with its own Trainer, joined by an in-process stand-in for NCCL
 * ({@link RankEngines#standIn}) on CPU engines: the ranks' run equals the one-process run with as many CPU workers
 * (the same shards, the same rank-order sums) step for step and bit for bit; only rank 0 writes (rank 1's own out
 * folder stays absent); a resume reads rank 0's checkpoint on every rank and continues bit for bit; another world
 * size is refused naming both numbers; a rank that fails stops the other with a line naming it.
 */
class MultiProcessTrainTest {
    @TempDir
    Path dir;

    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void reset() {
        RankEngines.standIn = null;
        pool.shutdownNow();
    }

    private TrainConfig config(Path out, String... parallel) throws IOException {
        return TrainRuns.config(yaml(out, parallel));
    }

    /** The run of {@link #config} with q = 2 SPSA samples, spread over the workers or ranks. */
    private TrainConfig samples(Path out, String... parallel) throws IOException {
        List<String> p = new ArrayList<>(List.of(parallel));
        p.add("split: samples");
        return TrainRuns.config(yaml(out, p.toArray(String[]::new)), "q=2");
    }

    private String yaml(Path out, String... parallel) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        List<String> extra = new ArrayList<>(List.of("optimizer:", "  name: zo-sgd", "  lr: 1e-4", "steps: 6",
                "eval_every: 3", "grad_accumulation: 2", "parallel:", "  checksum_every: 2"));
        for (String p : parallel) {
            extra.add("  " + p);
        }
        return TrainRuns.yaml(train, dev, out, extra.toArray(String[]::new));
    }

    private TrainConfig rank(Path out, int rank, int worldSize) throws IOException {
        return config(out, "world_size: " + worldSize, "rank: " + rank, "init: tcp://127.0.0.1:1");
    }

    /** Runs one Trainer per rank on its own thread over a fresh stand-in group; returns each rank's outcome. */
    private List<Object> runRanks(List<TrainConfig> ranks, Trainer.Options options) throws InterruptedException {
        InProcessGroup shared = new InProcessGroup(ranks.size(), 60);
        RankEngines.standIn = r -> ProcessGroup.standIn(shared, r);
        List<Future<Trainer.Summary>> fs = new ArrayList<>();
        for (TrainConfig c : ranks) {
            fs.add(pool.submit(() -> TrainRuns.train(c, options)));
        }
        List<Object> out = new ArrayList<>();
        for (Future<Trainer.Summary> f : fs) {
            try {
                out.add(f.get(300, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                out.add(e.getCause());
            } catch (java.util.concurrent.TimeoutException e) {
                out.add(e);
            }
        }
        return out;
    }

    private static Map<String, HostTensor> weights(Path run) {
        return SafetensorsFile.open(run.resolve("model/model.safetensors")).tensors();
    }

    @Test
    void twoRanksEqualTwoWorkersAndOnlyRankZeroWrites() throws Exception {
        Path workers = dir.resolve("workers");
        TrainRuns.train(config(workers, "workers: 2"), TrainRuns.quiet());

        Path a = dir.resolve("a");
        Path rank1Out = dir.resolve("rank1-out"); // rank 1 is told another folder: it must write nothing anywhere
        List<Object> r = runRanks(List.of(rank(a, 0, 2), rank(rank1Out, 1, 2)), TrainRuns.quiet());
        assertTrue(r.get(0) instanceof Trainer.Summary, "rank 0: " + r.get(0));
        assertTrue(r.get(1) instanceof Trainer.Summary, "rank 1: " + r.get(1));
        assertEquals(6, ((Trainer.Summary) r.get(0)).steps());
        assertEquals(6, ((Trainer.Summary) r.get(1)).steps());
        assertEquals(((Trainer.Summary) r.get(0)).lastTrainLoss(), ((Trainer.Summary) r.get(1)).lastTrainLoss(),
                "every rank saw the same all-reduced loss");
        assertFalse(Files.exists(rank1Out), "rank 1 wrote " + rank1Out);

        List<String> expected = ResumeAndReplayTest.stepRecords(workers);
        assertEquals(expected, ResumeAndReplayTest.stepRecords(a), "2 ranks = 2 workers, step for step");
        assertEquals(ResumeAndReplayTest.trajectorySteps(workers), ResumeAndReplayTest.trajectorySteps(a));
        ResumeAndReplayTest.assertSameTensors(weights(workers), weights(a));
        for (String f : new String[] {"run.json", "summary.json", "checkpoint", "model", "best"}) {
            assertTrue(Files.exists(a.resolve(f)), "rank 0 wrote " + f);
        }
        String runJson = Files.readString(a.resolve("run.json"));
        assertTrue(runJson.contains("\"world_size\" : 2"), runJson);
    }

    /**
     * LoRA and a prefix over two processes: the same steps and adapter bits as two workers in one process, also when
     * stopped and resumed.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lora", "prefix"})
    void adaptersOverTwoRanksEqualTwoWorkers(String method) throws Exception {
        String peft = method.equals("lora") ? "peft: {method: lora, r: 2, alpha: 4}"
                : "peft: {method: prefix, tokens: 2}";
        Path workers = dir.resolve("workers");
        TrainRuns.train(adapterRun(workers, peft, "workers: 2"), TrainRuns.quiet());
        Path a = dir.resolve("a");
        Path rank1Out = dir.resolve("rank1-out");
        List<Object> r = runRanks(List.of(adapterRun(a, peft, RANK0), adapterRun(rank1Out, peft, RANK1)),
                TrainRuns.quiet());
        assertTrue(r.get(0) instanceof Trainer.Summary, "rank 0: " + r.get(0));
        assertTrue(r.get(1) instanceof Trainer.Summary, "rank 1: " + r.get(1));
        assertFalse(Files.exists(rank1Out), "rank 1 wrote " + rank1Out);
        List<String> expected = ResumeAndReplayTest.stepRecords(workers);
        assertEquals(expected, ResumeAndReplayTest.stepRecords(a), method + ": 2 ranks = 2 workers, step for step");
        List<String> dev = expected.stream().filter(l -> l.startsWith("dev ")).map(l -> l.split(" ")[2]).toList();
        assertTrue(dev.size() >= 2 && !dev.get(0).equals(dev.get(dev.size() - 1)), method + ": the dev loss moved: "
                + dev);
        Path adapter = Path.of("adapter", "adapter_model.safetensors");
        ResumeAndReplayTest.assertSameTensors(SafetensorsFile.open(workers.resolve(adapter)).tensors(),
                SafetensorsFile.open(a.resolve(adapter)).tensors());
        assertFalse(Files.exists(a.resolve("model")), "an adapter run writes no full weights");

        // stopped after 3 steps and resumed over two ranks: rank 1 takes the adapter's state from rank 0's checkpoint
        Path b = dir.resolve("b");
        List<TrainConfig> ranks = List.of(adapterRun(b, peft, RANK0), adapterRun(b, peft, RANK1));
        List<Object> first = runRanks(ranks, new Trainer.Options(false, false, 3, false));
        assertEquals("stop-after", ((Trainer.Summary) first.get(0)).stopped(), "rank 0: " + first.get(0));
        List<Object> second = runRanks(ranks, new Trainer.Options(true, false, 0, false));
        assertTrue(second.get(1) instanceof Trainer.Summary s1 && s1.steps() == 6, "rank 1: " + second.get(1));
        assertEquals(expected, ResumeAndReplayTest.stepRecords(b), method + ": stopped and resumed over two ranks");
        ResumeAndReplayTest.assertSameTensors(SafetensorsFile.open(workers.resolve(adapter)).tensors(),
                SafetensorsFile.open(b.resolve(adapter)).tensors());
    }

    /** SPSA samples spread over two processes: two workers' samples split, which is one engine's step, bit for bit. */
    @Test
    void samplesOverTwoRanksEqualOneEngine() throws Exception {
        Path one = dir.resolve("one");
        TrainRuns.train(samples(one), TrainRuns.quiet());
        Path workers = dir.resolve("workers");
        TrainRuns.train(samples(workers, "workers: 2"), TrainRuns.quiet());
        Path a = dir.resolve("a");
        List<Object> r = runRanks(List.of(samples(a, RANK0), samples(dir.resolve("rank1"), RANK1)),
                TrainRuns.quiet());
        assertTrue(r.get(0) instanceof Trainer.Summary, "rank 0: " + r.get(0));
        assertTrue(r.get(1) instanceof Trainer.Summary, "rank 1: " + r.get(1));
        List<String> expected = ResumeAndReplayTest.stepRecords(one);
        assertEquals(expected, ResumeAndReplayTest.stepRecords(workers), "2 workers' samples split = one engine");
        assertEquals(expected, ResumeAndReplayTest.stepRecords(a), "2 ranks' samples split = one engine");
        ResumeAndReplayTest.assertSameTensors(weights(one), weights(a));
        ZotuneException few = assertThrows(ZotuneException.class, () -> TrainRuns.train(samples(dir.resolve("few"),
                "world_size: 3", "rank: 0", "init: tcp://127.0.0.1:1"), TrainRuns.quiet()));
        assertEquals("parallel.world_size 3: parallel.split samples: q 2 gives some rank no SPSA sample; use q >= "
                + "world_size or split batch", few.getMessage());
    }

    private static final String[] RANK0 = {"world_size: 2", "rank: 0", "init: tcp://127.0.0.1:1"};
    private static final String[] RANK1 = {"world_size: 2", "rank: 1", "init: tcp://127.0.0.1:1"};

    /** The run of {@link #config} with this {@code peft} line, at lr 1e-2. */
    private TrainConfig adapterRun(Path out, String peft, String... parallel) throws IOException {
        return TrainRuns.config(yaml(out, parallel) + peft + "\n", "optimizer.lr=1e-2");
    }

    @Test
    void resumeReadsRankZerosCheckpointAndAnotherWorldSizeIsRefused() throws Exception {
        Path whole = dir.resolve("whole");
        List<Object> w = runRanks(List.of(rank(whole, 0, 2), rank(whole, 1, 2)), TrainRuns.quiet());
        assertTrue(w.get(0) instanceof Trainer.Summary && w.get(1) instanceof Trainer.Summary, w.toString());

        Path b = dir.resolve("b");
        Trainer.Options stop = new Trainer.Options(false, false, 4, false);
        List<Object> first = runRanks(List.of(rank(b, 0, 2), rank(b, 1, 2)), stop);
        assertEquals("stop-after", ((Trainer.Summary) first.get(0)).stopped());
        assertEquals("stop-after", ((Trainer.Summary) first.get(1)).stopped());

        Trainer.Options resume = new Trainer.Options(true, false, 0, false);
        for (int other : new int[] {1, 3}) {
            ZotuneException e = assertThrows(ZotuneException.class, () -> TrainRuns.train(other == 1
                    ? config(b) : rank(b, 0, other), resume));
            assertEquals("--resume: the run in " + b + " ran with parallel.world_size 2, this start has " + other
                    + "; resume with world size 2", e.getMessage());
        }
        List<Object> second = runRanks(List.of(rank(b, 0, 2), rank(b, 1, 2)), resume);
        assertTrue(second.get(0) instanceof Trainer.Summary, "rank 0: " + second.get(0));
        assertTrue(second.get(1) instanceof Trainer.Summary, "rank 1: " + second.get(1));
        assertEquals(6, ((Trainer.Summary) second.get(1)).steps(), "rank 1 resumed from rank 0's checkpoint");
        assertEquals(ResumeAndReplayTest.stepRecords(whole), ResumeAndReplayTest.stepRecords(b));
        ResumeAndReplayTest.assertSameTensors(weights(whole), weights(b));
        try (Stream<Path> s = Files.list(b)) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("rank"))
                    .toList(), "no file of rank 1's");
        }
    }

    @Test
    void aRankThatFailsStopsTheOtherNamingIt() throws Exception {
        Path a = dir.resolve("a");
        // rank 1 is given a model file that does not exist: it fails before its first collective
        TrainConfig bad = rank(dir.resolve("unused"), 1, 2);
        InProcessGroup shared = new InProcessGroup(2, 2);
        RankEngines.standIn = r -> ProcessGroup.standIn(shared, r);
        Future<Trainer.Summary> zero = pool.submit(() -> TrainRuns.train(rank(a, 0, 2), TrainRuns.quiet()));
        Future<Trainer.Summary> one = pool.submit(() -> new Trainer(bad, dir.resolve("no-model"), null,
                TrainRuns.quiet(), new java.io.PrintWriter(new java.io.StringWriter())).run());
        ExecutionException e1 = assertThrows(ExecutionException.class, () -> one.get(120, TimeUnit.SECONDS));
        assertEquals("model " + dir.resolve("no-model") + " does not exist", e1.getCause().getMessage());
        ExecutionException e0 = assertThrows(ExecutionException.class, () -> zero.get(120, TimeUnit.SECONDS));
        assertTrue(e0.getCause() instanceof WorkerFailure f && f.rank() == 1, "rank 0: " + e0.getCause());
        assertTrue(e0.getCause().getMessage().startsWith("worker rank 1 of 2 did not reach collective 1 within 2.0 s"),
                e0.getCause().getMessage());
        assertFalse(Files.exists(a.resolve("summary.json")));
        assertFalse(Files.exists(a.resolve("run.json")), "a run that never stepped leaves nothing to resume");
    }
}
