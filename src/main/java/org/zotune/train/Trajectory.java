package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.train.run.Fingerprints;
import org.zotune.zo.optim.StepEvaluation;

/**
 * The seed trajectory of a run, {@code trajectory.jsonl}: a header line with what replay needs (the run's config,
 * hence the optimiser settings, the master seed and the parameter dtype) and then one line per step. Version 2
 * (written since the step result became a list of evaluations) holds the step-level fields and then one array per
 * kind of evaluation the step made; today the only kind is the SPSA sample:
 * <pre>
 * {"type": "zotune-trajectory", "version": 2, "config": {...}, "parameters": ["model.embed_tokens.weight", ...]}
 * {"t": 1, "seed": s_t, "lr": η_t, "skipped": false,
 *  "samples": [{"stream": 0, "g": g_0, "g_bits": "419fe327"}, {"stream": 1, "g": g_1, "g_bits": "c1436675"}]}
 * </pre>
 * (one line per step). {@code samples} lists the step's SPSA samples in stream order: sample k's direction is
 * Philox stream k of s_t, {@code g_bits} the float32 bit pattern of its projected gradient (what replay uses: exact
 * whatever the JSON number parser does; {@code g} is for people). A population method will add its own array (e.g.
 * {@code "members"}: member index, its scalars such as the fitness, the per-layer state it used) next to
 * {@code samples}, under a new version. Version 1 (zotune before it) wrote the samples flat:
 * <pre>
 * {"t": 1, "seed": s_t, "g": [g_0, ...], "g_bits": ["3c23d70a", ...], "lr": η_t, "skipped": false}
 * </pre>
 * A header of objective head also holds {@code "head": {"labels": [...], "start_weights": "sha256:..."}} (the
 * classifier's rows and the digest of its start), an optional key that version 2 readers before it ignore.
 * {@link #read} takes each step line by its layout, so it reads both versions, and a version 1 run resumed by this
 * zotune (a version 1 header, then lines of both layouts). With the base model, this file reproduces the
 * fine-tuned weights without a forward pass: θ_T = the updates of steps 1..T, each a function of (s_t, g_t, the
 * optimiser state).
 */
public final class Trajectory {
    static final String FILE = "trajectory.jsonl";
    /** The layout {@link #header} and {@link #line} write. */
    static final int VERSION = 2;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One SPSA sample as recorded: its noise stream k and projected gradient g_k. */
    public record Sample(int stream, float g) {
    }

    /** One step as recorded. */
    public record Step(long t, long seed, List<Sample> samples, float lr, boolean skipped) {
        public Step {
            samples = List.copyOf(samples);
        }

        /** g per sample, in stream order (what the update of this step applies). */
        public float[] g() {
            float[] g = new float[samples.size()];
            for (int k = 0; k < g.length; k++) {
                g[k] = samples.get(k).g();
            }
            return g;
        }
    }

    private Trajectory() {
    }

    static String header(TrainConfig config, List<String> parameterNames) {
        return header(config, parameterNames, null);
    }

    /** @param baseWeights the base weights' {@link Fingerprints#weights} digest (replay checks it), or null */
    static String header(TrainConfig config, List<String> parameterNames, String baseWeights) {
        return header(config, parameterNames, baseWeights, null);
    }

    /**
     * @param baseWeights the base weights' {@link Fingerprints#weights} digest (replay checks it), or null
     * @param head        objective head's classifier (replay rebuilds it from these), or null
     */
    static String header(TrainConfig config, List<String> parameterNames, String baseWeights, Head head) {
        ObjectNode h = JSON.createObjectNode();
        h.put("type", "zotune-trajectory");
        h.put("version", VERSION);
        if (baseWeights != null) {
            h.put("base_weights", baseWeights);
        }
        h.set("config", config.toJson());
        if (head != null) { // an optional key: readers before it ignore it, and other runs' headers are unchanged
            ObjectNode o = h.putObject("head");
            ArrayNode labels = o.putArray("labels");
            head.labels().forEach(labels::add);
            o.put("start_weights", head.startWeights());
        }
        ArrayNode names = h.putArray("parameters");
        parameterNames.forEach(names::add);
        return h.toString();
    }

    static String line(ZoEngine.StepResult r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("t", r.t());
        o.put("seed", r.seed());
        o.put("lr", r.lr());
        o.put("skipped", r.skipped());
        ArrayNode samples = o.putArray("samples");
        for (StepEvaluation.SpsaSample s : r.samples()) {
            ObjectNode n = samples.addObject();
            n.put("stream", s.stream());
            n.put("g", s.g());
            n.put("g_bits", bits(s.g()));
        }
        return o.toString();
    }

    private static String bits(float v) {
        return String.format("%08x", Float.floatToRawIntBits(v));
    }

    /**
     * Objective head's classifier as the run started it: the labels in class order (its rows, config.json's
     * id2label) and the {@link Fingerprints#weights} digest of its initial weight and bias (zero, or the base
     * folder's classifier), so that a replay rebuilds the same model and refuses another start.
     */
    public record Head(List<String> labels, String startWeights) {
        public Head {
            labels = List.copyOf(labels);
        }
    }

    /**
     * A read trajectory.
     *
     * @param baseWeights the base weights' digest the header records, or null (none recorded)
     * @param head        objective head's classifier the header records, or null (another objective, or a header
     *                    written before zotune recorded it)
     * @param file        the file it was read from (named in replay's refusals), or null
     */
    public record Read(TrainConfig config, List<String> parameters, List<Step> steps, String baseWeights, Head head,
            Path file) {
        public Read(TrainConfig config, List<String> parameters, List<Step> steps) {
            this(config, parameters, steps, null);
        }

        public Read(TrainConfig config, List<String> parameters, List<Step> steps, String baseWeights) {
            this(config, parameters, steps, baseWeights, null, null);
        }

        /** "trajectory FILE" for messages (just "the trajectory" when read from no file). */
        public String where() {
            return file == null ? "the trajectory" : "trajectory " + file;
        }
    }

    /** Reads a trajectory of version 1 or 2; anything else is a one-line {@link ZotuneException}. */
    public static Read read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ZotuneException("trajectory " + file + ": cannot read: " + e.getMessage(), e);
        }
        if (lines.isEmpty()) {
            throw new ZotuneException("trajectory " + file + " is empty");
        }
        JsonNode h = parse(file, 1, lines.get(0));
        if (!"zotune-trajectory".equals(h.path("type").asText())) {
            throw new ZotuneException("trajectory " + file + ":1: not a zotune trajectory header (type "
                    + "zotune-trajectory)");
        }
        int version = h.path("version").asInt(-1);
        if (version < 1 || version > VERSION) {
            throw new ZotuneException("trajectory " + file + ":1: version " + h.path("version") + " is not one this "
                    + "zotune reads (1 to " + VERSION + ")");
        }
        TrainConfig config = TrainConfig.fromJson(file + ":1 config", h.path("config").toString());
        List<String> names = new ArrayList<>();
        h.path("parameters").forEach(n -> names.add(n.asText()));
        List<Step> steps = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            String where = "trajectory " + file + ":" + (i + 1) + ": ";
            JsonNode o = parse(file, i + 1, lines.get(i));
            if (!o.path("t").canConvertToLong() || !o.path("seed").canConvertToLong()) {
                throw new ZotuneException(where + "a step needs t, seed and samples");
            }
            List<Sample> samples = o.has("samples") ? samples(where, o.path("samples")) : samplesV1(where, o);
            long t = o.path("t").asLong();
            if (t != steps.size() + 1) {
                throw new ZotuneException(where + "step " + t + " where step " + (steps.size() + 1) + " was expected");
            }
            steps.add(new Step(t, o.path("seed").asLong(), samples, (float) o.path("lr").asDouble(),
                    o.path("skipped").asBoolean()));
        }
        String baseWeights = null;
        if (h.has("base_weights")) {
            baseWeights = Fingerprints.fromJson(file, JSON.createObjectNode().set("base_weights",
                    h.get("base_weights"))).baseWeights();
        }
        return new Read(config, names, steps, baseWeights, head(file, h.get("head")), file);
    }

    private static Head head(Path file, JsonNode o) {
        if (o == null || o.isNull()) {
            return null;
        }
        String where = "trajectory " + file + ":1: key 'head'";
        if (!o.path("labels").isArray() || o.path("labels").size() < 2 || !o.path("start_weights").isTextual()) {
            throw new ZotuneException(where + " needs labels (at least 2) and start_weights");
        }
        List<String> labels = new ArrayList<>();
        for (JsonNode l : o.path("labels")) {
            if (!l.isTextual()) {
                throw new ZotuneException(where + ": labels must be strings, got " + l);
            }
            labels.add(l.asText());
        }
        String start = o.path("start_weights").asText();
        if (!start.matches("sha256:[0-9a-f]{64}")) {
            throw new ZotuneException(where + ": start_weights is not sha256: and 64 hex digits");
        }
        return new Head(labels, start);
    }

    /** Version 2: {@code "samples": [{"stream": k, "g_bits": ...}, ...]} in stream order. */
    private static List<Sample> samples(String where, JsonNode samples) {
        if (!samples.isArray() || samples.isEmpty()) {
            throw new ZotuneException(where + "samples must be a non-empty array of {stream, g, g_bits}");
        }
        List<Sample> out = new ArrayList<>(samples.size());
        for (int k = 0; k < samples.size(); k++) {
            JsonNode s = samples.get(k);
            if (!s.path("stream").canConvertToInt() || !s.path("g_bits").isTextual()) {
                throw new ZotuneException(where + "samples[" + k + "] needs stream and g_bits");
            }
            if (s.path("stream").asInt() != k) {
                throw new ZotuneException(where + "samples[" + k + "] has stream " + s.path("stream").asInt()
                        + "; samples are recorded in stream order 0, 1, ...");
            }
            out.add(new Sample(k, fromBits(where + "samples[" + k + "].g_bits", s.path("g_bits").asText())));
        }
        return out;
    }

    /** Version 1: {@code "g_bits": [...]} flat, sample k at index k. */
    private static List<Sample> samplesV1(String where, JsonNode o) {
        JsonNode bits = o.path("g_bits");
        if (!bits.isArray() || bits.isEmpty()) {
            throw new ZotuneException(where + "a step needs t, seed and samples (or version 1's g_bits)");
        }
        List<Sample> out = new ArrayList<>(bits.size());
        for (int k = 0; k < bits.size(); k++) {
            out.add(new Sample(k, fromBits(where + "g_bits[" + k + "]", bits.get(k).asText())));
        }
        return out;
    }

    private static float fromBits(String what, String hex) {
        try {
            return Float.intBitsToFloat(Integer.parseUnsignedInt(hex, 16));
        } catch (NumberFormatException e) {
            throw new ZotuneException(what + " is not 8 hex digits");
        }
    }

    private static JsonNode parse(Path file, int line, String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new ZotuneException("trajectory " + file + ":" + line + ": not valid JSON");
        }
    }
}
