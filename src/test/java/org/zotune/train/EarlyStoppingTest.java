package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.run.MetricsLog;

/** Best-on-dev and early stopping on a run whose weights cannot change (lr 0), so no evaluation improves. */
class EarlyStoppingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void stopsAfterPatienceEvaluationsWithoutImprovement() throws Exception {
        Path out = dir.resolve("run");
        TrainConfig c = config(out);
        Trainer.Summary s = TrainRuns.train(c, TrainRuns.quiet());
        // step 1 is the first candidate (best); steps 2 and 3 are not better; patience 2 stops after step 3
        assertEquals("early-stopping", s.stopped());
        assertEquals(3, s.steps());
        assertEquals(1, s.bestStep());
        assertEquals(s.initialDev().accuracy(), s.bestValue(), 0.0);
        assertTrue(Files.isRegularFile(out.resolve("best/model.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("model/model.safetensors")));
        assertTrue(Files.readString(out.resolve("summary.json")).contains("\"stopped\" : \"early-stopping\""));
    }

    @Test
    void resumingAnEarlyStoppedRunTakesNoStep() throws Exception {
        Path out = dir.resolve("run");
        TrainConfig c = config(out);
        TrainRuns.train(c, TrainRuns.quiet());
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        String trajectory = Files.readString(out.resolve("trajectory.jsonl"));
        byte[] weights = Files.readAllBytes(out.resolve("model/model.safetensors"));
        byte[] best = Files.readAllBytes(out.resolve("best/model.safetensors"));
        ObjectNode summary = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());

        AtomicInteger steps = new AtomicInteger();
        AtomicInteger evals = new AtomicInteger();
        Trainer.Summary s = new Trainer(c, BundledModel.get().model(), BundledModel.get().tokenizer(),
                new Trainer.Options(true, false, 0, false),
                new PrintWriter(new StringWriter())).listener(new MetricsLog.Listener() {
                    @Override
                    public boolean train(ZoEngine.StepResult r, double elapsedSeconds) {
                        steps.incrementAndGet();
                        return false;
                    }

                    @Override
                    public boolean eval(String split, long t, Trainer.Eval e) {
                        evals.incrementAndGet();
                        return false;
                    }
                }).run();
        assertEquals(0, steps.get());
        assertEquals(0, evals.get());
        assertEquals("early-stopping", s.stopped());
        assertEquals(3, s.steps());
        assertEquals(metrics, Files.readString(out.resolve("metrics.jsonl")));
        assertEquals(trajectory, Files.readString(out.resolve("trajectory.jsonl")));
        assertArrayEquals(weights, Files.readAllBytes(out.resolve("model/model.safetensors")));
        assertArrayEquals(best, Files.readAllBytes(out.resolve("best/model.safetensors")));
        ObjectNode again = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
        summary.remove("seconds");
        again.remove("seconds");
        assertEquals(summary, again);
    }

    /**
     * The CLI killed inside summary.json's write (after the early stop's final checkpoint and model/ export), then
     * --resume: the summary says early-stopping, as the uninterrupted run's does (not "completed", not another step).
     */
    @Test
    void anEarlyStoppedRunKilledBeforeItsSummaryResumesToTheSameSummary() throws Exception {
        Path out = dir.resolve("run");
        TrainRuns.train(config(out), TrainRuns.quiet());
        ObjectNode expected = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
        assertEquals("early-stopping", expected.path("stopped").asText());
        Path yaml = Files.writeString(dir.resolve("run.yaml"), yaml(out));

        Process killed = cli(yaml, "-Dzotune.test.haltAtWrite=summary.json#1", "--overwrite");
        assertTrue(killed.waitFor(120, TimeUnit.SECONDS));
        assertEquals(AtomicFiles.HALT_STATUS, killed.exitValue(), "the crash point was not reached");
        assertTrue(Files.isRegularFile(out.resolve("model/model.safetensors")), "killed after the final export");
        assertFalse(Files.isRegularFile(out.resolve("summary.json")), "killed before summary.json");
        String metrics = Files.readString(out.resolve("metrics.jsonl"));

        Process resumed = cli(yaml, null, "--resume");
        String err = new String(resumed.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(resumed.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, resumed.exitValue(), err);
        ObjectNode got = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
        expected.remove("seconds");
        got.remove("seconds");
        assertEquals(expected, got);
        assertEquals(metrics, Files.readString(out.resolve("metrics.jsonl")), "the resume took no step");
    }

    private static Process cli(Path yaml, String property, String flag) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path")));
        if (property != null) {
            cmd.add(property);
        }
        cmd.addAll(List.of("org.zotune.cli.Main", "train", "--config", yaml.toString(), "--no-progress", flag));
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** lr 0 (no evaluation improves), patience 2, up to 10 steps. */
    private TrainConfig config(Path out) throws Exception {
        return TrainRuns.config(yaml(out));
    }

    private String yaml(Path out) throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"text\": \"the cat was happy\", \"label\": \"pos\"}\n"
                + "{\"text\": \"the dog was sad\", \"label\": \"neg\"}\n"
                + "{\"text\": \"a good day\", \"label\": \"pos\"}\n");
        return String.join("\n", "model: bundled", "data:", "  format: jsonl",
                "  train: '" + f + "'", "  dev: '" + f + "'", "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: bad}", "optimizer: {name: zo-sgd, lr: 0}", "steps: 10",
                "eval_every: 1", "early_stopping_patience: 2", "batch_size: 2", "device: cpu", "out: '" + out + "'",
                "");
    }
}
