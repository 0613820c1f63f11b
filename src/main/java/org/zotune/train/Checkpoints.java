package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.zotune.ZotuneException;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * Resumable checkpoints in {@code <run>/checkpoint/}: each is a folder {@code step-<t>/} holding
 * {@code params.safetensors} (θ, zotune layout, exact values), {@code optimizer.safetensors} (the optimiser's state)
 * and {@code state.json} (step t = the RNG position, since s_t is a pure function of the master seed and t; the data
 * position, which is the step too; skip counters; best-on-dev bookkeeping). {@code latest.json} names the complete
 * checkpoint and is replaced atomically after the folder is written, so a crash leaves the previous one in force.
 */
public final class Checkpoints {
    static final String DIR = "checkpoint";
    static final String LATEST = "latest.json";
    // a key given twice is refused, not silently overwritten (latest.json and state.json of ZO and dfo runs)
    private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /**
     * Trainer bookkeeping saved with the engine state.
     *
     * @param bestValue          the best dev metric so far (NaN: none)
     * @param bestStep           its step (-1: none)
     * @param evalsWithoutBetter evaluations since the best one (early stopping)
     * @param initialDev         the dev metric before training (NaN: none)
     */
    public record Progress(double bestValue, long bestStep, int evalsWithoutBetter, double initialDev) {
    }

    /** A loaded checkpoint. */
    public record Loaded(ZoEngine.State state, Progress progress) {
    }

    private Checkpoints() {
    }

    public static void save(Path run, ZoEngine.State s, Progress p) {
        Path root = run.resolve(DIR);
        Path dir = root.resolve("step-" + s.t());
        SafetensorsWriter.write(dir.resolve("params.safetensors"), s.parameters());
        if (!s.optimizerState().isEmpty()) { // zo-sgd has no state
            SafetensorsWriter.write(dir.resolve("optimizer.safetensors"), s.optimizerState());
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("t", s.t());
        o.put("rng_step", s.t());
        o.put("data_position", s.t());
        o.put("skipped", s.skipped());
        o.put("bad_in_a_row", s.badInARow());
        o.put("best_value", p.bestValue());
        o.put("best_step", p.bestStep());
        o.put("evals_without_better", p.evalsWithoutBetter());
        o.put("initial_dev", p.initialDev());
        AtomicFiles.writeString(dir.resolve("state.json"), o.toPrettyString() + "\n");
        ObjectNode latest = JSON.createObjectNode();
        latest.put("step", s.t());
        latest.put("dir", "step-" + s.t());
        AtomicFiles.writeString(root.resolve(LATEST), latest.toPrettyString() + "\n");
        deleteOthers(root, dir);
    }

    public static boolean exists(Path run) {
        return Files.isRegularFile(run.resolve(DIR).resolve(LATEST));
    }

    public static Loaded load(Path run) {
        Latest l = latest(run);
        JsonNode latest = l.pointer();
        Path dir = l.dir();
        Path stateFile = dir.resolve("state.json");
        JsonNode st = readJson(stateFile);
        for (String k : new String[] {"t", "skipped", "bad_in_a_row", "best_step", "evals_without_better"}) {
            if (!st.path(k).canConvertToLong() || !st.path(k).isIntegralNumber()) {
                throw new ZotuneException(stateFile + ": key '" + k + "' must be an integer");
            }
        }
        if (st.path("t").asLong() != latest.path("step").asLong()) {
            throw new ZotuneException(stateFile + ": step " + st.path("t").asLong() + " is not the step "
                    + latest.path("step").asLong() + " that " + LATEST + " names");
        }
        List<HostTensor> params = ordered(SafetensorsFile.open(dir.resolve("params.safetensors")));
        Path optFile = dir.resolve("optimizer.safetensors");
        List<HostTensor> opt = Files.isRegularFile(optFile) ? ordered(SafetensorsFile.open(optFile)) : List.of();
        ZoEngine.State state = new ZoEngine.State(st.path("t").asLong(), st.path("skipped").asLong(),
                st.path("bad_in_a_row").asInt(), params, opt);
        Progress p = new Progress(st.path("best_value").asDouble(Double.NaN), st.path("best_step").asLong(-1),
                st.path("evals_without_better").asInt(), st.path("initial_dev").asDouble(Double.NaN));
        return new Loaded(state, p);
    }

    /** The checkpoint pointer of a run folder: latest.json as read, and the step folder it names. */
    record Latest(JsonNode pointer, Path dir) {
        long step() {
            return pointer.path("step").asLong();
        }
    }

    /** Reads and checks {@code checkpoint/latest.json} ({"step": t, "dir": "step-t"}) of any run (ZO or dfo). */
    static Latest latest(Path run) {
        Path root = run.resolve(DIR);
        Path latestFile = root.resolve(LATEST);
        JsonNode latest = readJson(latestFile);
        String name = latest.path("dir").asText();
        if (!name.matches("step-[0-9]{1,19}") || !latest.path("step").canConvertToLong()
                || !name.equals("step-" + latest.path("step").asLong())) {
            throw new ZotuneException(latestFile + ": not a checkpoint pointer ({\"step\": t, \"dir\": \"step-t\"})");
        }
        return new Latest(latest, root.resolve(name));
    }

    /** A checkpoint JSON file that must be an object; a parse error or a duplicate key is one line naming it. */
    static JsonNode readJson(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new ZotuneException(file + ": cannot read the checkpoint: not a JSON object");
            }
            return n;
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read the checkpoint: " + e.getMessage().lines().findFirst()
                    .orElse(""), e);
        }
    }

    /** In written order: SafetensorsWriter sorts by dtype width only (stable), and ours share one dtype. */
    private static List<HostTensor> ordered(SafetensorsFile f) {
        List<SafetensorsFile.Entry> entries = new ArrayList<>(f.entries().values());
        entries.sort(Comparator.comparingLong(SafetensorsFile.Entry::begin));
        List<HostTensor> out = new ArrayList<>(entries.size());
        for (SafetensorsFile.Entry e : entries) {
            out.add(f.tensor(e.name()));
        }
        return out;
    }

    private static void deleteOthers(Path root, Path keep) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, "step-*")) {
            for (Path p : s) {
                if (!p.equals(keep)) {
                    deleteTree(p);
                }
            }
        } catch (IOException e) {
            throw new ZotuneException(root + ": cannot remove an old checkpoint: " + e.getMessage(), e);
        }
    }

    /** Deletes a file or folder with everything in it (nothing when absent). */
    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> w = Files.walk(p)) {
            for (Path q : w.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
