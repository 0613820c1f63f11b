package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * parallel section values that pass the binder but cannot run: more CPU replicas than the JVM heap holds ended in an
 * OutOfMemoryError that killed the process (issue 16); now one line naming the key before anything is written.
 */
class ParallelStrictnessTest {
    @TempDir
    Path dir;

    @Test
    void moreReplicasThanTheHeapHoldsIsOneLineBeforeAnythingIsWritten() throws IOException {
        Path train = Files.writeString(dir.resolve("train.txt"), "It is a truth universally acknowledged. ".repeat(40));
        Path cfg = Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: bundled", "data:",
                "  format: text", "  train: '" + train + "'", "objective: lm", "batch_size: 2", "max_length: 16",
                "steps: 2", "device: cpu", "out: '" + dir.resolve("run") + "'", ""));
        // the bundled model's ~1 MiB of weights times 100,000 replicas is far beyond any test heap
        CliRun.of("train", "--config", cfg.toString(), "--workers", "100000", "--set", "parallel.split=samples",
                "--set", "q=100000").assertUsageError("parallel.workers 100000", "heap", "-Xmx");
        Path run = dir.resolve("run");
        if (Files.isDirectory(run)) {
            try (var s = Files.list(run)) {
                assertEquals(List.of(), s.filter(p -> !p.getFileName().toString().equals(".zotune.lock")).toList());
            }
        }
    }
}
