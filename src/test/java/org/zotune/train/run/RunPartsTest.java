package org.zotune.train.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.train.Checkpoints;
import org.zotune.train.TrainConfig;

/** The run folder's rules and the best-on-dev bookkeeping on their own (TrainCliTest covers them through the CLI). */
class RunPartsTest {
    @TempDir
    Path dir;

    private TrainConfig config(String... overrides) {
        return TrainConfig.parse("t.yaml", "model: m\ndata: {format: text, train: a}\nout: '" + dir.resolve("run")
                + "'\n", List.of(overrides));
    }

    @Test
    void folderRules() throws Exception {
        RunFolder f = new RunFolder(config(), false, false);
        f.check();
        assertFalse(Files.exists(f.dir()));
        f.create();
        assertEquals(config().toJsonString() + "\n", Files.readString(f.file(RunFolder.RUN_JSON)));
        String m = assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, false).check())
                .getMessage();
        assertTrue(m.endsWith("already holds a run: pass --resume to continue it or --overwrite to replace it, or "
                + "choose another out folder"), m);
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config(), true, false).check())
                .getMessage().contains("holds no checkpoint to resume"));
        assertEquals("--resume and --overwrite exclude each other", assertThrows(ZotuneException.class,
                () -> new RunFolder(config(), true, true).check()).getMessage());
        f.append("x.jsonl", "{\"t\": 1}");
        new RunFolder(config("steps=9"), false, true).create(); // replaces the run
        assertFalse(Files.exists(f.file("x.jsonl")));
        assertTrue(Files.readString(f.file(RunFolder.RUN_JSON)).contains("\"steps\" : 9"));
    }

    @Test
    void truncateKeepsHeaderAndEarlierSteps() throws Exception {
        RunFolder f = new RunFolder(config(), false, false);
        for (String line : List.of("{\"type\": \"h\"}", "{\"t\": 1}", "{\"t\": 2}", "{\"t\": 3}")) {
            f.append("a.jsonl", line);
        }
        f.truncate("a.jsonl", 2, true);
        assertEquals("{\"type\": \"h\"}\n{\"t\": 1}\n{\"t\": 2}\n", Files.readString(f.file("a.jsonl")));
        f.truncate("a.jsonl", 0, false); // a line without t counts as step 0
        assertEquals("{\"type\": \"h\"}\n", Files.readString(f.file("a.jsonl")));
        f.truncate("a.jsonl", -1, false);
        assertEquals("", Files.readString(f.file("a.jsonl")));
        assertEquals(List.of(), f.readJsonl("absent.jsonl"));
    }

    @Test
    void firstDifferenceIsDotted() throws Exception {
        ObjectMapper m = new ObjectMapper();
        assertNull(RunFolder.firstDifference(m.readTree("{\"a\": {\"b\": 1}}"), m.readTree("{\"a\": {\"b\": 1}}"), ""));
        assertEquals("a.c", RunFolder.firstDifference(m.readTree("{\"a\": {\"b\": 1, \"c\": 2}}"),
                m.readTree("{\"a\": {\"b\": 1}}"), ""));
    }

    @Test
    void bestTracking() {
        List<Long> saved = new ArrayList<>();
        BestTracker loss = new BestTracker(TrainConfig.Metric.LOSS, 2, BestTracker.fresh(5.0));
        assertFalse(loss.record(1, 4.0, false, saved::add));
        assertFalse(loss.record(2, 4.5, false, saved::add));
        assertFalse(loss.record(3, 3.0, false, saved::add));
        assertFalse(loss.record(4, 3.0, false, saved::add)); // equal is not better
        assertTrue(loss.record(5, 3.5, false, saved::add)); // second evaluation without a better one
        assertEquals(List.of(1L, 3L), saved);
        assertEquals(new Checkpoints.Progress(3.0, 3, 2, 5.0), loss.progress());

        BestTracker acc = new BestTracker(TrainConfig.Metric.ACCURACY, 1, BestTracker.fresh(Double.NaN));
        assertFalse(acc.record(1, 0.5, false, saved::add));
        assertFalse(acc.record(2, 0.4, true, saved::add)); // the last step: nothing left to stop
        assertEquals(1, acc.progress().bestStep());
        BestTracker never = new BestTracker(TrainConfig.Metric.F1, 0, BestTracker.fresh(Double.NaN));
        never.record(1, 0.5, false, t -> { });
        for (int t = 2; t < 10; t++) {
            assertFalse(never.record(t, 0.1, false, x -> { }));
        }
    }
}
