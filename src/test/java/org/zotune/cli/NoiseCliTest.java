package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * zotune train --noise auto|exact|fast (key noise) and replay through the command line: a bad value and fast on the
 * CPU are one line and exit 2 before anything is written; --noise exact is recorded in run.json; a fast-noise
 * trajectory replayed with --device cpu is one line saying it needs CUDA.
 */
class NoiseCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private Path config() throws IOException {
        Path rows = dir.resolve("d.jsonl");
        Files.writeString(rows, "{\"text\": \"the cat sat on the mat\", \"label\": \"pos\"}\n"
                + "{\"text\": \"the dog ran away\", \"label\": \"neg\"}\n");
        Path cfg = dir.resolve("run.yaml");
        Files.writeString(cfg, String.join("\n", "model: bundled", "data:", "  format: jsonl",
                "  train: '" + rows + "'", "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: terrible}", "steps: 2", "batch_size: 2", "max_length: 48",
                "device: cpu", "out: '" + dir.resolve("out") + "'", ""));
        return cfg;
    }

    @Test
    void badValuesAndFastOnTheCpuAreOneLine() throws IOException {
        Path cfg = config();
        CliRun.of("train", "--config", cfg.toString(), "--noise", "sometimes", "--no-progress")
                .assertUsageError("noise", "'sometimes'", "auto, exact, fast");
        CliRun.of("train", "--config", cfg.toString(), "--noise", "fast", "--no-progress")
                .assertUsageError("key 'noise': fast is the CUDA engine's noise; device cpu has the exact noise only");
        assertFalse(Files.exists(dir.resolve("out")), "a refused config created the run folder");
    }

    @Test
    void theFlagIsRecordedAndAFastTrajectoryReplaysOnCudaOnly() throws IOException {
        Path cfg = config();
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--noise", "exact", "--no-progress");
        assertEquals(0, r.code(), r.err());
        Path out = dir.resolve("out");
        assertEquals("exact", JSON.readTree(out.resolve("run.json").toFile()).path("noise").asText());
        // the header as a CUDA run with noise auto writes it
        List<String> lines = new ArrayList<>(Files.readAllLines(out.resolve("trajectory.jsonl")));
        ObjectNode h = (ObjectNode) JSON.readTree(lines.get(0));
        assertEquals("exact", h.path("config").path("noise").asText());
        ((ObjectNode) h.get("config")).put("noise", "fast").put("device", "cuda");
        lines.set(0, h.toString());
        Path fast = dir.resolve("fast-trajectory.jsonl");
        Files.write(fast, lines);
        CliRun.of("replay", "--base", "bundled", "--trajectory", fast.toString(), "--out",
                dir.resolve("replayed").toString()).assertUsageError("replay: trajectory " + fast,
                "fast noise (noise fast)", "needs CUDA (--device cuda)");
        assertFalse(Files.exists(dir.resolve("replayed").resolve("model.safetensors")));
    }
}
