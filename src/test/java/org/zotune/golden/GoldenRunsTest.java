package org.zotune.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;

/**
 * Today's training runs (losses, g, η, evaluations, trajectories, final / resumed / replayed weights) are bit for
 * bit the ones recorded before the engine redesign ({@link GoldenRuns}), on the CPU and, on a GPU host, on CUDA.
 */
class GoldenRunsTest {
    @TempDir
    Path dir;

    @Test
    void cpuRunsAreBitwiseTheRecordedOnes() throws IOException {
        compare("cpu");
    }

    @Test
    @Tag("gpu")
    void cudaRunsAreBitwiseTheRecordedOnes() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        compare("cuda");
    }

    private void compare(String device) throws IOException {
        JsonNode expected;
        try (InputStream in = getClass().getResourceAsStream("/golden/runs-" + device + ".json")) {
            Assumptions.assumeTrue(in != null, "no golden record for " + device);
            expected = new ObjectMapper().readTree(in);
        }
        JsonNode actual = GoldenRuns.record(device, dir);
        for (GoldenRuns.Case c : GoldenRuns.CASES) {
            JsonNode e = expected.path("cases").path(c.name());
            JsonNode a = actual.path("cases").path(c.name());
            assertEquals(e.path("metrics").toString(), a.path("metrics").toString(), c.name() + ": metrics");
            assertEquals(e.path("trajectory").toString(), a.path("trajectory").toString(), c.name() + ": trajectory");
            for (String w : new String[] {"weights", "resumed_weights", "replayed_weights"}) {
                assertEquals(e.path(w).asText(), a.path(w).asText(), c.name() + ": " + w);
            }
        }
        assertEquals(GoldenRuns.CASES.size(), expected.path("cases").size(), "cases recorded");
    }
}
