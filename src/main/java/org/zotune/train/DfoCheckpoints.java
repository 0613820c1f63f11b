package org.zotune.train;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.dfo.DfoSearch;
import org.zotune.model.io.AtomicFiles;

/**
 * A DFO-LoRA run's resumable checkpoints, in the same {@code <run>/checkpoint/} layout as {@link Checkpoints}: a
 * folder {@code step-<n>/} per checkpoint (n = generations done) holding {@code search.bin} (the whole
 * {@link DfoSearch} state: position in the schedule, the budget counter, every layer's best z and loss as exact
 * doubles, each live optimiser's own state) and {@code state.json} (the same position and counters readable, the
 * projection seed, the per-layer best losses). {@code latest.json} names the complete checkpoint and is replaced
 * atomically after the folder is written, so a crash leaves the previous one in force.
 */
public final class DfoCheckpoints {
    static final String SEARCH = "search.bin";
    static final String STATE = "state.json";
    // a key given twice (which step, which projection seed?) is refused, not decided by the last one
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private DfoCheckpoints() {
    }

    public static void save(Path run, DfoSearch search, long projectionSeed) {
        Path root = run.resolve(Checkpoints.DIR);
        long n = search.position();
        Path dir = root.resolve("step-" + n);
        AtomicFiles.write(dir.resolve(SEARCH), ch -> {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(ch)));
            search.writeState(out);
            out.flush(); // not closed: the channel is AtomicFiles', which syncs and closes it
        });
        ObjectNode o = JSON.createObjectNode();
        o.put("method", "dfo");
        o.put("t", n);
        o.put("generations", search.totalGenerations());
        o.put("evaluations", search.evaluations());
        o.put("budget", search.settings().budget());
        o.put("next_layer", search.done() ? -1 : search.layerOf(n));
        o.put("projection_seed", projectionSeed);
        ArrayNode losses = o.putArray("best_loss");
        for (double v : search.bestLosses()) {
            losses.add(v);
        }
        AtomicFiles.writeString(dir.resolve(STATE), o.toPrettyString() + "\n");
        ObjectNode latest = JSON.createObjectNode();
        latest.put("step", n);
        latest.put("dir", "step-" + n);
        AtomicFiles.writeString(root.resolve(Checkpoints.LATEST), latest.toPrettyString() + "\n");
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root, "step-*")) {
            for (Path p : s) {
                if (!p.equals(dir)) {
                    Checkpoints.deleteTree(p);
                }
            }
        } catch (IOException e) {
            throw new ZotuneException(root + ": cannot remove an old checkpoint: " + e.getMessage(), e);
        }
    }

    /** Restores {@code search} (made with the run's settings) from the run's latest checkpoint. */
    public static void load(Path run, DfoSearch search, long projectionSeed) {
        Checkpoints.Latest l = Checkpoints.latest(run);
        JsonNode latest = l.pointer();
        Path dir = l.dir();
        Path stateFile = dir.resolve(STATE);
        JsonNode st = Checkpoints.readJson(stateFile);
        if (!"dfo".equals(st.path("method").asText())) {
            throw new ZotuneException(stateFile + ": not a checkpoint of a dfo run");
        }
        if (!st.path("projection_seed").isIntegralNumber() || st.path("projection_seed").asLong() != projectionSeed) {
            throw new ZotuneException(stateFile + ": key 'projection_seed' " + st.path("projection_seed")
                    + " is not this run's " + projectionSeed);
        }
        Path file = dir.resolve(SEARCH);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
            DataInputStream d = new DataInputStream(in);
            search.readState(d);
            if (d.read() != -1) {
                throw new ZotuneException(file + ": bytes after the search state (not written by this zotune)");
            }
        } catch (EOFException e) {
            throw new ZotuneException(file + ": cut short; cannot continue this run");
        } catch (ZotuneException e) {
            throw e.getMessage().startsWith(file.toString()) ? e : new ZotuneException(file + ": " + e.getMessage());
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read the checkpoint: " + e.getMessage(), e);
        }
        if (search.position() != latest.path("step").asLong()) {
            throw new ZotuneException(file + ": generation " + search.position() + " is not the step "
                    + latest.path("step").asLong() + " that " + Checkpoints.LATEST + " names");
        }
    }
}
