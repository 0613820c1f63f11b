package org.zotune.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.train.Trajectory;

/**
 * Today's training runs (losses, g, η, evaluations, trajectories, final / resumed / replayed weights) are bit for
 * bit the ones recorded before the engine redesign ({@link GoldenRuns}), on the CPU and, on a GPU host, on CUDA.
 * The trajectories are compared step by step as {@link Trajectory#read} reads them (the record is version 1).
 */
class GoldenRunsTest {
    @TempDir
    Path dir;

    @Test
    void cpuRunsAreBitwiseTheRecordedOnes() throws IOException {
        compare("cpu", null);
    }

    @Test
    @Tag("gpu")
    void cudaRunsAreBitwiseTheRecordedOnes() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        // bitwise against a run recorded with the exact noise: GoldenRuns's CUDA runs request noise: exact (the
        // default, auto, is the fast noise on CUDA); the record itself is unchanged
        compare("cuda", a.deviceName());
    }

    /**
     * @param gpu the GPU's name, or null: a CUDA record holds on the GPU model it was recorded on (cuBLAS picks its
     *            kernels per model, so another GPU may round differently)
     */
    private void compare(String device, String gpu) throws IOException {
        JsonNode expected;
        try (InputStream in = getClass().getResourceAsStream("/golden/runs-" + device + ".json")) {
            Assumptions.assumeTrue(in != null, "no golden record for " + device);
            expected = new ObjectMapper().readTree(in);
        }
        if (gpu != null) {
            String recorded = expected.path("gpu").asText();
            Assumptions.assumeTrue(recorded.equals(gpu), "the golden CUDA runs were recorded on " + recorded
                    + ", this GPU is " + gpu + " (record them here with GoldenRuns of the pre-redesign build)");
        }
        JsonNode actual = GoldenRuns.record(device, dir);
        for (GoldenRuns.Case c : GoldenRuns.CASES) {
            JsonNode e = expected.path("cases").path(c.name());
            JsonNode a = actual.path("cases").path(c.name());
            assertEquals(e.path("metrics").toString(), a.path("metrics").toString(), c.name() + ": metrics");
            assertEquals(recordedSteps(c, e.path("trajectory")), writtenSteps(c), c.name() + ": trajectory");
            for (String w : new String[] {"weights", "resumed_weights", "replayed_weights"}) {
                assertEquals(e.path(w).asText(), a.path(w).asText(), c.name() + ": " + w);
            }
        }
        assertEquals(GoldenRuns.CASES.size(), expected.path("cases").size(), "cases recorded");
    }

    /**
     * The record holds version 1 trajectory lines and today's runs write version 2 (Trajectory's javadoc), so the
     * trajectories are compared as read back: per step t, the seed, η's bits, skipped and every sample's stream and
     * g bits. The recorded lines are read under the header of the run just written (the same config).
     */
    private List<String> recordedSteps(GoldenRuns.Case c, JsonNode recordedLines) throws IOException {
        List<String> file = new ArrayList<>();
        file.add(Files.readAllLines(written(c)).get(0));
        recordedLines.forEach(n -> file.add(n.toString()));
        Path recorded = dir.resolve(c.name() + "-recorded-trajectory.jsonl");
        Files.write(recorded, file);
        return steps(Trajectory.read(recorded));
    }

    private List<String> writtenSteps(GoldenRuns.Case c) {
        return steps(Trajectory.read(written(c)));
    }

    private Path written(GoldenRuns.Case c) {
        return dir.resolve(c.name()).resolve("a").resolve("trajectory.jsonl");
    }

    private static List<String> steps(Trajectory.Read r) {
        List<String> out = new ArrayList<>();
        for (Trajectory.Step s : r.steps()) {
            StringBuilder b = new StringBuilder().append(s.t()).append(' ').append(s.seed()).append(" lr ")
                    .append(Integer.toHexString(Float.floatToRawIntBits(s.lr()))).append(" skipped ")
                    .append(s.skipped());
            for (Trajectory.Sample x : s.samples()) {
                b.append(" stream ").append(x.stream()).append(" g ")
                        .append(Integer.toHexString(Float.floatToRawIntBits(x.g())));
            }
            out.add(b.toString());
        }
        return out;
    }
}
