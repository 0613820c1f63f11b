package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * zotune train --gpus N (key parallel.gpus): settings that cannot run on GPUs are one line, exit 2, before anything is
 * written; on a machine without a usable CUDA device (as in CI) --gpus 2 says so.
 */
class GpusCliTest {
    @TempDir
    Path dir;

    private String config() throws IOException {
        String line = "It is a truth universally acknowledged that a single man in possession of a good fortune. ";
        Path train = Files.writeString(dir.resolve("train.txt"), line.repeat(60));
        String yaml = String.join("\n", "model: bundled", "data:", "  format: text", "  train: '" + train + "'",
                "objective: lm", "batch_size: 2", "max_length: 16", "steps: 2", "device: auto",
                "out: '" + dir.resolve("run") + "'", "");
        return Files.writeString(dir.resolve("run.yaml"), yaml).toString();
    }

    @Test
    void impossibleGpuSettingsAreOneLineExit2() throws IOException {
        String cfg = config();
        CliRun.of("train", "--config", cfg, "--gpus", "0").assertUsageError("parallel.gpus", ">= 1");
        CliRun.of("train", "--config", cfg, "--gpus", "2", "--device", "cpu").assertUsageError("parallel.gpus 2",
                "device cuda");
        CliRun.of("train", "--config", cfg, "--gpus", "2", "--workers", "2").assertUsageError("parallel.gpus 2",
                "parallel.workers 2", "not both");
        CliRun.of("train", "--config", cfg, "--gpus", "3").assertUsageError("parallel.gpus 3", "batch_size 2");
        // the samples split and adapters run on GPUs now; what stays refused is a GPU without an SPSA sample
        CliRun.of("train", "--config", cfg, "--gpus", "2", "--set", "parallel.split=samples", "--set", "q=1")
                .assertUsageError("parallel.gpus 2", "split samples", "q 1", "no SPSA sample");
        assertFalse(Files.exists(dir.resolve("run")), "nothing written");
    }

    @Test
    void withoutAUsableDeviceTwoGpusSaySo() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeFalse(org.zotune.cuda.Cuda.availability().usable(),
                "a CUDA device is usable here (the GPU tests cover --gpus)");
        CliRun.of("train", "--config", config(), "--gpus", "2").assertUsageError("parallel.gpus 2",
                "no usable CUDA device");
        assertFalse(Files.exists(dir.resolve("run")), "nothing written");
    }
}
