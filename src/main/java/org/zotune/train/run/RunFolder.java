package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.zotune.ZotuneException;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.Checkpoints;
import org.zotune.train.TrainConfig;
import org.zotune.train.config.Parallel;

/**
 * A run's folder: the rules for starting in it (a fresh or empty folder; {@code --overwrite} replaces a run and
 * nothing else; {@code --resume} needs a checkpoint, the same config and the same inputs), {@code run.json}, the
 * paths of what a run writes there, and appending to / reading its JSON Lines files.
 * <p>
 * A folder holds a zotune run when it has both {@code run.json}, a config that {@link TrainConfig#fromJson} reads,
 * and {@code zotune-run.json}, the marker {@code {"type": "zotune-run", "version": 1, "fingerprints": {...}}}
 * ({@link Fingerprints}); a folder that lacks either is never deleted. A process owns the folder while it holds the
 * OS lock on {@code .zotune.lock} ({@link #lock}); the lock file names its PID, and the OS drops the lock when the
 * process ends, so a crashed run leaves nothing that blocks {@code --resume}.
 */
public final class RunFolder {
    public static final String RUN_JSON = "run.json";
    public static final String MARKER = "zotune-run.json";
    public static final String LOCK = ".zotune.lock";
    public static final String METRICS = "metrics.jsonl";
    public static final String SUMMARY = "summary.json";
    static final int MARKER_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final TrainConfig config;
    private final boolean resume;
    private final boolean overwrite;

    public RunFolder(TrainConfig config, boolean resume, boolean overwrite) {
        this.dir = config.outDir();
        this.config = config;
        this.resume = resume;
        this.overwrite = overwrite;
    }

    public Path dir() {
        return dir;
    }

    /** The final weights (a Hugging Face folder). */
    public Path model() {
        return dir.resolve("model");
    }

    /** The best-on-dev weights (a Hugging Face folder). */
    public Path best() {
        return dir.resolve("best");
    }

    public Path plot(String name) {
        return dir.resolve("plots").resolve(name);
    }

    public Path file(String name) {
        return dir.resolve(name);
    }

    /** Fails with one line when the run may not start here; writes nothing (cheap, before model and data load). */
    public void check() {
        probeLock();
        prepare(false, null);
    }

    /**
     * The checks of a process of a run over several processes other than rank 0, which writes the folder: on
     * {@code --resume} the folder must hold a checkpoint of this config (as {@link #check} says, without the lock,
     * which rank 0 holds); a fresh start checks nothing here (rank 0 does).
     */
    public void checkAsFollower() {
        if (resume) {
            prepare(false, null);
        }
    }

    /**
     * A run resumes only under the noise variant it trained with (another would not regenerate its steps' directions):
     * run.json records the resolved one (absent: exact, the only variant before the key), this start resolved its own.
     */
    private void requireSameNoise(String ran, String now) {
        if (!ran.equals(now)) {
            throw new ZotuneException("--resume: " + dir.resolve(RUN_JSON) + " has noise " + ran + " (the noise "
                    + "variant the run trained with), this start resolves noise to " + now + "; resume with --noise "
                    + ran + (ran.equals("fast") ? " on a CUDA device (the CPU engine has the exact noise only)" : ""));
        }
    }

    /**
     * A run resumes only with the length buckets it trained with (other batch shapes would change its steps' losses on
     * the GPU): run.json records the resolved pad_multiple (absent: 1, each batch padded to its longest row).
     */
    private void requireSamePadMultiple(int ran, int now) {
        if (ran != now) {
            throw new ZotuneException("--resume: " + dir.resolve(RUN_JSON) + " has pad_multiple " + ran + " (the "
                    + "length buckets the run trained with), this start resolves pad_multiple to " + now
                    + "; resume with --set pad_multiple=" + ran);
        }
    }

    /** The config without the keys that differ between the processes of one run ({@link Parallel}). */
    private static JsonNode perProcessRemoved(JsonNode config) {
        for (String key : Parallel.PER_PROCESS) {
            String[] part = key.split("\\.");
            if (config.path(part[0]) instanceof ObjectNode o) {
                o.remove(part[1]);
            }
        }
        return config;
    }

    /** {@link #check} again, then clears a run that --overwrite replaces and writes run.json (not on --resume). */
    public void create() {
        create(Fingerprints.NONE);
    }

    /**
     * {@link #check} again; on {@code --resume} refuses inputs whose fingerprints differ from the run's and removes
     * the temporary files an interrupted write left; otherwise clears a run that --overwrite replaces and writes
     * run.json and the marker with {@code fingerprints}.
     */
    public void create(Fingerprints fingerprints) {
        prepare(true, fingerprints);
    }

    private void prepare(boolean write, Fingerprints fingerprints) {
        boolean nonEmpty;
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new ZotuneException("out folder " + dir + " is a file");
        }
        boolean interruptedStart;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            List<Path> entries = s.filter(p -> !p.getFileName().toString().equals(LOCK)).toList();
            nonEmpty = !entries.isEmpty();
            interruptedStart = nonEmpty && interruptedStart(entries);
        } catch (IOException e) {
            throw new ZotuneException("out folder " + dir + ": cannot list: " + e.getMessage(), e);
        }
        if (resume && overwrite) {
            throw new ZotuneException("--resume and --overwrite exclude each other");
        }
        if (resume) {
            if (!Files.isRegularFile(dir.resolve(RUN_JSON)) || !Checkpoints.exists(dir)) {
                throw new ZotuneException("--resume: out folder " + dir + " holds no checkpoint to resume");
            }
            Fingerprints recorded = readMarker(true);
            JsonNode ran = readRunConfig();
            int worldSize = ran.path("parallel").path("world_size").asInt(1);
            if (worldSize != config.parallel().worldSize()) {
                throw new ZotuneException("--resume: the run in " + dir + " ran with parallel.world_size " + worldSize
                        + ", this start has " + config.parallel().worldSize() + "; resume with world size "
                        + worldSize);
            }
            JsonNode now = config.toJson();
            if (config.methodKind() == TrainConfig.Method.ZO && "zo".equals(ran.path("method").asText())) {
                requireSameNoise(ran.path("noise").asText(), now.path("noise").asText());
                requireSamePadMultiple(ran.path("pad_multiple").asInt(), now.path("pad_multiple").asInt());
            }
            // compared above by the resolved values (a zo run), or not used (dfo: another method is named below)
            for (String key : new String[] {"noise", "pad_multiple"}) {
                ((ObjectNode) ran).remove(key);
                ((ObjectNode) now).remove(key);
            }
            String diff = firstDifference(perProcessRemoved(ran), perProcessRemoved(now), "");
            if (diff != null) {
                throw new ZotuneException("--resume: out folder " + dir + " holds a run with a different config (key '"
                        + diff + "'); resume with the same config or use another out folder");
            }
            if (write) {
                if (fingerprints != null) {
                    recorded.requireSame(dir.resolve(MARKER), fingerprints);
                }
                removeTemporaryFiles();
            }
            return;
        }
        if (interruptedStart) { // a kill while the run's first files were written: nothing to keep or resume
            if (write) {
                clearUnstarted();
            }
            nonEmpty = false;
        }
        if (nonEmpty) {
            String notRun = notARun();
            if (!overwrite) {
                throw new ZotuneException("out folder " + dir + (notRun == null ? " already holds a run"
                        : " is not empty") + ": pass --resume to continue it or --overwrite to replace it, or choose "
                        + "another out folder");
            }
            if (notRun != null) {
                throw new ZotuneException("--overwrite: out folder " + dir + " is not a zotune run (" + notRun
                        + "); refusing to delete it");
            }
            if (!write) {
                return;
            }
            try {
                deleteContents();
            } catch (IOException e) {
                throw new ZotuneException("--overwrite: cannot clear " + dir + ": " + e.getMessage(), e);
            }
        }
        if (write) {
            // the marker first: a folder with the marker and no run.json is a start a crash interrupted
            AtomicFiles.writeString(dir.resolve(MARKER), marker(fingerprints).toPrettyString() + "\n");
            AtomicFiles.writeString(dir.resolve(RUN_JSON), config.toJsonString() + "\n");
        }
    }

    /**
     * Empties the folder of a run that failed before its first step (under its lock): it has nothing to resume, so
     * the corrected rerun must not need --overwrite. Best effort: the original error is what the user needs.
     */
    public void clearUnstarted() {
        try {
            deleteContents();
        } catch (IOException | RuntimeException ignored) {
            // the failure that brought us here is reported instead
        }
    }

    /**
     * Whether {@code entries} (the folder but its lock) are only what a start interrupted before run.json was in
     * place leaves: zotune's marker and the temporary files of the marker and run.json.
     */
    private boolean interruptedStart(List<Path> entries) {
        boolean marker = false;
        for (Path p : entries) {
            String name = p.getFileName().toString();
            if (name.equals(MARKER)) {
                marker = true;
            } else if (!AtomicFiles.isTemporary(p)
                    || !(name.startsWith("." + MARKER + ".") || name.startsWith("." + RUN_JSON + "."))) {
                return false;
            }
        }
        if (marker) {
            try {
                readMarker(false);
            } catch (ZotuneException e) {
                return false;
            }
        }
        return true;
    }

    /** Why the folder is not a zotune run (the policy of the class comment), or null when it is one. */
    private String notARun() {
        Path runJson = dir.resolve(RUN_JSON);
        if (!Files.isRegularFile(runJson)) {
            return "no " + RUN_JSON;
        }
        if (!Files.isRegularFile(dir.resolve(MARKER))) {
            return "no " + MARKER;
        }
        try {
            readMarker(false);
            readRunConfig();
        } catch (ZotuneException e) {
            return e.getMessage();
        }
        return null;
    }

    private static ObjectNode marker(Fingerprints f) {
        ObjectNode m = JSON.createObjectNode();
        m.put("type", "zotune-run");
        m.put("version", MARKER_VERSION);
        m.set("fingerprints", f.toJson());
        return m;
    }

    /** The marker's fingerprints; a missing marker is an error only when {@code required}. */
    private Fingerprints readMarker(boolean required) {
        Path f = dir.resolve(MARKER);
        if (!Files.isRegularFile(f)) {
            if (required) {
                throw new ZotuneException("--resume: out folder " + dir + " has no " + MARKER + " (not a run of this "
                        + "zotune); start a new run in another out folder");
            }
            return Fingerprints.NONE;
        }
        JsonNode m;
        try {
            m = JSON.readTree(Files.readString(f, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ZotuneException(f + ": not a zotune run marker (not valid JSON)");
        }
        if (m == null || !"zotune-run".equals(m.path("type").asText())) {
            throw new ZotuneException(f + ": not a zotune run marker (type zotune-run)");
        }
        if (!m.path("version").isInt() || m.path("version").asInt() != MARKER_VERSION) {
            throw new ZotuneException(f + ": version " + m.path("version") + " is not one this zotune reads ("
                    + MARKER_VERSION + ")");
        }
        return Fingerprints.fromJson(f, m.path("fingerprints"));
    }

    /** Empties the folder but for the lock file (this process holds it, see {@link #lock}). */
    private void deleteContents() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (!p.getFileName().toString().equals(LOCK)) {
                    Checkpoints.deleteTree(p);
                }
            }
        }
    }

    /** The temporary files of writes a crash interrupted ({@link AtomicFiles}'s names); the lock holder's own. */
    private void removeTemporaryFiles() {
        try (Stream<Path> w = Files.walk(dir)) {
            for (Path p : w.filter(AtomicFiles::isTemporary).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new ZotuneException("out folder " + dir + ": cannot remove temporary files: " + e.getMessage(), e);
        }
    }

    /**
     * Takes the folder for this process (creating it): the OS lock on {@link #LOCK}, released by closing what this
     * returns or when the process ends. Another holder, in this process or another, is a one-line error naming its
     * PID.
     */
    public Lock lock() {
        Path f = dir.resolve(LOCK);
        FileChannel ch = null;
        try {
            Files.createDirectories(dir);
            ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                throw locked();
            }
            ch.truncate(0);
            AtomicFiles.writeFully(ch, ByteBuffer.wrap((ProcessHandle.current().pid() + "\n")
                    .getBytes(StandardCharsets.UTF_8)));
            ch.force(false);
            Lock out = new Lock(ch, l);
            ch = null;
            return out;
        } catch (IOException e) {
            throw new ZotuneException("out folder " + dir + ": cannot lock " + f + ": " + e.getMessage(), e);
        } finally {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // the lock error matters more
                }
            }
        }
    }

    /** Fails like {@link #lock} when another process holds the folder; creates nothing. */
    private void probeLock() {
        Path f = dir.resolve(LOCK);
        if (!Files.isRegularFile(f)) {
            return;
        }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                throw locked();
            }
            l.release();
        } catch (IOException e) {
            // unreadable lock file: create() will say so when it takes the lock
        }
    }

    private ZotuneException locked() {
        String pid;
        try {
            pid = Files.readString(dir.resolve(LOCK), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            pid = "";
        }
        return new ZotuneException("out folder " + dir + " is in use by another zotune process"
                + (pid.isEmpty() ? "" : " (PID " + pid + ")") + "; wait for it to end or choose another out folder");
    }

    /** The OS lock on a run folder ({@link #lock}). */
    public static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;

        private Lock(FileChannel channel, FileLock lock) {
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close() {
            try {
                lock.release();
                channel.close();
            } catch (IOException ignored) {
                // closing the channel releases the lock in any case
            }
        }
    }

    /**
     * The config the run.json in {@code dir} records, or null when there is none or it does not read ({@link #create}
     * then says why, in one line).
     */
    public static TrainConfig recorded(Path dir) {
        Path file = dir.resolve(RUN_JSON);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return TrainConfig.fromJson(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private JsonNode readRunConfig() {
        try {
            // through TrainConfig, so that numbers compare by value (7 read back is an int, the record's a long)
            return TrainConfig.fromJson(dir.resolve(RUN_JSON).toString(),
                    Files.readString(dir.resolve(RUN_JSON), StandardCharsets.UTF_8)).toJson();
        } catch (IOException e) {
            throw new ZotuneException(dir.resolve(RUN_JSON) + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The first key whose value differs, dotted, or null. */
    static String firstDifference(JsonNode a, JsonNode b, String prefix) {
        if (a.isObject() && b.isObject()) {
            Set<String> keys = new TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                String d = firstDifference(a.path(k), b.path(k), prefix.isEmpty() ? k : prefix + "." + k);
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        if (a.isTextual() && b.isTextual() && samePath(a.asText(), b.asText())) {
            return null; // one path spelled two ways (./x/, absolute): the fingerprints check the contents
        }
        return a.equals(b) ? null : prefix;
    }

    private static boolean samePath(String a, String b) {
        if (a.isEmpty() || b.isEmpty()) {
            return false;
        }
        try {
            return Path.of(a).toAbsolutePath().normalize().equals(Path.of(b).toAbsolutePath().normalize());
        } catch (InvalidPathException e) {
            return false;
        }
    }

    /** Appends one line to a file of the folder. */
    public void append(String file, String line) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(file), line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new ZotuneException(dir.resolve(file) + ": cannot write: " + e.getMessage(), e);
        }
    }

    /**
     * Keeps the lines of steps <= t (and the first line when {@code header}): a resumed run rewrites what followed
     * its checkpoint.
     */
    public void truncate(String file, long t, boolean header) {
        Path f = dir.resolve(file);
        if (!Files.isRegularFile(f)) {
            return;
        }
        try {
            List<String> keep = new ArrayList<>();
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            Iterator<String> it = lines.iterator();
            if (header && it.hasNext()) {
                keep.add(it.next());
            }
            int no = header ? 1 : 0;
            while (it.hasNext()) {
                String line = it.next();
                no++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    if (no == lines.size()) {
                        continue; // the last line cut off (disk full, a kill mid-append): its step is redone
                    }
                    throw new ZotuneException(f + ":" + no + ": not valid JSON; cannot continue this run");
                }
                if (n.path("t").asLong() <= t) {
                    keep.add(line);
                }
            }
            AtomicFiles.writeString(f, keep.isEmpty() ? "" : String.join("\n", keep) + "\n");
        } catch (IOException e) {
            throw new ZotuneException(f + ": cannot rewrite for --resume: " + e.getMessage(), e);
        }
    }

    /** The records of a JSON Lines file of the folder (none when it does not exist). */
    public List<JsonNode> readJsonl(String file) {
        List<JsonNode> out = new ArrayList<>();
        Path f = dir.resolve(file);
        if (!Files.isRegularFile(f)) {
            return out;
        }
        try {
            for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    out.add(JSON.readTree(line));
                }
            }
        } catch (IOException e) {
            throw new ZotuneException(f + ": cannot read: " + e.getMessage(), e);
        }
        return out;
    }
}
