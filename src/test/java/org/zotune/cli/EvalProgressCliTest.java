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

/**
 * zotune eval's progress lines (here one after every batch but the last, the interval set to 0 s): an encoder's
 * classification data and a decoder's language-model data say how many examples are scored of all, batch by batch;
 * --no-progress prints none; the result is the same either way.
 */
class EvalProgressCliTest {
    @TempDir
    Path dir;

    private double saved;

    @BeforeEach
    void everyBatch() {
        saved = EvalCommand.progressEverySeconds;
        EvalCommand.progressEverySeconds = 0;
    }

    @AfterEach
    void restore() {
        EvalCommand.progressEverySeconds = saved;
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
}
