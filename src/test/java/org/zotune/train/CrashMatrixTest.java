package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.CrashRun.Outcome;
import org.zotune.train.CrashRun.Then;

/**
 * The crash matrix (issue 16, part 5) on the CPU: the real CLI trains the bundled model in a child JVM that is
 * killed at chosen points (after a step with {@link Process#destroyForcibly}, inside an atomic write, between the
 * final checkpoint and summary.json, through the test-only crash points of {@link AtomicFiles} and
 * {@link Trainer}); the run is then continued as a user would (--resume, or a rerun when no checkpoint exists) and
 * every loss of metrics.jsonl, the trajectory, the final and best weights' bytes (and every other file's but the
 * lock and report.html), summary.json (but its "seconds") and the list of files must equal those of an uninterrupted
 * run. The halts inside writes reach every atomic write the run makes (checked against the files it leaves),
 * including the rewrites of metrics.jsonl and trajectory.jsonl by --resume, where the resume itself is halted.
 * {@link CrashRun} does the halting and comparing; CrashMatrixPeftTest runs the matrix for adapter and dfo runs.
 * scripts/crash-matrix.sh kills at random points for longer.
 */
class CrashMatrixTest {
    @TempDir
    Path dir;
    private Path out;
    private Path configFile;

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

    @Test
    void everyKilledRunContinuesToTheUninterruptedResult() throws Exception {
        TrainRuns.train(TrainRuns.config(Files.readString(configFile)), TrainRuns.quiet());
        Outcome expected = Outcome.of(out, "train");
        assertEquals(6, expected.steps().size());
        expected.file("model/model.safetensors");
        expected.file("best/model.safetensors");
        expected.file("trajectory.jsonl");
        CrashRun.deleteTree(out);
        CrashRun crash = new CrashRun(configFile, out, "train");

        // inside the marker's and run.json's writes: the start itself was interrupted
        crash.crashAtWrite("zotune-run.json#1", Then.RERUN, expected);
        crash.crashAtWrite("run.json#1", Then.RERUN, expected);
        // killed after step 1 (before the first checkpoint) and after step 3 (checkpoint at 2, logged past it)
        crash.killAfterStep(1, Then.OVERWRITE, expected);
        crash.killAfterStep(3, Then.RESUME, expected);
        // inside the first best/ export (step 2, before its checkpoint), inside checkpoint writes (the pointer, the final parameters)
        crash.crashAtWrite("best/model.safetensors#1", Then.OVERWRITE, expected);
        crash.crashAtWrite("latest.json#2", Then.RESUME, expected);
        crash.crashAtWrite("params.safetensors#3", Then.RESUME, expected);
        // the final model's export, between the final checkpoint and summary.json, inside report.html's write
        crash.crashAtWrite("model/model.safetensors#1", Then.RESUME, expected);
        crash.crashAtWrite("summary.json#1", Then.RESUME, expected);
        crash.crashAtWrite("report.html#1", Then.RESUME, expected);

        // the other atomic writes; a chain halts the run, then each --resume in turn, then resumes to the end
        String tokenizer = BundledModel.get().tokenizer().getFileName().toString();
        // the optimizer state of the first checkpoint (none complete yet); the step-4 checkpoint's state.json, then
        // the resumes' rewrites of metrics.jsonl and trajectory.jsonl past the step-2 checkpoint (RunFolder#truncate)
        crash.crashAtWrite("optimizer.safetensors#1", Then.OVERWRITE, expected);
        crash.crashAtWrites(expected, "state.json#2", "metrics.jsonl#1", "trajectory.jsonl#1");
        // the rest of the best/ export (step 4's, then the resumed run's step-4 one) and of the final model/ export;
        // the plot after report.html where this Java draws plots
        crash.crashAtWrites(expected, "best/config.json#2", "best/" + tokenizer + "#1");
        List<String> last = new ArrayList<>(List.of("model/" + tokenizer + "#1"));
        if (ModuleLayer.boot().findModule("java.desktop").isPresent()) {
            last.add("plots/loss.png#1");
        }
        crash.crashAtWrites(expected, "model/config.json#1", last.toArray(String[]::new));
        crash.assertEveryWriteIsAPoint(expected.files());
    }
}
