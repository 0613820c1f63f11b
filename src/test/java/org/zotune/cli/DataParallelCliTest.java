package org.zotune.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** zotune train --workers: where data-parallel workers cannot run, one line and exit 2 before anything is written. */
class DataParallelCliTest {
    @TempDir
    Path dir;

    private Path config() throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            text.append("It is a truth universally acknowledged that a single man in possession of a good fortune. ");
        }
        Path train = Files.writeString(dir.resolve("train.txt"), text);
        String yaml = String.join("\n", "model: bundled", "data:", "  format: text", "  train: '" + train + "'",
                "objective: lm", "batch_size: 2", "max_length: 16", "steps: 2", "device: cpu",
                "out: '" + dir.resolve("run") + "'", "");
        return Files.writeString(dir.resolve("run.yaml"), yaml);
    }

    @Test
    void impossibleWorkerSettingsAreOneLineExit2() throws IOException {
        String cfg = config().toString();
        CliRun.of("train", "--config", cfg, "--workers", "0").assertUsageError("parallel.workers", ">= 1");
        CliRun.of("train", "--config", cfg, "--workers", "3").assertUsageError("parallel.workers 3", "batch_size 2");
        CliRun.of("train", "--config", cfg, "--workers", "2", "--device", "cuda").assertUsageError(
                "parallel.workers 2", "CPU");
        CliRun.of("train", "--config", cfg, "--workers", "2", "--set", "parallel.worker_timeout=0").assertUsageError(
                "parallel.worker_timeout", "> 0");
        // a timeout no collective can meet was accepted and its failure message read "within 0.0 s"
        CliRun.of("train", "--config", cfg, "--workers", "2", "--set", "parallel.worker_timeout=1e-300")
                .assertUsageError("parallel.worker_timeout", "at least 0.001", "1.0E-300");
        org.junit.jupiter.api.Assertions.assertFalse(Files.exists(dir.resolve("run")), "nothing written");
    }

    @Test
    void twoWorkersTrain() throws IOException {
        CliRun r = CliRun.of("train", "--config", config().toString(), "--workers", "2", "--no-progress");
        org.junit.jupiter.api.Assertions.assertEquals(0, r.code(), r.err());
        org.junit.jupiter.api.Assertions.assertTrue(Files.exists(dir.resolve("run/summary.json")), r.err());
    }
}
