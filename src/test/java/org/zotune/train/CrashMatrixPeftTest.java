package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.train.CrashRun.Outcome;
import org.zotune.train.CrashRun.Then;

/**
 * CrashMatrixTest's matrix for the runs that train no full weights: a LoRA and a prefix run (zo-adam, so each
 * checkpoint holds the adapter and its optimiser state; a dev set, so best/adapter/ exports come between checkpoints;
 * the result in adapter/) and a dfo run (checkpoints of search.bin and state.json every 2 generations, then
 * subspace.json and adapter/ when the search is done). Each is halted inside every atomic write it makes and killed
 * after a step (generation), continued as a user would, and must leave the uninterrupted run's files bit for bit
 * (metrics.jsonl, summary.json and report.html but their wall times). Chains halt the run, then each --resume in
 * turn: every resume restarts from the last complete checkpoint, so a chain walks on through the run's later writes.
 * A point under adapter/ starts with the out folder's name "run/" where best/adapter/ would match it too.
 */
class CrashMatrixPeftTest {
    @TempDir
    Path dir;

    private Path out() {
        return dir.resolve("run");
    }

    /**
     * The bundled model on text, zo-adam for 6 steps, a dev evaluation every 2; {@code test}: the dev file is the
     * test set too (a test evaluation at each new best step, then the final one).
     */
    private Path textConfig(boolean test, String... extra) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 6000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1500);
        List<String> lines = new ArrayList<>(List.of("optimizer:", "  name: zo-adam", "  lr: 0.001", "steps: 6",
                "eval_every: 2"));
        lines.addAll(List.of(extra));
        String yaml = TrainRuns.yaml(train, dev, out(), lines.toArray(String[]::new));
        String devLine = "  dev: '" + dev + "'\n";
        assertTrue(yaml.contains(devLine), yaml);
        if (test) {
            yaml = yaml.replace(devLine, devLine + "  test: '" + dev + "'\n");
        }
        return Files.writeString(dir.resolve("run.yaml"), yaml);
    }

    /** The plot, where this Java draws plots. */
    private static List<String> plot() {
        return ModuleLayer.boot().findModule("java.desktop").isPresent() ? List.of("plots/loss.png#1") : List.of();
    }

    private static void assertAdapterRun(Outcome expected) {
        assertEquals(6, expected.steps().size());
        expected.file("adapter/adapter_model.safetensors");
        expected.file("best/adapter/adapter_model.safetensors");
        assertFalse(expected.files().stream().anyMatch(f -> f.startsWith("model/")), "no full weights");
    }

    /**
     * A LoRA run with a test set: its best/adapter/ exports and test evaluations at steps 2, 4 and 6 (each before
     * that step's checkpoint), checkpoints at 2, 4 and 6, then adapter/, the final test evaluation (a second one at
     * step 6), summary.json, report.html and the plot.
     */
    @Test
    void aKilledLoraRunContinuesToTheUninterruptedResult() throws Exception {
        Path config = textConfig(true, "peft:", "  method: lora", "  r: 2", "  alpha: 4", "  targets: [q]");
        CrashRun crash = new CrashRun(config, out(), "train");
        Outcome expected = crash.uninterrupted();
        assertAdapterRun(expected);
        assertEquals(4, expected.evals().stream().filter(e -> e.path("split").asText().equals("test")).count(),
                "a test evaluation at each of the best steps 2, 4, 6 and the final one: " + expected.evals());

        // the start itself interrupted; killed before the first checkpoint and past the step-2 one
        crash.crashAtWrite("zotune-run.json#1", Then.RERUN, expected);
        crash.crashAtWrite("run.json#1", Then.RERUN, expected);
        crash.killAfterStep(1, Then.OVERWRITE, expected);
        crash.killAfterStep(3, Then.RESUME, expected);
        // inside the first best/adapter/ export: no checkpoint yet
        crash.crashAtWrite("best/adapter/adapter_model.safetensors#1", Then.OVERWRITE, expected);
        // step 4's best/adapter/ export (the step-2 checkpoint in force), then the resume's rewrites of metrics.jsonl
        // and trajectory.jsonl, its own step-4 best export and the adapter's parameters in its step-4 checkpoint
        crash.crashAtWrites(expected, "best/adapter/adapter_config.json#2", "metrics.jsonl#1", "trajectory.jsonl#1",
                "best/adapter/adapter_model.safetensors#1", "params.safetensors#1");
        // step 4's pointer (2's in force), then the resume's step-4 optimiser state and state.json
        crash.crashAtWrites(expected, "latest.json#2", "optimizer.safetensors#1", "state.json#1");
        // the final checkpoint's parameters; then, the run finished, each write between it and the end
        List<String> last = new ArrayList<>(List.of("run/adapter/adapter_model.safetensors#1",
                "run/adapter/adapter_config.json#1", "summary.json#1", "report.html#1"));
        last.addAll(plot());
        crash.crashAtWrites(expected, "params.safetensors#3", last.toArray(String[]::new));
        crash.assertEveryWriteIsAPoint(expected.files());
    }

    /**
     * A LoRA run with peft.merge: best/ and model/ hold the merged full weights. Its best steps are 2, 4 and 6, so
     * the last is the best and model/'s weights file is a hard link of best/'s step-6 file (HfExport): the link is a
     * crash point like a write, and a run killed inside it or inside that best/ write continues to the same files.
     */
    @Test
    void aKilledMergedLoraRunWhoseModelLinksBestContinuesToTheUninterruptedResult() throws Exception {
        Path config = textConfig(false, "peft:", "  method: lora", "  r: 2", "  alpha: 4", "  targets: [q]",
                "  merge: true");
        CrashRun crash = new CrashRun(config, out(), "train");
        Outcome expected = crash.uninterrupted();
        assertEquals(6, expected.steps().size());
        assertTrue(java.util.Arrays.equals(expected.file("best/model.safetensors"),
                expected.file("model/model.safetensors")), "best/ and model/ of step 6 hold the same weights");
        crash.crashAtWrite("model/model.safetensors#1", Then.RESUME, expected); // inside the link
        crash.crashAtWrite("best/model.safetensors#3", Then.RESUME, expected); // step 6's best/ (4's checkpoint)

        // the same run in this process, kept: model/'s weights file is best/'s
        Path again = dir.resolve("again");
        TrainRuns.train(TrainRuns.config(Files.readString(config), "out=" + again), TrainRuns.quiet());
        assertTrue(Files.isSameFile(again.resolve("best/model.safetensors"), again.resolve("model/model.safetensors")),
                "model/ links best/'s weights file");
    }

    /**
     * A prefix run: the same Trainer as a LoRA run with the prefix's own checkpoint and export (PrefixExport), its
     * best/adapter/ exports at steps 2 and 6; one chain walks through every checkpoint and export write.
     */
    @Test
    void aKilledPrefixRunContinuesToTheUninterruptedResult() throws Exception {
        Path config = textConfig(false, "peft:", "  method: prefix", "  tokens: 2");
        CrashRun crash = new CrashRun(config, out(), "train");
        Outcome expected = crash.uninterrupted();
        assertAdapterRun(expected);

        crash.crashAtWrite("zotune-run.json#1", Then.RERUN, expected);
        crash.crashAtWrite("run.json#1", Then.RERUN, expected);
        crash.killAfterStep(3, Then.RESUME, expected);
        // step 4's checkpoint (step 2's in force); each resume from it: the rewrites, its step-4 checkpoint, step 6's
        // best/adapter/ export (before its checkpoint, so the next resume starts at 4 again), then past step 6
        List<String> chain = new ArrayList<>(List.of("metrics.jsonl#1", "trajectory.jsonl#1",
                "optimizer.safetensors#1", "state.json#1", "latest.json#1", "best/adapter/adapter_model.safetensors#1",
                "best/adapter/adapter_config.json#1", "run/adapter/adapter_model.safetensors#1",
                "run/adapter/adapter_config.json#1", "summary.json#1", "report.html#1"));
        chain.addAll(plot());
        crash.crashAtWrites(expected, "params.safetensors#2", chain.toArray(String[]::new));
        crash.assertEveryWriteIsAPoint(expected.files());
    }

    /**
     * A dfo run on the bundled model (prompt classification, population 4, subspace 4, budget 24 over 5 layers under
     * schedule rounds: 6 generations, CMA-ES then fireworks on layer 0): checkpoints at generations 2, 4 and 6, then
     * subspace.json, adapter/, the dev and test evaluations, summary.json and report.html.
     */
    @Test
    void aKilledDfoRunContinuesToTheUninterruptedResult() throws Exception {
        Path data = Files.writeString(dir.resolve("d.jsonl"), String.join("\n",
                "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
                "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
                "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
                "{\"text\": \"hated the film\", \"label\": \"neg\"}", ""));
        Path config = Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: bundled", "data:",
                "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'", "  test: '" + data + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: bad}", "method: dfo",
                "device: cpu", "seed: 3", "out: '" + out() + "'", "checkpoint_every: 2", "dfo:", "  population: 4",
                "  subspace: 4", "  budget: 24", "  schedule: rounds", ""));
        CrashRun crash = new CrashRun(config, out(), "dfo");
        Outcome expected = crash.uninterrupted();
        assertEquals(6, expected.steps().size());
        assertEquals("fwa", expected.steps().get(5).path("optimizer").asText(), "both optimisers' state is saved");
        expected.file("adapter/adapter_model.safetensors");
        expected.file("checkpoint/step-6/search.bin");
        expected.file(DfoTrainer.SUBSPACE);

        crash.crashAtWrite("zotune-run.json#1", Then.RERUN, expected);
        crash.crashAtWrite("run.json#1", Then.RERUN, expected);
        crash.killAfterStep(1, Then.OVERWRITE, expected);
        crash.killAfterStep(3, Then.RESUME, expected);
        // the first checkpoint's search state (none complete); the final checkpoint's state.json (4's in force)
        crash.crashAtWrite("search.bin#1", Then.OVERWRITE, expected);
        crash.crashAtWrite("state.json#3", Then.RESUME, expected);
        // step 4's pointer (2's in force); each resume from 2: the rewrite of metrics.jsonl, its step-4 checkpoint;
        // then from 4 (the search done at 6): the result's writes
        crash.crashAtWrites(expected, "latest.json#2", "metrics.jsonl#1", "search.bin#1", "state.json#1",
                "latest.json#1", "subspace.json#1", "run/adapter/adapter_model.safetensors#1",
                "run/adapter/adapter_config.json#1", "summary.json#1", "report.html#1");
        crash.assertEveryWriteIsAPoint(expected.files());
    }
}
