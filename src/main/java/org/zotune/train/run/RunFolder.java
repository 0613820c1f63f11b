package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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

/**
 * A run's folder: the rules for starting in it (a fresh or empty folder; {@code --overwrite} replaces a run and
 * nothing else; {@code --resume} needs a checkpoint and the same config), {@code run.json}, the paths of what a run
 * writes there, and appending to / reading its JSON Lines files.
 */
public final class RunFolder {
    public static final String RUN_JSON = "run.json";
    public static final String METRICS = "metrics.jsonl";
    public static final String SUMMARY = "summary.json";
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
        prepare(false);
    }

    /** {@link #check} again, then clears a run that --overwrite replaces and writes run.json (not on --resume). */
    public void create() {
        prepare(true);
    }

    private void prepare(boolean write) {
        boolean nonEmpty;
        try (Stream<Path> s = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            nonEmpty = s.findAny().isPresent();
        } catch (IOException e) {
            throw new ZotuneException("out folder " + dir + ": cannot list: " + e.getMessage(), e);
        }
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new ZotuneException("out folder " + dir + " is a file");
        }
        boolean isRun = Files.isRegularFile(dir.resolve(RUN_JSON));
        if (resume && overwrite) {
            throw new ZotuneException("--resume and --overwrite exclude each other");
        }
        if (resume) {
            if (!isRun || !Checkpoints.exists(dir)) {
                throw new ZotuneException("--resume: out folder " + dir + " holds no checkpoint to resume");
            }
            String diff = firstDifference(readRunConfig(), config.toJson(), "");
            if (diff != null) {
                throw new ZotuneException("--resume: out folder " + dir + " holds a run with a different config (key '"
                        + diff + "'); resume with the same config or use another out folder");
            }
            return;
        }
        if (nonEmpty) {
            if (!overwrite) {
                throw new ZotuneException("out folder " + dir + (isRun ? " already holds a run" : " is not empty")
                        + ": pass --resume to continue it or --overwrite to replace it, or choose another out folder");
            }
            if (!isRun) {
                throw new ZotuneException("--overwrite: out folder " + dir + " is not a zotune run (no " + RUN_JSON
                        + "); refusing to delete it");
            }
            if (!write) {
                return;
            }
            try {
                Checkpoints.deleteTree(dir);
            } catch (IOException e) {
                throw new ZotuneException("--overwrite: cannot clear " + dir + ": " + e.getMessage(), e);
            }
        }
        if (write) {
            AtomicFiles.writeString(dir.resolve(RUN_JSON), config.toJsonString() + "\n");
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
        return a.equals(b) ? null : prefix;
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
            Iterator<String> it = Files.readAllLines(f, StandardCharsets.UTF_8).iterator();
            if (header && it.hasNext()) {
                keep.add(it.next());
            }
            while (it.hasNext()) {
                String line = it.next();
                if (!line.isBlank() && JSON.readTree(line).path("t").asLong() <= t) {
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
