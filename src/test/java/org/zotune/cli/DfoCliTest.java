package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.dfo.SearchFixtures;
import org.zotune.model.BundledModel;
import org.zotune.train.DfoTrainer;
import org.zotune.train.TrainConfig;
import org.zotune.train.Trainer;

/** zotune train with method dfo: every bad dfo section is one line naming the key, exit 2, nothing left behind. */
class DfoCliTest {
    @TempDir
    Path dir;

    private Path config(String... dfo) throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"text\": \"the cat was happy\", \"label\": \"pos\"}\n"
                + "{\"text\": \"the dog was sad\", \"label\": \"neg\"}\n");
        String yaml = String.join("\n", "model: bundled", "data:", "  format: jsonl", "  train: '" + f + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: bad}", "method: dfo",
                "device: cpu", "out: '" + dir.resolve("run") + "'", "dfo:", "  population: 4", "  subspace: 8",
                "  budget: 100", String.join("\n", dfo), "");
        return Files.writeString(dir.resolve("run.yaml"), yaml);
    }

    private CliRun train(Path cfg, String... more) {
        String[] args = new String[3 + more.length];
        args[0] = "train";
        args[1] = "--config";
        args[2] = cfg.toString();
        System.arraycopy(more, 0, args, 3, more.length);
        return CliRun.of(args);
    }

    private void assertNothingWritten() throws IOException {
        Path run = dir.resolve("run");
        if (Files.isDirectory(run)) {
            try (var s = Files.list(run)) {
                assertEquals(List.of(), s.filter(p -> !p.getFileName().toString().equals(".zotune.lock")).toList());
            }
        }
    }

    @Test
    void badKeysOfTheSectionAreOneLineExit2() throws IOException {
        Path cfg = config();
        train(cfg, "--set", "dfo.subspace=10").assertUsageError("dfo.subspace", "10", "divisible by 4");
        train(cfg, "--set", "dfo.population=1").assertUsageError("dfo.population", ">= 2");
        train(cfg, "--set", "dfo.budget=3").assertUsageError("dfo.budget", "smaller than one generation",
                "population 4");
        train(cfg, "--set", "dfo.sigma0=0").assertUsageError("dfo.sigma0", "> 0");
        train(cfg, "--set", "dtype=f64").assertUsageError("dtype", "f64", "f32, bf16, f16"); // bf16, f16 run
        train(cfg, "--set", "dfo.sigma0=-1").assertUsageError("dfo.sigma0", "> 0");
        train(cfg, "--set", "dfo.optimizer=nelder-mead").assertUsageError("dfo.optimizer", "cma, fwa, alternate");
        train(cfg, "--set", "dfo.schedule=random").assertUsageError("dfo.schedule", "layers, rounds");
        train(cfg, "--set", "dfo.covariance=low-rank").assertUsageError("dfo.covariance", "full, separable");
        train(cfg, "--set", "dfo.sparks=5").assertUsageError("unknown key 'dfo.sparks'", "population",
                "fireworks");
        train(cfg, "--set", "dfo.fireworks.sparkz=5").assertUsageError("unknown key 'dfo.fireworks.sparkz'",
                "amplitude_up", "amplitude_down");
        train(cfg, "--set", "dfo.fireworks.amplitude_down=1.5").assertUsageError("dfo.fireworks.amplitude_down",
                "(0, 1)");
        train(cfg, "--set", "method=bayes").assertUsageError("method", "zo, dfo");
        assertNothingWritten();
    }

    @Test
    void whatTheModelDecidesIsOneLineExit2BeforeAnythingIsWritten() throws IOException {
        Path cfg = config();
        train(cfg, "--set", "dfo.rank=100000").assertUsageError("dfo.rank", "100000", "hidden size");
        train(cfg, "--set", "dfo.targets=[q, gate]").assertUsageError("dfo.targets", "'gate'", "valid: k, q");
        train(cfg, "--set", "dfo.targets=[q, v]").assertUsageError("dfo.targets", "'v'", "valid: k, q");
        train(cfg, "--set", "dfo.targets=[q]").assertUsageError("dfo.targets", "[q]", "together");
        // enough for one generation, not for one per layer of the bundled model's under schedule layers
        train(cfg, "--set", "dfo.budget=6").assertUsageError("dfo.budget", "no generation per layer",
                "schedule rounds");
        assertNothingWritten();
    }

    @Test
    void anObjectiveWithoutABatchedReductionIsOneLineBeforeAnythingIsWritten() throws IOException {
        train(config(), "--set", "objective=f1").assertUsageError("objective f1", "not batched", "classification");
        assertNothingWritten();
    }

    /** An optimiser the heap cannot hold is refused before the run folder is written (not at its first layer). */
    @Test
    void aPopulationTheOptimisersCannotHoldIsOneLineBeforeAnythingIsWritten() throws IOException {
        train(config(), "--set", "dfo.population=2147483647", "--set", "dfo.budget=9000000000000000",
                "--set", "dfo.optimizer=cma").assertUsageError("CMA-ES", "population 2147483647");
        assertNothingWritten();
    }

    @Test
    void resumeWithAChangedDfoSectionIsOneLineNamingTheKey() throws IOException {
        Path cfg = config();
        BundledModel b = BundledModel.get();
        TrainConfig c = TrainConfig.read(cfg, List.of());
        Trainer.Summary s = new DfoTrainer(c, b.model(), b.tokenizer(), new Trainer.Options(false, false, 2, false),
                new PrintWriter(new StringWriter()), in -> new SearchFixtures.Quadratic(
                        in.loaded().config().numLayers(), 8), new SearchFixtures.Factory(4)).run();
        assertEquals("stop-after", s.stopped());
        String before = Files.readString(dir.resolve("run/checkpoint/latest.json"));
        train(cfg, "--resume", "--set", "dfo.population=5").assertUsageError("--resume", "key 'dfo.population'");
        train(cfg, "--resume", "--set", "dfo.schedule=rounds").assertUsageError("--resume", "key 'dfo.schedule'");
        train(cfg, "--resume", "--set", "method=zo").assertUsageError("--resume", "key 'method'");
        train(cfg, "--resume", "--set", "dtype=bf16").assertUsageError("--resume", "key 'dtype'");
        assertEquals(before, Files.readString(dir.resolve("run/checkpoint/latest.json")));
    }
}
