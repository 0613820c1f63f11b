package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TensorDigests;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.optim.StepEvaluation;
import org.zotune.zo.optim.ZoStep;

/**
 * The trajectory format: version 2 lines as written, and version 1 files (trajectory-v1.jsonl: bundled
 * stories260K, zo-adam in place with weight decay, q = 2, 4 steps on the CPU, written by the trainer before the step
 * result became a list of evaluations) still read and replay to the weights that run trained, the same as their
 * version 2 rewrite.
 */
class TrajectoryTest {
    /** SHA-256 (name, dtype, shape, bytes per tensor in parameter order) of the weights the v1 run trained. */
    private static final String V1_RUN_WEIGHTS = "f6fd5d87d75cc31a8baae0dacdb7a68ceba2edfa8d0022e8f333c003aac5079a";

    @TempDir
    Path dir;

    @Test
    void versionTwoLineListsTheSamples() {
        ZoStep.Result r = new ZoStep.Result(3, new float[] {2.5f, 1f}, new float[] {1.5f, 3f},
                new float[] {19.985914f, -12.212514f}, false);
        ZoEngine.StepResult s = ZoEngine.StepResult.of(r, -5454471314477219687L, 7.5e-5f);
        assertEquals("{\"t\":3,\"seed\":-5454471314477219687,\"lr\":7.5E-5,\"skipped\":false,\"samples\":["
                + "{\"stream\":0,\"g\":19.985914,\"g_bits\":\"419fe327\"},"
                + "{\"stream\":1,\"g\":-12.212514,\"g_bits\":\"c1436675\"}]}", Trajectory.line(s));
        // the SPSA views of the result are what the metrics write
        assertEquals(2f, s.loss());
        assertArrayEquals(new float[] {2.5f, 1f}, s.lossPlus());
        assertArrayEquals(new float[] {1.5f, 3f}, s.lossMinus());
        assertArrayEquals(new float[] {19.985914f, -12.212514f}, s.projectedGradient());
        assertEquals(List.of(new StepEvaluation.SpsaSample(0, 2.5f, 1.5f, 19.985914f),
                new StepEvaluation.SpsaSample(1, 1f, 3f, -12.212514f)), s.evaluations());
    }

    @Test
    void versionOneFileReplaysToTheTrainedWeightsAndEqualsItsVersionTwoRewrite() throws IOException {
        Path v1 = fixture();
        Trajectory.Read one = Trajectory.read(v1);
        assertEquals(4, one.steps().size());
        assertEquals(new Trajectory.Step(1, 6597687350011101040L, List.of(new Trajectory.Sample(0,
                Float.intBitsToFloat(0x419fe327)), new Trajectory.Sample(1, Float.intBitsToFloat(0xc1436675))),
                1e-4f, false), one.steps().get(0));

        Path v2 = dir.resolve("trajectory-v2.jsonl");
        List<String> lines = new ArrayList<>();
        lines.add(Trajectory.header(one.config(), one.parameters()));
        for (Trajectory.Step s : one.steps()) {
            float[] g = s.g();
            lines.add(Trajectory.line(new ZoEngine.StepResult(s.t(), s.seed(), StepEvaluation.SpsaSample.of(
                    new float[g.length], new float[g.length], g), s.lr(), s.skipped())));
        }
        Files.write(v2, lines);
        assertTrue(lines.get(0).contains("\"version\":2"), lines.get(0));
        assertTrue(lines.get(1).contains("\"samples\":[{\"stream\":0,"), lines.get(1));
        Trajectory.Read two = Trajectory.read(v2);
        assertEquals(one.steps(), two.steps());
        assertEquals(one.parameters(), two.parameters());
        assertEquals(one.config(), two.config());

        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        List<HostTensor> fromOne = Replay.run(base, one);
        List<HostTensor> fromTwo = Replay.run(base, two);
        assertEquals(V1_RUN_WEIGHTS, digest(fromOne));
        assertEquals(V1_RUN_WEIGHTS, digest(fromTwo));
    }

    @Test
    void aVersionOneRunResumedByThisVersionReadsBothLayouts() throws IOException {
        List<String> v1 = Files.readAllLines(fixture());
        Trajectory.Read whole = Trajectory.read(fixture());
        Path mixed = dir.resolve("mixed.jsonl");
        List<String> lines = new ArrayList<>(v1.subList(0, 3)); // header, steps 1-2 as version 1 wrote them
        for (Trajectory.Step s : whole.steps().subList(2, 4)) {
            float[] g = s.g();
            lines.add(Trajectory.line(new ZoEngine.StepResult(s.t(), s.seed(), StepEvaluation.SpsaSample.of(g, g, g),
                    s.lr(), s.skipped())));
        }
        Files.write(mixed, lines);
        assertEquals(whole.steps(), Trajectory.read(mixed).steps());
    }

    @Test
    void badFilesAreOneLine() throws IOException {
        List<String> v1 = Files.readAllLines(fixture());
        String header2 = v1.get(0).replace("\"version\":1", "\"version\":2");
        String header3 = v1.get(0).replace("\"version\":1", "\"version\":3");
        assertFalse(header3.equals(v1.get(0)));
        bad(List.of(header3), "version 3 is not one this zotune reads (1 to 2)");
        bad(List.of(header2, "{\"t\":1,\"seed\":5,\"lr\":0.1,\"skipped\":false,\"samples\":[]}"),
                ":2: samples must be a non-empty array");
        bad(List.of(header2, "{\"t\":1,\"seed\":5,\"lr\":0.1,\"skipped\":false,\"samples\":[{\"stream\":1,"
                + "\"g\":1.0,\"g_bits\":\"3f800000\"}]}"), ":2: samples[0] has stream 1");
        bad(List.of(header2, "{\"t\":1,\"seed\":5,\"lr\":0.1,\"skipped\":false,\"samples\":[{\"stream\":0,"
                + "\"g\":1.0,\"g_bits\":\"xyz\"}]}"), ":2: samples[0].g_bits is not 8 hex digits");
        bad(List.of(header2, "{\"t\":1,\"seed\":5,\"lr\":0.1,\"skipped\":false,\"samples\":[{\"g\":1.0}]}"),
                ":2: samples[0] needs stream and g_bits");
        bad(List.of(header2, "{\"t\":1,\"seed\":5,\"lr\":0.1}"), ":2: a step needs t, seed and samples");
        bad(List.of(v1.get(0), "{\"t\":1,\"seed\":5,\"g_bits\":[\"3f80\",\"q\"],\"lr\":0.1}"),
                ":2: g_bits[1] is not 8 hex digits");
        bad(List.of(v1.get(0), v1.get(2)), ":2: step 2 where step 1 was expected");
    }

    /** Objective head's key: written only when given, read back, and a broken one is one line naming the file. */
    @Test
    void theHeadKeyRoundTripsAndABrokenOneIsOneLine() throws IOException {
        Trajectory.Read one = Trajectory.read(fixture());
        assertEquals(null, one.head(), "a run without a head records none");
        assertFalse(Trajectory.header(one.config(), one.parameters()).contains("\"head\":{\"labels\""));
        String digest = "sha256:" + "0123456789abcdef".repeat(4);
        String header = Trajectory.header(one.config(), one.parameters(), null, new Trajectory.Head(
                List.of("neg", "pos"), digest));
        List<String> v1 = Files.readAllLines(fixture());
        Path f = Files.write(dir.resolve("head.jsonl"), List.of(header, v1.get(1)));
        Trajectory.Read read = Trajectory.read(f);
        assertEquals(new Trajectory.Head(List.of("neg", "pos"), digest), read.head());
        assertEquals(f, read.file());
        assertEquals("trajectory " + f, read.where());
        bad(List.of(header.replace("[\"neg\",\"pos\"]", "[\"neg\"]"), v1.get(1)),
                ":1: key 'head' needs labels (at least 2) and start_weights");
        bad(List.of(header.replace("[\"neg\",\"pos\"]", "[\"neg\",3]"), v1.get(1)),
                ":1: key 'head': labels must be strings, got 3");
        bad(List.of(header.replace(digest, "sha256:12"), v1.get(1)),
                ":1: key 'head': start_weights is not sha256: and 64 hex digits");
    }

    private void bad(List<String> lines, String message) throws IOException {
        Path f = dir.resolve("bad.jsonl");
        Files.write(f, lines);
        ZotuneException e = assertThrows(ZotuneException.class, () -> Trajectory.read(f));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertTrue(e.getMessage().startsWith("trajectory " + f), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    private Path fixture() throws IOException {
        Path f = dir.resolve("trajectory-v1.jsonl");
        if (!Files.exists(f)) {
            try (InputStream in = getClass().getResourceAsStream("/org/zotune/train/trajectory-v1.jsonl")) {
                Files.write(f, in.readAllBytes());
            }
        }
        return f;
    }

    private static String digest(List<HostTensor> tensors) {
        return TensorDigests.sha256(tensors);
    }
}
