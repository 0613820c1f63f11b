package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.train.EvalProgressLines;

/**
 * zotune eval's progress lines (here one after every batch but the last, the interval set to 0 s): an encoder's
 * classification data and a decoder's language-model data say how many examples are scored of all, batch by batch;
 * --no-progress prints none; the result is the same either way. zotune train's evaluations outside its progress bar
 * (dev at step 0, test after the last step; with method dfo every one) print the same lines, named by split.
 */
class EvalProgressCliTest {
    @TempDir
    Path dir;

    private double saved;

    @BeforeEach
    void everyBatch() {
        saved = EvalProgressLines.everySeconds;
        EvalProgressLines.everySeconds = 0;
    }

    @AfterEach
    void restore() {
        EvalProgressLines.everySeconds = saved;
    }

    private static List<String> progress(CliRun r) {
        return r.errLines().stream().filter(l -> l.startsWith("eval: ")).map(l -> l.replaceAll(", [0-9.]+ s, .*", ""))
                .toList();
    }

    @Test
    void anEncoderReportsEachBatchOfItsExamples() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path data = Files.writeString(dir.resolve("d.jsonl"), TrainEncoderObjectivesCliTest.ROWS
                + "{\"text\": \"the acting is bad\", \"label\": \"neg\"}\n");
        List<String> common = List.of("eval", "--model", model.toString(), "--data", data.toString(), "--objective",
                "similarity", "--labels", "pos=it was great,neg=it was terrible", "--batch-size", "3", "--device",
                "cpu");
        CliRun on = CliRun.of(common.toArray(String[]::new));
        assertEquals(0, on.code(), on.err());
        assertEquals(List.of("eval: 3 of 7 examples", "eval: 6 of 7 examples"), progress(on), on.err());
        String[] quiet = java.util.stream.Stream.concat(common.stream(), java.util.stream.Stream.of("--no-progress"))
                .toArray(String[]::new);
        CliRun off = CliRun.of(quiet);
        assertEquals(0, off.code(), off.err());
        assertEquals(List.of(), progress(off), off.err());
        assertEquals(on.outLines(), off.outLines());
    }

    @Test
    void aDecodersLanguageModelDataReportsItsChunks() throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            text.append("Once upon a time there was a little cat who liked to play in the sun.\n");
        }
        Path data = Files.writeString(dir.resolve("t.txt"), text);
        CliRun r = CliRun.of("eval", "--model", "bundled", "--format", "text", "--data", data.toString(),
                "--max-length", "32", "--batch-size", "2", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        List<String> lines = progress(r);
        assertFalse(lines.isEmpty(), r.err());
        int total = Integer.parseInt(lines.get(0).replaceAll(".* of ([0-9]+) examples", "$1"));
        for (int i = 0; i < lines.size(); i++) {
            assertEquals("eval: " + 2 * (i + 1) + " of " + total + " examples", lines.get(i), r.err());
        }
        assertEquals((total + 1) / 2 - 1, lines.size(), r.err());
    }

    @Test
    void trainsEvaluationsOutsideTheBarReportTheirBatches() throws IOException {
        trainReports(List.of("optimizer: {name: zo-sgd, lr: 0.001}", "steps: 2"), "zo");
    }

    @Test
    void dfoRunsReportTheirEvaluations() throws IOException {
        trainReports(List.of("method: dfo", "dfo: {population: 4, subspace: 8, budget: 8, schedule: rounds}"), "dfo");
    }

    /** A run with dev = test = 7 examples scored 3 at a time: dev at the start and test at the end print lines. */
    private void trainReports(List<String> method, String name) throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path data = Files.writeString(dir.resolve("d.jsonl"), TrainEncoderObjectivesCliTest.ROWS
                + "{\"text\": \"the acting is bad\", \"label\": \"neg\"}\n");
        for (boolean quiet : new boolean[] {false, true}) {
            String out = name + (quiet ? "-quiet" : "");
            Path cfg = Files.writeString(dir.resolve(out + ".yaml"), String.join("\n", "model: '" + model + "'",
                    "objective: similarity", "similarity: {labels: {pos: it was great, neg: it was terrible}}",
                    "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                    "  test: '" + data + "'", String.join("\n", method), "batch_size: 2", "seed: 4",
                    "eval_batch_size: 3", "eval_every: 0", "device: cpu", "out: '" + dir.resolve(out) + "'", ""));
            CliRun r = quiet ? CliRun.of("train", "--config", cfg.toString(), "--no-progress")
                    : CliRun.of("train", "--config", cfg.toString());
            assertEquals(0, r.code(), r.err());
            List<String> got = r.errLines().stream().filter(l -> l.startsWith("eval "))
                    .map(l -> l.replaceAll(", [0-9.]+ s, .*", "")).toList();
            if (quiet) {
                assertEquals(List.of(), got, r.err());
            } else if (name.equals("zo")) { // the dev evaluation after the last step is in the bar
                assertEquals(List.of("eval dev: 3 of 7 examples", "eval dev: 6 of 7 examples",
                        "eval test: 3 of 7 examples", "eval test: 6 of 7 examples"), got, r.err());
            } else { // DFO evaluates dev at the start, dev and test at the end, all as lines
                assertEquals(List.of("eval dev: 3 of 7 examples", "eval dev: 6 of 7 examples",
                        "eval dev: 3 of 7 examples", "eval dev: 6 of 7 examples",
                        "eval test: 3 of 7 examples", "eval test: 6 of 7 examples"), got, r.err());
            }
        }
    }
}
