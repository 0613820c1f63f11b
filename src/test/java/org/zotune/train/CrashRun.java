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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.run.RunFolder;

/**
 * One run of the crash matrix (CrashMatrixTest, CrashMatrixPeftTest): {@code zotune train --config CONFIG} in a child
 * JVM, halted inside an atomic write through {@link AtomicFiles}' test-only crash point or killed after a step (a dfo
 * run: a generation) held by {@link Trainer}'s, then continued as a user would and compared with the uninterrupted
 * run's {@link Outcome}. It records every point it halted at, so that a matrix can check that it reached every write.
 */
final class CrashRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How a killed run is continued. */
    enum Then {
        /** --resume (a checkpoint exists). */
        RESUME,
        /** --resume is refused (no checkpoint yet), the same command again starts it (nothing of it was kept). */
        RERUN,
        /** --resume is refused (no checkpoint yet), --overwrite replaces the started run. */
        OVERWRITE
    }

    private final Path configFile;
    private final Path out;
    private final String stepType;
    /** Every point this run halted at, as PATH#K. */
    private final List<String> points = new ArrayList<>();

    /**
     * @param stepType the "type" of metrics.jsonl's per-step records ("train"; a dfo run's generations: "dfo")
     */
    CrashRun(Path configFile, Path out, String stepType) {
        this.configFile = configFile;
        this.out = out;
        this.stepType = stepType;
    }

    /** Runs the config uninterrupted in a child JVM; returns what it left and empties the out folder. */
    Outcome uninterrupted() throws Exception {
        run("the uninterrupted run", 0);
        Outcome o = Outcome.of(out, stepType);
        deleteTree(out);
        return o;
    }

    void crashAtWrite(String point, Then then, Outcome expected) throws Exception {
        halt(point);
        continueAndCompare(point, then, expected);
    }

    /**
     * Halts the run at {@code point}, then each --resume at the next of {@code resumePoints} (a crash while
     * recovering from a crash), then resumes to the end and compares.
     */
    void crashAtWrites(Outcome expected, String point, String... resumePoints) throws Exception {
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
     * The points reach every file the uninterrupted run wrote through {@link AtomicFiles} (all but the lock and the
     * appended JSON Lines files, whose atomic rewrites on --resume are points of their own): a write added to a run
     * without a point fails the matrix. A point names a file as AtomicFiles matches it: its path ends with the
     * point's path, compared by whole names.
     */
    void assertEveryWriteIsAPoint(List<String> files) {
        List<String> jsonl = new ArrayList<>();
        for (String f : files) {
            if (f.equals(".zotune.lock")) {
                continue;
            }
            if (f.endsWith(".jsonl")) {
                jsonl.add(f);
                continue;
            }
            // checkpoint/step-6/state.json is reached as state.json#K
            assertTrue(points.stream().map(p -> Path.of(p.substring(0, p.lastIndexOf('#'))))
                    .anyMatch(out.resolve(f)::endsWith), f + ": no crash point halts inside this write (points: "
                    + points + ")");
        }
        assertTrue(jsonl.contains(RunFolder.METRICS), RunFolder.METRICS);
        for (String f : jsonl) {
            assertTrue(points.contains(f + "#1"), f + ": its rewrite on --resume has no crash point");
        }
    }

    void killAfterStep(int step, Then then, Outcome expected) throws Exception {
        Process p = zotune("-Dzotune.test.holdAfterStep=" + step);
        Path metrics = out.resolve(RunFolder.METRICS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (stepLines(metrics) < step) {
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
        Outcome got = Outcome.of(out, stepType);
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

    private long stepLines(Path metrics) throws IOException {
        if (!Files.isRegularFile(metrics)) {
            return 0;
        }
        // a line being appended may be cut off: count whole lines only
        String s = Files.readString(metrics, StandardCharsets.UTF_8);
        String type = "\"type\":\"" + stepType + "\"";
        return s.substring(0, s.lastIndexOf('\n') + 1).lines().filter(l -> l.contains(type)).count();
    }

    private static long temporaryFiles(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(AtomicFiles::isTemporary).count();
        }
    }

    static void deleteTree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.delete(p);
            }
        }
    }

    /**
     * What a run leaves that must not depend on where it was killed: metrics.jsonl's per-step records and its other
     * records (evaluations), each without its wall time "elapsed_s"; summary.json but its "seconds"; the list of
     * files; and the bytes of every other file (checkpoints, exports, trajectory, plots) but the lock and
     * report.html, which show wall times too.
     */
    record Outcome(List<JsonNode> steps, List<JsonNode> evals, JsonNode summary, List<String> files,
            Map<String, byte[]> bytes) {
        private static final Set<String> NOT_BITWISE = Set.of(".zotune.lock", RunFolder.METRICS, RunFolder.SUMMARY,
                "report.html");

        static Outcome of(Path out, String stepType) throws IOException {
            List<JsonNode> steps = new ArrayList<>();
            List<JsonNode> evals = new ArrayList<>();
            for (String line : Files.readAllLines(out.resolve(RunFolder.METRICS))) {
                ObjectNode o = (ObjectNode) JSON.readTree(line);
                o.remove("elapsed_s"); // wall time
                (o.path("type").asText().equals(stepType) ? steps : evals).add(o);
            }
            ObjectNode summary = (ObjectNode) JSON.readTree(out.resolve(RunFolder.SUMMARY).toFile());
            summary.remove("seconds");
            List<String> files;
            try (Stream<Path> s = Files.walk(out)) {
                files = s.filter(Files::isRegularFile).map(p -> out.relativize(p).toString().replace('\\', '/'))
                        .sorted().toList();
            }
            Map<String, byte[]> bytes = new LinkedHashMap<>();
            for (String f : files) {
                if (!NOT_BITWISE.contains(f)) {
                    bytes.put(f, Files.readAllBytes(out.resolve(f)));
                }
            }
            return new Outcome(steps, evals, summary, files, bytes);
        }

        /** The file {@code name}'s bytes. */
        byte[] file(String name) {
            byte[] b = bytes.get(name);
            assertTrue(b != null, name + " is not among the run's files " + files);
            return b;
        }

        void assertSame(Outcome got, String point) {
            assertEquals(steps, got.steps, point + ": per-step records of metrics.jsonl");
            assertEquals(evals, got.evals, point + ": evaluations");
            assertEquals(summary, got.summary, point + ": summary.json");
            assertEquals(files, got.files, point + ": the run folder's files");
            for (Map.Entry<String, byte[]> e : bytes.entrySet()) {
                assertArrayEquals(e.getValue(), got.bytes.get(e.getKey()), point + ": " + e.getKey());
            }
            assertFalse(got.steps.isEmpty());
        }
    }
}
