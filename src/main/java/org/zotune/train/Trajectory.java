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

/**
 * The seed trajectory of a run, {@code trajectory.jsonl}: a header line with what replay needs (the run's config,
 * hence the optimiser settings, the master seed and the parameter dtype) and then one line per step:
 * <pre>
 * {"t": 1, "seed": s_t, "g": [g_0, ...], "g_bits": ["3c23d70a", ...], "lr": η_t, "skipped": false}
 * </pre>
 * {@code g_bits} are the float32 bit patterns of the projected gradients (what replay uses: exact whatever the
 * JSON number parser does). With the base model, this file reproduces the fine-tuned weights without a forward pass:
 * θ_T = the updates of steps 1..T, each a function of (s_t, g_t, the optimiser state).
 */
public final class Trajectory {
    static final String FILE = "trajectory.jsonl";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One step as recorded. */
    public record Step(long t, long seed, float[] g, float lr, boolean skipped) {
    }

    private Trajectory() {
    }

    static String header(TrainConfig config, List<String> parameterNames) {
        ObjectNode h = JSON.createObjectNode();
        h.put("type", "zotune-trajectory");
        h.put("version", 1);
        h.set("config", config.toJson());
        ArrayNode names = h.putArray("parameters");
        parameterNames.forEach(names::add);
        return h.toString();
    }

    static String line(ZoEngine.StepResult r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("t", r.t());
        o.put("seed", r.seed());
        ArrayNode g = o.putArray("g");
        ArrayNode bits = o.putArray("g_bits");
        for (float v : r.projectedGradient()) {
            g.add(v);
            bits.add(String.format("%08x", Float.floatToRawIntBits(v)));
        }
        o.put("lr", r.lr());
        o.put("skipped", r.skipped());
        return o.toString();
    }

    /** A read trajectory. */
    public record Read(TrainConfig config, List<String> parameters, List<Step> steps) {
    }

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
        TrainConfig config = TrainConfig.fromJson(file + ":1 config", h.path("config").toString());
        List<String> names = new ArrayList<>();
        h.path("parameters").forEach(n -> names.add(n.asText()));
        List<Step> steps = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            JsonNode o = parse(file, i + 1, lines.get(i));
            JsonNode bits = o.path("g_bits");
            if (!o.path("t").canConvertToLong() || !o.path("seed").canConvertToLong() || !bits.isArray()
                    || bits.isEmpty()) {
                throw new ZotuneException("trajectory " + file + ":" + (i + 1) + ": a step needs t, seed and g_bits");
            }
            float[] g = new float[bits.size()];
            for (int k = 0; k < g.length; k++) {
                try {
                    g[k] = Float.intBitsToFloat(Integer.parseUnsignedInt(bits.get(k).asText(), 16));
                } catch (NumberFormatException e) {
                    throw new ZotuneException("trajectory " + file + ":" + (i + 1) + ": g_bits[" + k + "] is not 8 "
                            + "hex digits");
                }
            }
            long t = o.path("t").asLong();
            if (t != steps.size() + 1) {
                throw new ZotuneException("trajectory " + file + ":" + (i + 1) + ": step " + t + " where step "
                        + (steps.size() + 1) + " was expected");
            }
            steps.add(new Step(t, o.path("seed").asLong(), g, (float) o.path("lr").asDouble(),
                    o.path("skipped").asBoolean()));
        }
        return new Read(config, names, steps);
    }

    private static JsonNode parse(Path file, int line, String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new ZotuneException("trajectory " + file + ":" + line + ": not valid JSON");
        }
    }
}
