package org.zotune.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/**
 * A training run as read from {@code run.yaml} (every key is documented in the README, section "zotune train").
 * Keys are snake_case; an unknown key, a value of the wrong type or an unknown choice is a one-line
 * {@link ZotuneException} naming the file, the key and the valid choices. Absent keys take the defaults below.
 *
 * @param model      a Hugging Face folder or a llama2.c .bin, or {@code bundled} (stories260K)
 * @param tokenizer  the tokenizer file, or null for the model's own
 * @param data       the data set
 * @param objective  lm, classification, accuracy (−accuracy) or f1 (−F1)
 * @param optimizer  the ZO optimiser and its hyperparameters
 * @param eps        ε of the two-point estimate
 * @param q          SPSA samples per step
 * @param perturbation shadow (θ untouched during a step) or in-place
 * @param steps      optimiser steps
 * @param batchSize  examples per micro-batch
 * @param maxLength  tokens per row: prompts are cut from the left (text: chunk length)
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
 * @param out        the run folder
 * @param seed       the master seed (step seeds, data order)
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record TrainConfig(String model, String tokenizer, Data data, String objective, Optimizer optimizer,
        Double eps, Integer q, String perturbation, Integer steps, Integer batchSize, Integer maxLength,
        Integer gradAccumulation, Integer evalEvery, Integer evalBatchSize, Integer earlyStoppingPatience,
        String metric, Integer checkpointEvery, Integer maxBadSteps, String device, String dtype, String out,
        Long seed) {

    public static final List<String> OBJECTIVES = List.of("lm", "classification", "accuracy", "f1");
    public static final List<String> METRICS = List.of("loss", "accuracy", "f1");

    public TrainConfig {
        if (model == null || model.isBlank()) {
            throw new ZotuneException("key 'model' is required (a Hugging Face folder, a llama2.c .bin, or bundled)");
        }
        if (data == null) {
            throw new ZotuneException("key 'data' is required (data.format, data.train, ...)");
        }
        objective = choice("objective", objective, data.format().equals("text") ? "lm" : "classification",
                OBJECTIVES);
        if (optimizer == null) {
            optimizer = new Optimizer(null, null, null, null, null, null, null, null, null, null, null, null, null, null);
        }
        eps = positive("eps", eps, 1e-3);
        q = atLeast("q", q, 1, 1);
        perturbation = choice("perturbation", perturbation, "shadow", List.of("shadow", "in-place"));
        steps = atLeast("steps", steps, 100, 1);
        batchSize = atLeast("batch_size", batchSize, 16, 1);
        maxLength = atLeast("max_length", maxLength, 128, 2);
        gradAccumulation = atLeast("grad_accumulation", gradAccumulation, 1, 1);
        evalEvery = atLeast("eval_every", evalEvery, 0, 0);
        evalBatchSize = atLeast("eval_batch_size", evalBatchSize, batchSize, 1);
        earlyStoppingPatience = atLeast("early_stopping_patience", earlyStoppingPatience, 0, 0);
        metric = choice("metric", metric, objective.equals("lm") ? "loss" : "accuracy", METRICS);
        if (objective.equals("lm") && !metric.equals("loss")) {
            throw new ZotuneException("key 'metric': the lm objective is evaluated by loss only, got '" + metric + "'");
        }
        checkpointEvery = atLeast("checkpoint_every", checkpointEvery, 0, 0);
        maxBadSteps = atLeast("max_bad_steps", maxBadSteps, 5, 1);
        device = choice("device", device, "auto", List.of("cpu", "cuda", "auto"));
        dtype = choice("dtype", dtype, "f32", List.of("f32", "bf16", "f16"));
        if (out == null || out.isBlank()) {
            throw new ZotuneException("key 'out' is required (the run folder)");
        }
        if (seed == null) {
            seed = 42L;
        }
        if (optimizer.name().equals("zo-adamu") && q != 1) {
            throw new ZotuneException("key 'q': zo-adamu defines one SPSA sample, got q = " + q);
        }
    }

    /**
     * The data set.
     *
     * @param format   jsonl (zotune JSON Lines), sst2 (GLUE TSV), tsv (GLUE-style TSV, see text_column /
     *                 label_column), label-sentence, superglue, kshot (LM-BFF folders) or text (plain text chunks)
     * @param train    training file(s) (kshot: the data root)
     * @param dev      dev file(s), or null: dev (and test) drawn from train by {@code splits}
     * @param test     test file(s), or null
     * @param task     superglue / kshot task name (e.g. boolq, SST-2)
     * @param template a built-in template name or a pattern with {field} placeholders ending in {label} / {option}
     * @param verbalizer label → word, for a pattern ending in {label}
     * @param classes  label-sentence: the number of classes
     * @param textColumn  tsv: the text column (default sentence)
     * @param labelColumn tsv: the label column (default label)
     * @param kShot    keep k training examples per class (0: all)
     * @param splits   sizes drawn from the train pool (train, dev, test); absent: use the files as given
     * @param seed     seed of k-shot sampling and splits (default: the run's seed)
     * @param maxExamples text: at most this many training chunks (0: all)
     */
    public record Data(String format, List<String> train, List<String> dev, List<String> test, String task,
            String template, Map<String, String> verbalizer, Integer classes, String textColumn, String labelColumn,
            Integer kShot, Splits splits, Long seed, Integer maxExamples) {
        public static final List<String> FORMATS = List.of("jsonl", "sst2", "tsv", "label-sentence", "superglue",
                "kshot", "text");

        public Data {
            format = choice("data.format", format, null, FORMATS);
            if (train == null || train.isEmpty()) {
                throw new ZotuneException("key 'data.train' is required (the training file or files)");
            }
            train = List.copyOf(train);
            dev = dev == null ? List.of() : List.copyOf(dev);
            test = test == null ? List.of() : List.copyOf(test);
            kShot = atLeast("data.k_shot", kShot, 0, 0);
            maxExamples = atLeast("data.max_examples", maxExamples, 0, 0);
            if (!format.equals("text") && !format.equals("jsonl") && template == null) {
                throw new ZotuneException("key 'data.template' is required for data.format " + format
                        + " (a built-in template name or a pattern ending in {label} / {option})");
            }
        }
    }

    /** Sizes drawn (seeded, without overlap) from the train pool. */
    public record Splits(Integer train, Integer dev, Integer test) {
        public Splits {
            train = atLeast("data.splits.train", train, 0, 1);
            dev = atLeast("data.splits.dev", dev, 0, 0);
            test = atLeast("data.splits.test", test, 0, 0);
        }
    }

    /**
     * The ZO optimiser.
     *
     * @param name        zo-sgd, zo-sgd-mmt, zo-adam or zo-adamu
     * @param lr          the peak learning rate
     * @param schedule    constant or linear (decay to 0 over the run)
     * @param weightDecay λ
     * @param momentum    zo-sgd-mmt's μ
     * @param beta1       zo-adam's β1
     * @param beta2       zo-adam's β2
     * @param epsilon     zo-adam's ε
     * @param sigma       zo-adamu's σ
     * @param noise       zo-sgd's direction distribution: gaussian or rademacher
     * @param t1          zo-adamu phase boundary T1 (default min(1024, 5% of steps))
     * @param t2          zo-adamu T2 (default 80% of steps)
     * @param t3          zo-adamu T3 (default steps)
     * @param stateDtype  storage of the optimiser state m (and v): f32 (default), bf16 or f16; values are
     *                    computed in float32 and rounded to nearest even when stored (zo-sgd has no state)
     */
    public record Optimizer(String name, Double lr, String schedule, Double weightDecay, Double momentum,
            Double beta1, Double beta2, Double epsilon, Double sigma, String noise, Long t1, Long t2, Long t3,
            String stateDtype) {
        public static final List<String> NAMES = List.of("zo-sgd", "zo-sgd-mmt", "zo-adam", "zo-adamu");

        public Optimizer {
            name = choice("optimizer.name", name, "zo-sgd", NAMES);
            double defaultLr = switch (name) {
                case "zo-adamu" -> 1e-4;
                case "zo-adam" -> 1e-4;
                default -> 1e-6;
            };
            lr = nonNegative("optimizer.lr", lr, defaultLr);
            schedule = choice("optimizer.schedule", schedule, "constant", List.of("constant", "linear"));
            weightDecay = nonNegative("optimizer.weight_decay", weightDecay, 0.0);
            momentum = nonNegative("optimizer.momentum", momentum, 0.9);
            beta1 = nonNegative("optimizer.beta1", beta1, 0.9);
            beta2 = nonNegative("optimizer.beta2", beta2, 0.999);
            epsilon = positive("optimizer.epsilon", epsilon, 1e-8);
            sigma = positive("optimizer.sigma", sigma, 1e-8);
            noise = choice("optimizer.noise", noise, "gaussian", List.of("gaussian", "rademacher"));
            stateDtype = choice("optimizer.state_dtype", stateDtype, "f32", List.of("f32", "bf16", "f16"));
        }

        /** The storage type of the optimiser state. */
        public DType stateDType() {
            return DType.parse(stateDtype);
        }

        public LrSchedule lrSchedule(long steps) {
            return schedule.equals("linear") ? LrSchedule.linear(lr, steps) : LrSchedule.constant(lr);
        }

        /** The optimiser's validated configuration record. */
        public ZoOptimizerConfig referenceConfig(long steps) {
            LrSchedule s = lrSchedule(steps);
            return switch (name) {
                case "zo-sgd" -> new ZoSgd.Config(s, weightDecay, Noise.Distribution.parse(noise));
                case "zo-sgd-mmt" -> new ZoSgdMomentum.Config(s, momentum, weightDecay, stateDType());
                case "zo-adam" -> new ZoAdam.Config(s, beta1, beta2, epsilon, weightDecay, stateDType());
                case "zo-adamu" -> {
                    AdaMuSchedule d = AdaMuSchedule.defaults(steps);
                    AdaMuSchedule a = d.withPhases(t1 != null ? t1 : d.t1(), t2 != null ? t2 : d.t2(),
                            t3 != null ? t3 : d.t3());
                    yield new ZoAdaMu.Config(s, a, sigma, weightDecay, stateDType());
                }
                default -> throw new AssertionError(name);
            };
        }
    }

    public DType paramDType() {
        return DType.parse(dtype);
    }

    public PerturbationStrategy strategy() {
        return PerturbationStrategy.parse(perturbation);
    }

    /** The run folder. */
    public Path outDir() {
        return Path.of(out);
    }

    // ---- reading ----

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    private static final ObjectMapper JSON = new ObjectMapper()
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
            throw new ZotuneException(source + ": not valid YAML: " + firstLine(e.getOriginalMessage()));
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
        checkKeys(source, obj, TrainConfig.class, "");
        return bind(source, obj);
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
            throw new ZotuneException("override '" + override + "': value is not valid YAML");
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

    /**
     * Unknown keys first, before any value is checked, so a misspelt key is reported as such (and not as the
     * required key it was meant to be).
     */
    private static void checkKeys(String source, JsonNode node, Class<?> type, String prefix) {
        if (!node.isObject() || !type.isRecord()) {
            return;
        }
        Map<String, java.lang.reflect.RecordComponent> known = new java.util.TreeMap<>();
        for (java.lang.reflect.RecordComponent rc : type.getRecordComponents()) {
            known.put(snake(rc.getName()), rc);
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            String key = prefix.isEmpty() ? k : prefix + "." + k;
            java.lang.reflect.RecordComponent rc = known.get(k);
            if (rc == null) {
                throw new ZotuneException(source + ": unknown key '" + key + "' (valid keys"
                        + (prefix.isEmpty() ? "" : " in '" + prefix + "'") + ": " + String.join(", ", known.keySet())
                        + ")");
            }
            checkKeys(source, node.get(k), rc.getType(), key);
        }
    }

    private static String snake(String camel) {
        StringBuilder b = new StringBuilder();
        for (char c : camel.toCharArray()) {
            if (Character.isUpperCase(c)) {
                b.append('_').append(Character.toLowerCase(c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    static TrainConfig bind(String source, JsonNode tree) {
        try {
            return YAML.treeToValue(tree, TrainConfig.class);
        } catch (UnrecognizedPropertyException e) {
            String key = dotted(e.getPath());
            List<String> valid = sorted(e.getKnownPropertyIds());
            throw new ZotuneException(source + ": unknown key '" + key + "' (valid keys"
                    + (key.contains(".") ? " in '" + key.substring(0, key.lastIndexOf('.')) + "'" : "") + ": "
                    + String.join(", ", valid) + ")");
        } catch (InvalidFormatException e) {
            throw new ZotuneException(source + ": key '" + dotted(e.getPath()) + "': expected " + typeName(
                    e.getTargetType()) + ", got '" + e.getValue() + "'");
        } catch (MismatchedInputException e) {
            throw new ZotuneException(source + ": key '" + dotted(e.getPath()) + "': expected " + typeName(
                    e.getTargetType()) + " (" + firstLine(e.getOriginalMessage()) + ")");
        } catch (JsonMappingException e) {
            Throwable c = e.getCause();
            if (c instanceof ZotuneException z) {
                throw new ZotuneException(source + ": " + z.getMessage());
            }
            throw new ZotuneException(source + ": " + firstLine(e.getOriginalMessage()));
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": " + firstLine(e.getOriginalMessage()));
        } catch (ZotuneException e) {
            throw new ZotuneException(source + ": " + e.getMessage());
        }
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

    /** Reads back {@link #toJsonString()}. */
    public static TrainConfig fromJson(String source, String json) {
        try {
            return bind(source, JSON.readTree(json));
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": not valid JSON: " + firstLine(e.getOriginalMessage()));
        }
    }

    // ---- validation helpers (messages name the key and the choices) ----

    static String choice(String key, String value, String dflt, List<String> choices) {
        if (value == null) {
            if (dflt == null) {
                throw new ZotuneException("key '" + key + "' is required (one of " + String.join(", ", choices) + ")");
            }
            return dflt;
        }
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (!choices.contains(v)) {
            throw new ZotuneException("key '" + key + "': unknown value '" + value + "' (valid: "
                    + String.join(", ", choices) + ")");
        }
        return v;
    }

    static Integer atLeast(String key, Integer value, int dflt, int min) {
        int v = value == null ? dflt : value;
        if (v < min) {
            throw new ZotuneException("key '" + key + "' must be >= " + min + ", got " + v);
        }
        return v;
    }

    static Double positive(String key, Double value, double dflt) {
        double v = value == null ? dflt : value;
        if (!Double.isFinite(v) || v <= 0) {
            throw new ZotuneException("key '" + key + "' must be a finite number > 0, got " + v);
        }
        return v;
    }

    static Double nonNegative(String key, Double value, double dflt) {
        double v = value == null ? dflt : value;
        if (!Double.isFinite(v) || v < 0) {
            throw new ZotuneException("key '" + key + "' must be a finite number >= 0, got " + v);
        }
        return v;
    }

    private static String dotted(List<JsonMappingException.Reference> path) {
        List<String> parts = new ArrayList<>();
        for (JsonMappingException.Reference r : path) {
            if (r.getFieldName() != null) {
                parts.add(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                parts.add(Integer.toString(r.getIndex()));
            }
        }
        return String.join(".", parts);
    }

    private static List<String> sorted(Collection<Object> ids) {
        return new TreeSet<>(ids.stream().map(String::valueOf).collect(Collectors.toList())).stream().toList();
    }

    private static String typeName(Class<?> c) {
        if (c == null) {
            return "another type";
        }
        if (c == Integer.class || c == int.class || c == Long.class || c == long.class) {
            return "an integer";
        }
        if (c == Double.class || c == double.class) {
            return "a number";
        }
        if (c == String.class) {
            return "a string";
        }
        if (List.class.isAssignableFrom(c)) {
            return "a list";
        }
        if (Map.class.isAssignableFrom(c) || c.isRecord()) {
            return "a mapping";
        }
        return c.getSimpleName();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
