package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A config error that only the run itself detects, after run.json and the marker are written (here ε so large that
 * the first step's losses are not finite, with {@code max_bad_steps: 1}), leaves no run behind: the corrected rerun
 * starts in the same out folder without {@code --overwrite}, and {@code --resume} says there is nothing to resume.
 */
class UnstartedRunCliTest {
    @TempDir
    Path dir;

    private Path austen(String name, int chars) throws IOException {
        try (InputStream in = getClass().getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return Files.writeString(dir.resolve(name), s.substring(0, Math.min(chars, s.length())));
        }
    }

    private Path config(Path out, String eps) throws IOException {
        return Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: bundled", "data:",
                "  format: text", "  train: '" + austen("train.txt", 4000) + "'", "  dev: '"
                        + austen("heldout.txt", 1000) + "'", "  max_examples: 16", "objective: lm", "batch_size: 2",
                "max_length: 32", "steps: 2", "device: cpu", "seed: 3", "eps: " + eps, "max_bad_steps: 1",
                "out: '" + out + "'", ""));
    }

    private static List<String> entries(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aRunThatFailsAtItsFirstStepDoesNotBlockTheCorrectedRerun() throws IOException {
        Path out = dir.resolve("run");
        Path cfg = config(out, "1.0e38");
        CliRun failed = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        failed.assertUsageError("zo step 1: the loss was NaN or infinite");
        // the failure came after the run started writing (the initial dev evaluation), yet no run is left
        assertTrue(failed.err().contains("dev at step 0"), failed.err());
        assertEquals(List.of(".zotune.lock"), entries(out), "only the (released) lock file stays");

        CliRun resume = CliRun.of("train", "--config", cfg.toString(), "--no-progress", "--resume");
        resume.assertUsageError("--resume: out folder " + out + " holds no checkpoint to resume");

        config(out, "0.001");
        CliRun rerun = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, rerun.code(), rerun.err());
        assertTrue(Files.isRegularFile(out.resolve("summary.json")), "the corrected rerun completed");
        assertTrue(Files.readString(out.resolve("run.json")).contains("0.001"), "run.json is the corrected config's");
    }
}
