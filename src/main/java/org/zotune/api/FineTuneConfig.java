package org.zotune.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import org.zotune.ZotuneException;
import org.zotune.train.TrainConfig;
import org.zotune.train.config.RecordBinder;

/**
 * A fine-tuning run's configuration: the same keys, defaults, checks and one-line messages as {@code run.yaml}
 * (every key is described in the README, section "zotune train"), because both are bound onto the same typed
 * records. Immutable and thread-safe.
 * <pre>{@code
 * FineTuneConfig c = FineTuneConfig.builder()
 *         .model(ModelSource.bundled())
 *         .textData(Path.of("train.txt"), Path.of("heldout.txt"))
 *         .optimizer("zo-adamu").lr(3e-4).set("optimizer.schedule", "linear")
 *         .steps(200).batchSize(8).maxLength(64)
 *         .out(Path.of("runs/demo"))
 *         .build();
 * }</pre>
 */
public final class FineTuneConfig {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);

    private final TrainConfig config;

    private FineTuneConfig(TrainConfig config) {
        this.config = config;
    }

    /** An empty builder: keys {@code model}, {@code data} and {@code out} are required, every other has a default. */
    public static Builder builder() {
        return new Builder(YAML.createObjectNode());
    }

    /** Reads a {@code run.yaml} and applies {@code overrides} ({@code dotted.key=value}, values in YAML syntax). */
    public static FineTuneConfig read(Path file, List<String> overrides) {
        return new FineTuneConfig(TrainConfig.read(file, overrides));
    }

    /** Parses YAML text; {@code source} names it in messages. */
    public static FineTuneConfig parse(String source, String yaml, List<String> overrides) {
        return new FineTuneConfig(TrainConfig.parse(source, yaml, overrides));
    }

    /** A builder that starts from every key of this config (defaults filled in). */
    public Builder toBuilder() {
        return new Builder((ObjectNode) config.toJson().deepCopy());
    }

    /** Every key with its value (defaults filled in), as JSON: what the run folder's run.json holds. */
    public String toJson() {
        return config.toJsonString();
    }

    /** The value of a key ({@code dotted.key}), as its JSON text ({@code null} when unset). */
    public String get(String key) {
        JsonNode n = config.toJson();
        for (String part : key.split("\\.")) {
            n = n.path(part);
        }
        if (n.isMissingNode()) {
            throw new ZotuneException("fine-tune config: no key '" + key + "'");
        }
        return n.isTextual() ? n.asText() : n.toString();
    }

    /** The model key, as a source. */
    public ModelSource model() {
        ModelSource m = ModelSource.of(config.model());
        return config.tokenizer() == null ? m : m.withTokenizer(Path.of(config.tokenizer()));
    }

    /** The run folder (key out). */
    public Path out() {
        return config.outDir();
    }

    /** Optimiser steps (key steps). */
    public int steps() {
        return config.steps();
    }

    TrainConfig internal() {
        return config;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FineTuneConfig f && f.config.equals(config);
    }

    @Override
    public int hashCode() {
        return config.hashCode();
    }

    @Override
    public String toString() {
        return "FineTuneConfig" + config.toJson();
    }

    /**
     * Sets keys; {@link #build()} checks them all at once, as a YAML file is checked. The typed setters are
     * shorthands for {@link #set(String, Object)} on the key they name. Not thread-safe; each build is independent.
     */
    public static final class Builder {
        private final ObjectNode root;

        private Builder(ObjectNode root) {
            this.root = root;
        }

        /**
         * Sets a key ({@code dotted} for nested keys, snake_case as in run.yaml) to a value: a String, a number,
         * a boolean, a Path (as its text), a List or a Map of those, or null (unset: the default applies).
         */
        public Builder set(String key, Object value) {
            Objects.requireNonNull(key, "key");
            String[] path = key.split("\\.");
            ObjectNode node = root;
            for (int i = 0; i < path.length - 1; i++) {
                JsonNode child = node.get(path[i]);
                if (child == null || !child.isObject()) {
                    child = node.putObject(path[i]);
                }
                node = (ObjectNode) child;
            }
            node.set(path[path.length - 1], toNode(value));
            return this;
        }

        private static JsonNode toNode(Object value) {
            if (value instanceof Path p) {
                return YAML.getNodeFactory().textNode(p.toString());
            }
            if (value instanceof List<?> l) {
                ArrayNode a = YAML.createArrayNode();
                for (Object o : l) {
                    a.add(toNode(o));
                }
                return a;
            }
            if (value instanceof Enum<?> e) {
                return YAML.getNodeFactory().textNode(RecordBinder.spelling(e));
            }
            if (value instanceof Record) { // a bound section: back to its keys, as run.json writes them
                return JSON.valueToTree(value);
            }
            return YAML.valueToTree(value);
        }

        /** The data section, as a {@link DataSet} holds it. */
        public Builder data(DataSet data) {
            return set("data", data.internal());
        }

        ObjectNode tree() {
            return root;
        }

        /** Key {@code model} (and {@code tokenizer} when the source names one). */
        public Builder model(ModelSource source) {
            set("model", source.spelling());
            return source.tokenizer() == null ? this : set("tokenizer", source.tokenizer());
        }

        /** Plain-text data (key data.format: text): training text and held-out text (or null) in chunks. */
        public Builder textData(Path train, Path dev) {
            set("data.format", "text");
            set("data.train", List.of(train));
            return set("data.dev", dev == null ? null : List.of(dev));
        }

        /** zotune JSON Lines data (key data.format: jsonl): train, dev and test files (dev and test may be null). */
        public Builder jsonlData(Path train, Path dev, Path test) {
            set("data.format", "jsonl");
            set("data.train", List.of(train));
            set("data.dev", dev == null ? null : List.of(dev));
            return set("data.test", test == null ? null : List.of(test));
        }

        /** Key objective: lm, classification, accuracy or f1. */
        public Builder objective(String objective) {
            return set("objective", objective);
        }

        /** Key optimizer.name: zo-sgd, zo-sgd-mmt, zo-adam or zo-adamu. */
        public Builder optimizer(String name) {
            return set("optimizer.name", name);
        }

        /** Key optimizer.lr. */
        public Builder lr(double lr) {
            return set("optimizer.lr", lr);
        }

        /** Key eps. */
        public Builder eps(double eps) {
            return set("eps", eps);
        }

        /** Key steps. */
        public Builder steps(int steps) {
            return set("steps", steps);
        }

        /** Key batch_size. */
        public Builder batchSize(int n) {
            return set("batch_size", n);
        }

        /** Key max_length. */
        public Builder maxLength(int n) {
            return set("max_length", n);
        }

        /** Key eval_every. */
        public Builder evalEvery(int n) {
            return set("eval_every", n);
        }

        /** Key device. */
        public Builder device(Device device) {
            return set("device", device.spelling());
        }

        /** Key dtype. */
        public Builder dtype(Precision precision) {
            return set("dtype", precision.spelling());
        }

        /** Key seed. */
        public Builder seed(long seed) {
            return set("seed", seed);
        }

        /**
         * Keys peft.method (lora), peft.r, peft.alpha and peft.targets: train LoRA adapters W + (alpha/r)·B·A over
         * the frozen model instead of every weight; the run writes a PEFT adapter folder
         * ({@link FineTuneResult#adapterDir()}).
         *
         * @param targets short names (q, k, v, o, up, down, gate, fc1, fc2) or Hugging Face module names
         */
        public Builder lora(int r, double alpha, List<String> targets) {
            set("peft.method", "lora");
            set("peft.r", r);
            set("peft.alpha", alpha);
            return set("peft.targets", targets);
        }

        /**
         * Keys peft.method (prefix) and peft.tokens: train {@code tokens} key/value vectors per attention layer,
         * prepended to the frozen model's own (prefix tuning, on the CPU or CUDA engine), instead of every weight;
         * the run writes a PEFT prefix-tuning adapter folder ({@link FineTuneResult#adapterDir()}). tokens +
         * max_length must fit the model's positions.
         */
        public Builder prefix(int tokens) {
            set("peft.method", "prefix");
            return set("peft.tokens", tokens);
        }

        /**
         * Key parallel.workers: data-parallel replicas of the engine, each micro-batch's examples split over them
         * (CPU engines in this process; {@code set("parallel.split", "samples")} splits the SPSA samples instead).
         */
        public Builder workers(int n) {
            return set("parallel.workers", n);
        }

        /**
         * Key parallel.gpus: data-parallel GPU replicas in this process, one CUDA engine on each of the devices
         * 0 … n − 1, each micro-batch's examples split over them and their loss sums exchanged through NCCL (needs
         * NCCL's libnccl.so.2 and, for n ≥ 2, NCCL_NVLS_ENABLE set; see the README's "Several GPUs and several hosts").
         */
        public Builder gpus(int n) {
            return set("parallel.gpus", n);
        }

        /**
         * Keys parallel.world_size, parallel.rank and parallel.init: this process is rank {@code rank} of a run over
         * {@code worldSize} processes (on one host or several), one GPU each (parallel.local_rank, else rank modulo
         * the visible GPUs), joined through NCCL after a rendezvous at {@code init}: {@code file:///shared/path},
         * {@code tcp://host:port} (rank 0's host) or {@code env://} (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
         * MASTER_PORT). Every process runs the same config; rank 0 alone writes the run folder (out must be on a
         * filesystem every process sees for --resume). A rank that fails or does not arrive within
         * parallel.worker_timeout stops the others with one line naming it.
         */
        public Builder process(int rank, int worldSize, String init) {
            set("parallel.world_size", worldSize);
            set("parallel.rank", rank);
            return set("parallel.init", init);
        }

        /** Key peft.merge: a LoRA run also writes the merged full weights to model/ (and best/). */
        public Builder mergeAdapter(boolean merge) {
            return set("peft.merge", merge);
        }

        /** Key out: the run folder. */
        public Builder out(Path dir) {
            return set("out", dir);
        }

        /** Checks every key; an unknown key or a bad value is one {@link ZotuneException} line naming it. */
        public FineTuneConfig build() {
            return new FineTuneConfig(RecordBinder.bind("fine-tune config", root.deepCopy(), TrainConfig.class));
        }
    }
}
