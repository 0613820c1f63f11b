package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Best-on-dev and early stopping on a run whose weights cannot change (lr 0), so no evaluation improves. */
class EarlyStoppingTest {
    @TempDir
    Path dir;

    @Test
    void stopsAfterPatienceEvaluationsWithoutImprovement() throws Exception {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"text\": \"the cat was happy\", \"label\": \"pos\"}\n"
                + "{\"text\": \"the dog was sad\", \"label\": \"neg\"}\n"
                + "{\"text\": \"a good day\", \"label\": \"pos\"}\n");
        Path out = dir.resolve("run");
        TrainConfig c = TrainRuns.config(String.join("\n", "model: bundled", "data:", "  format: jsonl",
                "  train: '" + f + "'", "  dev: '" + f + "'", "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: bad}", "optimizer: {name: zo-sgd, lr: 0}", "steps: 10",
                "eval_every: 1", "early_stopping_patience: 2", "batch_size: 2", "device: cpu", "out: '" + out + "'",
                ""));
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
}
