package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.io.AtomicFiles;

/**
 * The crash matrix (issue 16, part 5) on the CPU: the real CLI trains the bundled model in a child JVM that is
 * killed at chosen points (after a step with {@link Process#destroyForcibly}, inside an atomic write, between the
 * final checkpoint and summary.json, through the test-only crash points of {@link AtomicFiles} and
 * {@link Trainer}); the run is then continued as a user would (--resume, or a rerun when no checkpoint exists) and
 * every loss of metrics.jsonl, the trajectory, the final and best weights' bytes, summary.json (but its "seconds")
 * and the list of files must equal those of an uninterrupted run. The halts inside writes reach every atomic write
 * the run makes (checked against the files it leaves), including the rewrites of metrics.jsonl and trajectory.jsonl
 * by --resume, where the resume itself is halted. scripts/crash-matrix.sh kills at random points for longer.
 */
class CrashMatrixTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    private Path out;
    private Path configFile;
    /** Every point this matrix halted at, as PATH#K. */
    private final List<String> points = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 6000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1500);
        out = dir.resolve("run");
        // zo-adam: optimizer state in each checkpoint; a dev set: best/ exports and evaluations between checkpoints
        String yaml = TrainRuns.yaml(train, dev, out, "optimizer:", "  name: zo-adam", "  lr: 0.001", "steps: 6",
                "eval_every: 2");
        configFile = dir.resolve("run.yaml");
        Files.writeString(configFile, yaml);
    }

    /** How a killed run is continued. */
    private enum Then {
        /** --resume (a checkpoint exists). */
        RESUME,
        /** --resume is refused (no checkpoint yet), the same command again starts it (nothing of it was kept). */
        RERUN,
        /** --resume is refused (no checkpoint yet), --overwrite replaces the started run. */
        OVERWRITE
    }

    @Test
    void everyKilledRunContinuesToTheUninterruptedResult() throws Exception {
        TrainRuns.train(TrainRuns.config(Files.readString(configFile)), TrainRuns.quiet());
        Outcome expected = Outcome.of(out);
        assertEquals(6, expected.trainLosses().size());
        deleteTree(out);

        // inside the marker's and run.json's writes: the start itself was interrupted
        crashAtWrite("zotune-run.json#1", Then.RERUN, expected);
        crashAtWrite("run.json#1", Then.RERUN, expected);
        // killed after step 1 (before the first checkpoint) and after step 3 (checkpoint at 2, logged past it)
        killAfterStep(1, Then.OVERWRITE, expected);
        killAfterStep(3, Then.RESUME, expected);
        // inside the first best/ export (step 2, before its checkpoint), inside checkpoint writes (the pointer, the final parameters)
        crashAtWrite("best/model.safetensors#1", Then.OVERWRITE, expected);
        crashAtWrite("latest.json#2", Then.RESUME, expected);
        crashAtWrite("params.safetensors#3", Then.RESUME, expected);
        // the final model's export, between the final checkpoint and summary.json, inside report.html's write
        crashAtWrite("model/model.safetensors#1", Then.RESUME, expected);
        crashAtWrite("summary.json#1", Then.RESUME, expected);
        crashAtWrite("report.html#1", Then.RESUME, expected);

        // the other atomic writes; a chain halts the run, then each --resume in turn, then resumes to the end
        String tokenizer = BundledModel.get().tokenizer().getFileName().toString();
        // the optimizer state of the first checkpoint (none complete yet); the step-4 checkpoint's state.json, then
        // the resumes' rewrites of metrics.jsonl and trajectory.jsonl past the step-2 checkpoint (RunFolder#truncate)
        crashAtWrite("optimizer.safetensors#1", Then.OVERWRITE, expected);
        crashAtWrites(expected, "state.json#2", "metrics.jsonl#1", "trajectory.jsonl#1");
        // the rest of the best/ export (step 4's, then the resumed run's step-4 one) and of the final model/ export;
        // the plot after report.html where this Java draws plots
        crashAtWrites(expected, "best/config.json#2", "best/" + tokenizer + "#1");
        List<String> last = new ArrayList<>(List.of("model/" + tokenizer + "#1"));
        if (ModuleLayer.boot().findModule("java.desktop").isPresent()) {
            last.add("plots/loss.png#1");
        }
        crashAtWrites(expected, "model/config.json#1", last.toArray(String[]::new));
        assertEveryWriteIsAPoint(expected.files());
    }

    private void crashAtWrite(String point, Then then, Outcome expected) throws Exception {
        halt(point);
        continueAndCompare(point, then, expected);
    }

    /**
     * Halts the run at {@code point}, then each --resume at the next of {@code resumePoints} (a crash while
     * recovering from a crash), then resumes to the end and compares.
     */
    private void crashAtWrites(Outcome expected, String point, String... resumePoints) throws Exception {
        halt(point);
        String chain = point;
        for (String r : resumePoints) {
            chain += ", --resume halted at " + r;
            halt(r, "--resume");
        }
        continueAndCompare(chain, Then.RESUME, expected);
    }

    private void halt(String point, String... flags) throws Exception {
        points.add(point);
        Process p = zotune("-Dzotune.test.haltAtWrite=" + point, flags);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), point);
        assertEquals(AtomicFiles.HALT_STATUS, p.exitValue(), point + ": the crash point was not reached");
        assertTrue(temporaryFiles(out) > 0, point + ": a halt inside a write leaves its temporary file");
    }

    /**
     * The matrix reaches every file the uninterrupted run wrote through {@link AtomicFiles} (all but the lock and the
     * appended JSON Lines files, whose atomic rewrites on --resume are points of their own): a write added to a run
     * without a point here fails this test.
     */
    private void assertEveryWriteIsAPoint(List<String> files) {
        for (String f : files) {
            if (f.equals(".zotune.lock") || f.endsWith(".jsonl")) {
                continue;
            }
            // checkpoint/step-6/state.json is reached as state.json#K
            assertTrue(points.stream().map(p -> p.substring(0, p.lastIndexOf('#'))).anyMatch(f::endsWith),
                    f + ": no crash point halts inside this write (points: " + points + ")");
        }
        for (String jsonl : new String[] {"metrics.jsonl", "trajectory.jsonl"}) {
            assertTrue(files.contains(jsonl), jsonl);
            assertTrue(points.contains(jsonl + "#1"), jsonl + ": its rewrite on --resume has no crash point");
        }
    }

    private void killAfterStep(int step, Then then, Outcome expected) throws Exception {
        Process p = zotune("-Dzotune.test.holdAfterStep=" + step);
        Path metrics = out.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (trainLines(metrics) < step) {
            assertTrue(p.isAlive(), "step " + step + ": the child ended before it was killed");
            assertTrue(System.nanoTime() < deadline, "step " + step + " was not reached");
            Thread.sleep(20);
        }
        p.destroyForcibly();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertTrue(p.exitValue() != 0);
        continueAndCompare("killed after step " + step, then, expected);
    }

    private void continueAndCompare(String point, Then then, Outcome expected) throws Exception {
        if (then == Then.RESUME) {
            run(point, 0, "--resume");
        } else {
            String err = run(point, 2, "--resume");
            // one error line, no stack trace (stderr also has the "run folder:" line)
            assertEquals(List.of("zotune: --resume: out folder " + out + " holds no checkpoint to resume"),
                    err.lines().filter(l -> l.startsWith("zotune:") || l.startsWith("\tat ")).toList(), point);
            if (then == Then.RERUN) {
                run(point, 0);
            } else {
                run(point, 0, "--overwrite");
            }
        }
        Outcome got = Outcome.of(out);
        expected.assertSame(got, point);
        assertEquals(0, temporaryFiles(out), point + ": temporary files survive the continued run");
        deleteTree(out);
    }

    /** Runs the CLI to its end; returns its stderr. */
    private String run(String point, int exitCode, String... flags) throws Exception {
        Process p = zotune(null, flags);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8); // until it ends
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), point);
        assertEquals(exitCode, p.exitValue(), point + " " + String.join(" ", flags) + ": " + err);
        return err;
    }

    private Process zotune(String property, String... flags) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-XX:TieredStopAtLevel=1"); // short runs: the JIT's top tier would not pay off
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        if (property != null) {
            cmd.add(property);
        }
        cmd.addAll(List.of("org.zotune.cli.Main", "train", "--config", configFile.toString(), "--no-progress"));
        cmd.addAll(List.of(flags));
        ProcessBuilder b = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        if (property != null) {
            b.redirectError(ProcessBuilder.Redirect.DISCARD);
        }
        return b.start();
    }

    private static long trainLines(Path metrics) throws IOException {
        if (!Files.isRegularFile(metrics)) {
            return 0;
        }
        // a line being appended may be cut off: count whole lines only
        String s = Files.readString(metrics, StandardCharsets.UTF_8);
        return s.substring(0, s.lastIndexOf('\n') + 1).lines().filter(l -> l.contains("\"type\":\"train\"")).count();
    }

    private static long temporaryFiles(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(AtomicFiles::isTemporary).count();
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.delete(p);
            }
        }
    }

    /** What a run leaves that must not depend on where it was killed. */
    private record Outcome(List<JsonNode> trainLosses, List<JsonNode> evals, String trajectory, byte[] model,
            byte[] best, JsonNode summary, List<String> files) {
        static Outcome of(Path out) throws IOException {
            List<JsonNode> train = new ArrayList<>();
            List<JsonNode> evals = new ArrayList<>();
            for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
                ObjectNode o = (ObjectNode) JSON.readTree(line);
                o.remove("elapsed_s"); // wall time
                (o.path("type").asText().equals("train") ? train : evals).add(o);
            }
            ObjectNode summary = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
            summary.remove("seconds");
            List<String> files;
            try (Stream<Path> s = Files.walk(out)) {
                files = s.filter(Files::isRegularFile).map(p -> out.relativize(p).toString().replace('\\', '/'))
                        .sorted().toList();
            }
            return new Outcome(train, evals, Files.readString(out.resolve("trajectory.jsonl")),
                    Files.readAllBytes(out.resolve("model/model.safetensors")),
                    Files.readAllBytes(out.resolve("best/model.safetensors")), summary, files);
        }

        void assertSame(Outcome got, String point) {
            assertEquals(trainLosses, got.trainLosses, point + ": train losses");
            assertEquals(evals, got.evals, point + ": evaluations");
            assertEquals(trajectory, got.trajectory, point + ": trajectory.jsonl");
            assertArrayEquals(model, got.model, point + ": model/model.safetensors");
            assertArrayEquals(best, got.best, point + ": best/model.safetensors");
            assertEquals(summary, got.summary, point + ": summary.json");
            assertEquals(files, got.files, point + ": the run folder's files");
            assertFalse(got.trainLosses.isEmpty());
        }
    }
}
