package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * zotune train --world-size W --rank R --local-rank L --init URL (keys parallel.world_size, rank, local_rank, init):
 * what cannot run is one line, exit 2, before anything is written; several processes on the CPU are refused.
 */
class WorldSizeCliTest {
    @TempDir
    Path dir;

    private String config() throws IOException {
        String line = "It is a truth universally acknowledged that a single man in possession of a good fortune. ";
        Path train = Files.writeString(dir.resolve("train.txt"), line.repeat(60));
        String yaml = String.join("\n", "model: bundled", "data:", "  format: text", "  train: '" + train + "'",
                "objective: lm", "batch_size: 2", "max_length: 16", "steps: 2", "device: cpu",
                "out: '" + dir.resolve("run") + "'", "");
        return Files.writeString(dir.resolve("run.yaml"), yaml).toString();
    }

    @Test
    void badLaunchesAreOneLineExit2() throws IOException {
        String cfg = config();
        CliRun.of("train", "--config", cfg, "--world-size", "2", "--init", "tcp://127.0.0.1:29500")
                .assertUsageError("parallel.world_size (--world-size) 2 on device cpu", "parallel.workers");
        CliRun.of("train", "--config", cfg, "--world-size", "2", "--rank", "2", "--init", "tcp://a:1")
                .assertUsageError("parallel.rank (--rank) 2 is outside 0 … 1");
        CliRun.of("train", "--config", cfg, "--world-size", "2").assertUsageError("needs parallel.init");
        CliRun.of("train", "--config", cfg, "--world-size", "2", "--init", "nfs:/x").assertUsageError(
                "parallel.init (--init) nfs:/x", "file:///shared/path");
        CliRun.of("train", "--config", cfg, "--world-size", "2", "--local-rank", "-1", "--init", "tcp://a:1")
                .assertUsageError("parallel.local_rank", ">= 0");
        CliRun.of("train", "--config", cfg, "--world-size", "2", "--gpus", "2", "--init", "tcp://a:1")
                .assertUsageError("parallel.world_size 2 and parallel.gpus 2");
        assertFalse(Files.exists(dir.resolve("run")), "nothing written");
    }
}
