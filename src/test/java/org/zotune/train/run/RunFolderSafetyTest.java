package org.zotune.train.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.TrainConfig;

/**
 * What a run folder protects (issue 16): only zotune's own runs are deleted, one process owns a folder at a time,
 * a crash leaves nothing that blocks --resume, --resume refuses other inputs and takes one path spelled two ways.
 */
class RunFolderSafetyTest {
    private static final String A = "sha256:" + "a".repeat(64);
    private static final String B = "sha256:" + "b".repeat(64);

    @TempDir
    Path dir;

    private TrainConfig configAt(String out, String... overrides) {
        return TrainConfig.parse("t.yaml", "model: m\ndata: {format: text, train: a}\nout: '" + out + "'\n",
                List.of(overrides));
    }

    private TrainConfig config(String... overrides) {
        return configAt(dir.resolve("run").toString(), overrides);
    }

    private static Fingerprints weights(String w) {
        return new Fingerprints(w, null, null, null, null);
    }

    /** Saves a minimal checkpoint pointer, which is what --resume's folder check looks for. */
    private static void fakeCheckpoint(Path run) {
        AtomicFiles.writeString(run.resolve("checkpoint/latest.json"), "{\"step\": 1, \"dir\": \"step-1\"}\n");
    }

    @Test
    void overwriteNeverDeletesAFolderThatIsNotAZotuneRun() throws Exception {
        Path run = dir.resolve("run");
        Files.createDirectories(run);
        Files.writeString(run.resolve("run.json"), "{\"experiment\": \"mine\"}\n");
        Files.writeString(run.resolve("results.csv"), "1,2\n");
        String m = assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, true).create())
                .getMessage();
        assertTrue(m.startsWith("--overwrite: out folder " + run + " is not a zotune run ("), m);
        assertTrue(m.endsWith("); refusing to delete it"), m);
        assertTrue(Files.exists(run.resolve("results.csv")));

        // a run.json that is a zotune config but no marker: still not ours to delete
        Files.writeString(run.resolve("run.json"), config().toJsonString());
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, true).create())
                .getMessage().contains("(no zotune-run.json)"));
        // a marker of another version
        Files.writeString(run.resolve("zotune-run.json"), "{\"type\": \"zotune-run\", \"version\": 9}");
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, true).create())
                .getMessage().contains("version 9 is not one this zotune reads"));
        assertTrue(Files.exists(run.resolve("results.csv")));
    }

    @Test
    void aStartKilledBeforeRunJsonWasInPlaceStartsAgainWithoutFlags() throws Exception {
        Path run = dir.resolve("run");
        new RunFolder(config(), false, false).create(weights(A));
        // what a kill inside run.json's write leaves (the marker is written first): the marker and a temporary file
        Files.delete(run.resolve(RunFolder.RUN_JSON));
        Path tmp = run.resolve("." + RunFolder.RUN_JSON + ".5f3a9c.tmp");
        Files.writeString(tmp, "{\"mod");
        Files.writeString(run.resolve(RunFolder.LOCK), "12345\n");
        RunFolder f = new RunFolder(config(), false, false);
        f.check();
        try (RunFolder.Lock lock = f.lock()) {
            f.create(weights(B));
        }
        assertFalse(Files.exists(tmp));
        assertTrue(Files.readString(run.resolve(RunFolder.MARKER)).contains(B));
        assertTrue(Files.isRegularFile(run.resolve(RunFolder.RUN_JSON)));

        // the same leftovers beside a file of the user's: not an interrupted start, nothing is deleted
        Files.delete(run.resolve(RunFolder.RUN_JSON));
        Files.writeString(tmp, "{");
        Files.writeString(run.resolve("notes.txt"), "mine\n");
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, false).create())
                .getMessage().contains("is not empty"));
        assertTrue(Files.exists(tmp) && Files.exists(run.resolve("notes.txt")));
        // nor beside a marker that is not zotune's
        Files.delete(run.resolve("notes.txt"));
        Files.writeString(run.resolve(RunFolder.MARKER), "{\"type\": \"other\"}");
        assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, false).create());
        assertTrue(Files.exists(tmp));
    }

    @Test
    void overwriteReplacesAZotuneRun() throws Exception {
        new RunFolder(config(), false, false).create(weights(A));
        RunFolder f = new RunFolder(config("steps=9"), false, true);
        f.append("metrics.jsonl", "{\"t\": 1}");
        try (RunFolder.Lock lock = f.lock()) {
            f.create(weights(B));
        }
        assertFalse(Files.exists(f.file("metrics.jsonl")));
        assertTrue(Files.readString(f.file(RunFolder.MARKER)).contains(B));
    }

    @Test
    void oneProcessOwnsAFolder() throws Exception {
        RunFolder f = new RunFolder(config(), false, false);
        try (RunFolder.Lock lock = f.lock()) {
            String pid = Long.toString(ProcessHandle.current().pid());
            assertEquals(pid + "\n", Files.readString(f.file(RunFolder.LOCK)));
            ZotuneException e = assertThrows(ZotuneException.class, () -> new RunFolder(config(), true, false).lock());
            assertEquals("out folder " + f.dir() + " is in use by another zotune process (PID " + pid + "); wait "
                    + "for it to end or choose another out folder", e.getMessage());
            // the cheap check refuses too, before any model is loaded
            assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, true).check());
            f.create();
        }
        try (RunFolder.Lock again = f.lock()) {
            assertTrue(Files.isRegularFile(f.file(RunFolder.LOCK)));
        }
    }

    @Test
    void anotherProcessHoldingTheLockIsNamed() throws Exception {
        Path run = dir.resolve("run");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), LockHolder.class.getName(), run.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine());
            String m = assertThrows(ZotuneException.class, () -> new RunFolder(config(), false, false).lock())
                    .getMessage();
            assertTrue(m.endsWith("is in use by another zotune process (PID " + p.pid() + "); wait for it to end or "
                    + "choose another out folder"), m);
            p.destroyForcibly(); // like kill -9: the OS drops the lock, the lock file stays with the dead PID
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        } finally {
            p.destroyForcibly();
        }
        assertEquals(p.pid() + "\n", Files.readString(run.resolve(RunFolder.LOCK)));
        RunFolder f = new RunFolder(config(), false, false);
        f.check(); // the stale lock file alone is an empty folder
        try (RunFolder.Lock lock = f.lock()) {
            f.create();
        }
        fakeCheckpoint(run);
        RunFolder resume = new RunFolder(config(), true, false);
        resume.check();
        try (RunFolder.Lock lock = resume.lock()) {
            resume.create();
        }
    }

    /**
     * A run started by an older zotune has no entry for a key added since (here parallel.gpus): run.json is read
     * through today's binder, so it resumes when the key is at its default now, and a value set differently is still
     * a different config.
     */
    @Test
    void aKeyAddedSinceTheRunStartedCountsAsItsDefault() throws Exception {
        Path run = dir.resolve("run");
        new RunFolder(config(), false, false).create(weights(A));
        fakeCheckpoint(run);
        com.fasterxml.jackson.databind.node.ObjectNode old = (com.fasterxml.jackson.databind.node.ObjectNode)
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(run.resolve("run.json").toFile());
        assertTrue(old.has("parallel") && old.get("parallel").has("gpus"), old.toString());
        ((com.fasterxml.jackson.databind.node.ObjectNode) old.get("parallel")).remove("gpus");
        Files.writeString(run.resolve("run.json"), old.toPrettyString());
        new RunFolder(config(), true, false).create(weights(A));
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config("parallel.gpus=2"), true, false)
                .check()).getMessage().contains("different config (key 'parallel.gpus')"));
    }

    @Test
    void resumeRefusesOtherInputsAndTakesOnePathSpelledTwoWays() throws Exception {
        Path run = dir.resolve("run");
        new RunFolder(config(), false, false).create(weights(A));
        fakeCheckpoint(run);
        String m = assertThrows(ZotuneException.class, () -> new RunFolder(config(), true, false).create(weights(B)))
                .getMessage();
        assertEquals("base weights changed since the run started (" + run.resolve(RunFolder.MARKER) + " records "
                + A.substring(0, 19) + "…, the input now gives " + B.substring(0, 19) + "…); use the run's own inputs "
                + "or start a new run", m);
        new RunFolder(config(), true, false).create(weights(A));
        // the same folder as ./relative/ and as an absolute path with a trailing slash
        Path cwd = Path.of("").toAbsolutePath();
        String relative = "./" + cwd.relativize(run) + "/";
        new RunFolder(configAt(relative), true, false).check();
        new RunFolder(configAt(run + "/"), true, false).check();
        assertTrue(assertThrows(ZotuneException.class, () -> new RunFolder(config("steps=3"), true, false).check())
                .getMessage().contains("different config (key 'steps')"));
    }

    @Test
    void resumeDropsACutOffLastLineAndLeftoverTemporaryFiles() throws Exception {
        RunFolder f = new RunFolder(config(), false, false);
        f.create();
        Files.writeString(f.file("metrics.jsonl"), "{\"t\": 1}\n{\"t\": 2}\n{\"t\": 3, \"lo");
        f.truncate("metrics.jsonl", 2, false);
        assertEquals("{\"t\": 1}\n{\"t\": 2}\n", Files.readString(f.file("metrics.jsonl")));
        Files.writeString(f.file("metrics.jsonl"), "{\"t\": 1}\n{\"t\": 2, \"lo\n{\"t\": 3}\n");
        assertEquals(f.file("metrics.jsonl") + ":2: not valid JSON; cannot continue this run",
                assertThrows(ZotuneException.class, () -> f.truncate("metrics.jsonl", 3, false)).getMessage());

        Path tmp = f.dir().resolve("checkpoint/step-2/.params.safetensors.3f2a9c.tmp");
        Files.createDirectories(tmp.getParent());
        Files.writeString(tmp, "half a file");
        Files.writeString(f.dir().resolve(".notes.tmp.txt"), "mine");
        fakeCheckpoint(f.dir());
        new RunFolder(config(), true, false).create();
        assertFalse(Files.exists(tmp));
        assertTrue(Files.exists(f.dir().resolve(".notes.tmp.txt")));
    }

    @Test
    void aRunThatFailedBeforeItsFirstStepIsCleared() throws Exception {
        RunFolder f = new RunFolder(config(), false, false);
        try (RunFolder.Lock lock = f.lock()) {
            f.create();
            f.append("trajectory.jsonl", "{}");
            f.clearUnstarted();
        }
        new RunFolder(config(), false, false).check(); // the corrected rerun needs no --overwrite
    }
}
