package org.zotune.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.tensor.DType;
import org.zotune.train.config.Data;
import org.zotune.train.config.Dfo;
import org.zotune.train.config.Optimizer;
import org.zotune.train.config.Parallel;
import org.zotune.train.config.Peft;
import org.zotune.train.config.Precision;
import org.zotune.train.config.RecordBinder;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Positive;
import org.zotune.train.config.RecordBinder.Required;
import org.zotune.train.objective.HeadOptions;
import org.zotune.train.objective.SimilarityOptions;
import org.zotune.zo.cuda.NoiseVariant;
import org.zotune.zo.optim.PerturbationStrategy;

/**
 * A training run as read from {@code run.yaml} (every key is documented in the README, section "zotune train").
 * Keys are snake_case; an unknown key, a value of the wrong type or an unknown choice is a one-line
 * {@link ZotuneException} naming the file, the key and the valid choices. Absent keys take the defaults on the
 * components, bound by {@link RecordBinder}; choices are enums (the run-level ones below, a section's with its record
 * in {@code org.zotune.train.config}), stored as their config spelling (the String accessors, e.g.
 * {@code objective()}) and read typed through the {@code ...Kind()} accessors. Here: the run-level keys, what relates
 * keys of several sections, reading and writing, and the keys resolved for the engine (noise, pad_multiple).
 *
 * @param model      a Hugging Face folder or a llama2.c .bin, or {@code bundled} (stories260K)
 * @param tokenizer  the tokenizer file, or null for the model's own
 * @param data       the data set
 * @param objective  lm, classification, accuracy (−accuracy), f1 (−F1), mlm (masked-LM prompt, encoders),
 *                   similarity (label similarity, encoders) or head (a classification head, encoders)
 * @param optimizer  the ZO optimiser and its hyperparameters
 * @param peft       which weights train: full fine-tuning (default) or LoRA adapters over the frozen model
 * @param parallel   data-parallel workers (ALGORITHMS.md §10): how many, and how their replicas are checked
 * @param method     zo (the ZO optimiser, default) or dfo (the DFO-LoRA subspace search of section dfo)
 * @param dfo        method dfo: the DFO-LoRA search (ALGORITHMS.md §7)
 * @param similarity objective similarity's options (label descriptions, pooling, τ)
 * @param head       objective head's options (pooling, linear probe)
 * @param eps        ε of the two-point estimate
 * @param q          SPSA samples per step
 * @param perturbation shadow (θ untouched during a step) or in-place
 * @param steps      optimiser steps
 * @param batchSize  examples per micro-batch
 * @param maxLength  tokens per row: prompts are cut from the left (text: chunk length)
 * @param padMultiple the training batches' length buckets ({@link LengthBuckets}): each batch padded to its longest
 *                   row rounded up to a multiple of this, at most max_length; 0 (auto) is
 *                   {@link LengthBuckets#autoMultiple} on the CUDA engine (its captured step keeps one graph per
 *                   shape) and 1 (the longest row) on the CPU engine, where padding only costs time; a run records
 *                   the resolved value ({@link #withPadMultiple}), absent there meaning 1
 * @param gradAccumulation micro-batches per step (same perturbation; losses averaged)
 * @param evalEvery  evaluate on dev every N steps (0: only at the end)
 * @param evalBatchSize examples per evaluation batch
 * @param earlyStoppingPatience stop after this many evaluations without a better dev metric (0: never)
 * @param metric     the dev metric that selects the best weights: loss, accuracy or f1 (default: accuracy for
 *                   candidate tasks, loss for lm)
 * @param checkpointEvery write a resumable checkpoint every N steps (0: at evaluations and at the end)
 * @param maxBadSteps stop after this many non-finite steps in a row
 * @param device     cpu, cuda or auto
 * @param dtype      f32, bf16 or f16
 * @param noise      how the CUDA engine evaluates the Gaussian noise ({@link NoiseVariant}): auto (fast on CUDA, exact
 *                   on the CPU), exact or fast; a run folder's run.json and trajectory header record the resolved
 *                   variant ({@link #withNoise}), absent there meaning exact
 * @param out        the run folder
 * @param seed       the master seed (step seeds, data order)
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record TrainConfig(
        @Required("a Hugging Face folder, a llama2.c .bin, or bundled") String model,
        String tokenizer,
        @Required("data.format, data.train, ...") Data data,
        @Choice(ObjectiveKind.class) String objective,
        @Default("{}") Optimizer optimizer,
        @Default("{}") Peft peft,
        @Default("{}") Parallel parallel,
        @Default("zo") @Choice(Method.class) String method,
        @Default("{}") Dfo dfo,
        @Default("{}") SimilarityOptions similarity,
        @Default("{}") HeadOptions head,
        @Default("0.001") @Positive Double eps,
        @Default("1") @AtLeast(1) Integer q,
        @Default("shadow") @Choice(Perturbation.class) String perturbation,
        @Default("100") @AtLeast(1) Integer steps,
        @Default("16") @AtLeast(1) Integer batchSize,
        @Default("128") @AtLeast(2) Integer maxLength,
        @Default("0") @AtLeast(0) Integer padMultiple,
        @Default("1") @AtLeast(1) Integer gradAccumulation,
        @Default("0") @AtLeast(0) Integer evalEvery,
        @AtLeast(1) Integer evalBatchSize,
        @Default("0") @AtLeast(0) Integer earlyStoppingPatience,
        @Choice(Metric.class) String metric,
        @Default("0") @AtLeast(0) Integer checkpointEvery,
        @Default("5") @AtLeast(1) Integer maxBadSteps,
        @Default("auto") @Choice(Device.class) String device,
        @Default("f32") @Choice(Precision.class) String dtype,
        @Default("auto") @Choice(NoiseSetting.class) String noise,
        @Required("the run folder") String out,
        @Default("42") Long seed) {

    /**
     * What the run minimises (key objective): the LM loss, the candidates' loss, −accuracy, −F1, or the masked-LM
     * prompt's loss (an encoder with its MLM head; the template is a masked-LM one), label similarity or a
     * classification head's loss (encoders, their pooled output).
     */
    public enum ObjectiveKind { LM, CLASSIFICATION, ACCURACY, F1, MLM, SIMILARITY, HEAD }

    /** How the run trains (key method): the ZO optimiser over the trainable set, or the DFO-LoRA search. */
    public enum Method { ZO, DFO }

    /** The dev metric that selects the best weights (key metric). */
    public enum Metric { LOSS, ACCURACY, F1 }

    /** Where the run trains (key device): auto is CUDA when a device is usable, else the CPU. */
    public enum Device { CPU, CUDA, AUTO }

    /**
     * How the CUDA engine evaluates the Gaussian noise (key noise, ALGORITHMS.md §1 "Exactness (revised)"): auto is
     * the fast variant on the CUDA engine and the exact one on the CPU engine, which has the exact reference only.
     */
    public enum NoiseSetting { AUTO, EXACT, FAST }

    /**
     * What a recorded config (run.json, a trajectory's header) without key noise ran with: zotune before the key had
     * the exact noise only.
     */
    public static final String RECORDED_NOISE_DEFAULT = "exact";

    /** What a recorded config without key pad_multiple ran with: each batch padded to its longest row. */
    public static final int RECORDED_PAD_MULTIPLE_DEFAULT = 1;

    /** How θ is perturbed during a step (key perturbation). */
    public enum Perturbation {
        SHADOW, IN_PLACE;

        public PerturbationStrategy strategy() {
            return this == SHADOW ? PerturbationStrategy.SHADOW : PerturbationStrategy.IN_PLACE;
        }
    }

    /** Per-key defaults, ranges and choices are on the components ({@link RecordBinder}); here what relates keys. */
    public TrainConfig {
        if (objective == null) {
            objective = data.format().equals("text") ? "lm" : "classification";
        }
        if (evalBatchSize == null) {
            evalBatchSize = batchSize;
        }
        if (metric == null) {
            metric = objective.equals("lm") ? "loss" : "accuracy";
        }
        if (objective.equals("lm") && !metric.equals("loss")) {
            throw new ZotuneException("key 'metric': the lm objective is evaluated by loss only, got '" + metric + "'");
        }
        if (optimizer.name().equals("zo-adamu") && q != 1) {
            throw new ZotuneException("key 'q': zo-adamu defines one SPSA sample, got q = " + q);
        }
        if (device.equals("cpu") && noise.equals("fast")) {
            throw new ZotuneException("key 'noise': fast is the CUDA engine's noise; device cpu has the exact noise "
                    + "only (use noise exact or auto)");
        }
        if (parallel.worldSize() > 1 && RecordBinder.choice(Method.class, method) == Method.DFO) {
            throw new ZotuneException("parallel.world_size " + parallel.worldSize() + ": a dfo run spreads its "
                    + "population within one process only so far: over CPU workers (parallel.workers) or that "
                    + "process's GPUs (parallel.gpus)");
        }
    }

    public Method methodKind() {
        return RecordBinder.choice(Method.class, method);
    }

    public ObjectiveKind objectiveKind() {
        return RecordBinder.choice(ObjectiveKind.class, objective);
    }

    public Metric metricKind() {
        return RecordBinder.choice(Metric.class, metric);
    }

    public Device deviceKind() {
        return RecordBinder.choice(Device.class, device);
    }

    public DType paramDType() {
        return RecordBinder.choice(Precision.class, dtype).dtype();
    }

    public PerturbationStrategy strategy() {
        return RecordBinder.choice(Perturbation.class, perturbation).strategy();
    }

    public NoiseSetting noiseSetting() {
        return RecordBinder.choice(NoiseSetting.class, noise);
    }

    /**
     * The noise variant this run's engine takes: auto is fast on the CUDA engine and exact on the CPU engine; fast
     * on the CPU engine is a one-line error (the CPU has the exact reference only).
     *
     * @param cudaEngine whether the run trains on the CUDA engine
     */
    public NoiseVariant noiseVariant(boolean cudaEngine) {
        return switch (noiseSetting()) {
            case EXACT -> NoiseVariant.EXACT;
            case AUTO -> cudaEngine ? NoiseVariant.FAST : NoiseVariant.EXACT;
            case FAST -> {
                if (!cudaEngine) {
                    throw new ZotuneException("key 'noise': fast is the CUDA engine's noise, and this run trains on "
                            + "the CPU engine (device " + device + "), which has the exact noise only; use noise "
                            + "exact or auto");
                }
                yield NoiseVariant.FAST;
            }
        };
    }

    /** This config with key noise set to {@code v} (the resolved variant a run records). */
    public TrainConfig withNoise(NoiseVariant v) {
        ObjectNode json = (ObjectNode) toJson();
        json.put("noise", v.name().toLowerCase(java.util.Locale.ROOT));
        return RecordBinder.bind("config", json, TrainConfig.class);
    }

    /**
     * The length buckets of this run's training batches (key pad_multiple, resolved for the engine: auto is
     * {@link LengthBuckets#autoMultiple} on the CUDA engine, 1 on the CPU engine), at most max_length and
     * {@code positions} (the model's).
     */
    public LengthBuckets lengthBuckets(boolean cudaEngine, int positions) {
        return new LengthBuckets(padMultiple(cudaEngine), Math.max(1, Math.min(maxLength, positions)));
    }

    /** Key pad_multiple resolved for the engine the run trains on (auto: see {@link #lengthBuckets}). */
    public int padMultiple(boolean cudaEngine) {
        if (padMultiple != 0) {
            return padMultiple;
        }
        return cudaEngine && methodKind() == Method.ZO ? LengthBuckets.autoMultiple(maxLength) : 1;
    }

    /** This config with key pad_multiple set to {@code multiple} (the resolved value a run records). */
    public TrainConfig withPadMultiple(int multiple) {
        ObjectNode json = (ObjectNode) toJson();
        json.put("pad_multiple", multiple);
        return RecordBinder.bind("config", json, TrainConfig.class);
    }

    /** The run folder. */
    public Path outDir() {
        return Path.of(out);
    }

    // ---- reading ----

    /** Duplicate keys are an error (YAML and JSON would keep the last, silently). */
    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** Reads {@code file} and applies {@code overrides} ({@code dotted.key=value}, values in YAML syntax). */
    public static TrainConfig read(Path file, List<String> overrides) {
        if (!Files.isRegularFile(file)) {
            throw new ZotuneException("config " + file + " does not exist or is not a file");
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ZotuneException("config " + file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(file.toString(), text, overrides);
    }

    /** Parses YAML text ({@code source} names it in messages) and applies the overrides. */
    public static TrainConfig parse(String source, String yaml, List<String> overrides) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw yamlError(source, e);
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            root = YAML.createObjectNode();
        }
        if (!root.isObject()) {
            throw new ZotuneException(source + ": expected a mapping of keys (model, data, optimizer, ...)");
        }
        ObjectNode obj = (ObjectNode) root;
        for (String o : overrides) {
            applyOverride(source, obj, o);
        }
        return RecordBinder.bind(source, obj, TrainConfig.class);
    }

    /** {@code a.b.c=value}: sets the key, creating mappings on the way; the value is read as a YAML scalar/flow. */
    static void applyOverride(String source, ObjectNode root, String override) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ZotuneException("override '" + override + "': expected key=value (e.g. optimizer.lr=1e-4)");
        }
        String key = override.substring(0, eq).trim();
        String raw = override.substring(eq + 1);
        JsonNode value;
        try {
            value = raw.isEmpty() ? YAML.nullNode() : YAML.readTree(raw);
        } catch (JsonProcessingException e) {
            throw new ZotuneException("override '" + override + "': " + yamlError("value", e).getMessage());
        }
        if (value == null || value.isMissingNode()) {
            value = YAML.nullNode();
        }
        String[] path = key.split("\\.");
        ObjectNode node = root;
        for (int i = 0; i < path.length - 1; i++) {
            JsonNode child = node.get(path[i]);
            if (child == null || child.isNull()) {
                child = node.putObject(path[i]);
            } else if (!child.isObject()) {
                throw new ZotuneException("override '" + override + "': key '" + String.join(".",
                        java.util.Arrays.copyOf(path, i + 1)) + "' is not a mapping");
            }
            node = (ObjectNode) child;
        }
        node.set(path[path.length - 1], value);
    }

    /** The config as JSON (every key, defaults filled in): stored in the run folder to recognise the run. */
    public JsonNode toJson() {
        return JSON.valueToTree(this);
    }

    public String toJsonString() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads back {@link #toJsonString()} (a recorded config: run.json, a trajectory's header); one without key noise
     * was recorded before it and ran with the exact noise ({@link #RECORDED_NOISE_DEFAULT}), one without key
     * pad_multiple with each batch padded to its longest row ({@link #RECORDED_PAD_MULTIPLE_DEFAULT}).
     */
    public static TrainConfig fromJson(String source, String json) {
        try {
            JsonNode tree = JSON.readTree(json);
            if (tree instanceof ObjectNode o && !o.has("noise")) {
                o.put("noise", RECORDED_NOISE_DEFAULT);
            }
            if (tree instanceof ObjectNode o && !o.has("pad_multiple")) {
                o.put("pad_multiple", RECORDED_PAD_MULTIPLE_DEFAULT);
            }
            return RecordBinder.bind(source, tree, TrainConfig.class);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": not valid JSON: " + firstLine(e.getOriginalMessage()));
        }
    }

    /** The YAML parser's error in one line; .nan and .inf are valid YAML, just not values zotune takes. */
    private static ZotuneException yamlError(String source, JsonProcessingException e) {
        String m = firstLine(e.getOriginalMessage());
        String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")";
        if (m.matches("(?i)Malformed numeric value '[-+]?\\.(nan|inf)'.*")) {
            return new ZotuneException(source + where + ": " + m.substring(m.indexOf('\'')).replaceAll("'(.*?)'.*", "$1")
                    + " is not a finite number; zotune takes finite numbers only");
        }
        if (m.startsWith("Duplicate field")) {
            return new ZotuneException(source + where + ": " + m.replace("Duplicate field", "duplicate key"));
        }
        return new ZotuneException(source + ": not valid YAML: " + m);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
