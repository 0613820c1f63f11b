package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.ModelSource;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.cuda.Cuda;
import org.zotune.model.BundledModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.peft.Adapter;
import org.zotune.train.objective.Objective;

/**
 * The wiring of prefix tuning on the CUDA engine that needs no GPU (the GPU side is PrefixCudaGpuTest): a prefix run
 * on device cuda is no longer sent to the CPU engine (without a device it is the one-line device error, not a CPU
 * run), auto falls back to the CPU engine; a prefix trajectory replays by device as LoRA's does (auto: the CPU here,
 * bit for bit the run's prefix; cuda: the one-line device error, nothing written; an unknown device named); an
 * adapter kind no engine trains is refused in one line.
 */
class PrefixEngineWiringTest {
    @TempDir
    Path dir;

    private static final String[] PREFIX = {"optimizer:", "  name: zo-sgd", "  lr: 1.0e-3", "steps: 3",
        "eval_every: 3", "peft:", "  method: prefix", "  tokens: 2"};

    @Test
    void aPrefixOnCudaGoesToTheCudaEngineAndAutoFallsBackToTheCpu() throws IOException {
        Assumptions.assumeFalse(Cuda.availability().usable(), "a CUDA device is usable here (PrefixCudaGpuTest)");
        Path train = TrainRuns.austen(dir, "train.txt", 2_000);
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        StringWriter logged = new StringWriter();
        PrintWriter log = new PrintWriter(logged);
        TrainConfig cuda = TrainRuns.config(TrainRuns.yamlOn("cuda", train, train, dir.resolve("c"), PREFIX));
        ZotuneException e = assertThrows(ZotuneException.class, () -> ZoEngines.create(cuda, m.model(),
                m.parameters(), Objective.named("lm"), log).close());
        assertTrue(e.getMessage().startsWith("device cuda: no usable CUDA device"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        TrainConfig auto = TrainRuns.config(TrainRuns.yamlOn("auto", train, train, dir.resolve("a"), PREFIX));
        try (ZoEngine engine = ZoEngines.create(auto, m.model(), m.parameters(), Objective.named("lm"), log)) {
            assertEquals("cpu", engine.device());
            assertEquals(2L * 5 * 2 * 32, engine.exportParameters().stream().mapToLong(t -> t.numel()).sum(),
                    "the prefix's tensors (5 layers × keys, values × 2 tokens × 32)");
        }
        log.flush();
        assertTrue(logged.toString().contains("device auto: training on the CPU engine"), logged.toString());
    }

    @Test
    void aPrefixTrajectoryReplaysByDevice() throws IOException {
        Assumptions.assumeFalse(Cuda.availability().usable(), "a CUDA device is usable here (PrefixCudaGpuTest)");
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, PREFIX)), TrainRuns.quiet());
        BundledModel b = BundledModel.get();
        ModelSource bundled = ModelSource.of(b.model()).withTokenizer(b.tokenizer());
        Path trajectory = run.resolve("trajectory.jsonl");

        // auto without a GPU: the CPU, where the run trained: its prefix bit for bit
        Path auto = dir.resolve("auto");
        FineTune.replay(bundled, trajectory, auto, Device.AUTO);
        assertArrayEquals(SafetensorsFile.open(run.resolve("adapter").resolve(PrefixExport.WEIGHTS)).tensors()
                .get("prompt_embeddings").toFloats(), SafetensorsFile.open(auto.resolve(PrefixExport.WEIGHTS))
                .tensors().get("prompt_embeddings").toFloats());

        // cuda: the GPU replay is asked for, and there is none here
        Path cuda = dir.resolve("cuda");
        ZotuneException e = assertThrows(ZotuneException.class, () -> FineTune.replay(bundled, trajectory, cuda,
                Device.CUDA));
        assertTrue(e.getMessage().startsWith("replay --device cuda: no usable CUDA device"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(cuda) && Files.list(cuda).findAny().isPresent(), "nothing written");

        Trajectory.Read read = Trajectory.read(trajectory);
        LoadedModel m = ModelLoader.load(b.model());
        org.zotune.model.LoadedLanguageModel any = ModelLoader.loadAny(b.model());
        e = assertThrows(ZotuneException.class, () -> Replay.runPrefix(any, read, "tpu"));
        assertEquals("replay: unknown device 'tpu' (expected cpu or cuda)", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Replay.run(m, read, "cuda"));
        assertTrue(e.getMessage().contains("Replay.runPrefix"), e.getMessage());
    }

    @Test
    void anAdapterKindNoEngineTrainsIsOneLine() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 2_000);
        TrainConfig c = TrainRuns.config(TrainRuns.yamlOn("cpu", train, train, dir.resolve("o"), PREFIX));
        Adapter other = new Adapter() {
            @Override
            public String method() {
                return "ia3";
            }

            @Override
            public List<ParamSpec> tensors() {
                return List.of();
            }

            @Override
            public Adapter.Bound bind(Ops ops, LanguageModel model, WeightSource frozen, long runSeed) {
                throw new AssertionError("not bound: refused first");
            }
        };
        ZotuneException e = assertThrows(ZotuneException.class, () -> ZoEngines.requireEngine(c, other));
        assertEquals("peft.method ia3: no engine trains it", e.getMessage());
    }
}
