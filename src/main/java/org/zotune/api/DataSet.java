package org.zotune.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import org.zotune.train.config.Data;
import org.zotune.train.config.RecordBinder;

/**
 * A data set as the {@code data} section of run.yaml describes it (format, files, template, ...; the same keys,
 * defaults and checks), for {@link Model#evaluate}, which scores its {@link #split()} (train unless set: the file
 * key {@code train} names). Immutable and thread-safe.
 */
public final class DataSet {
    private final Data data;
    private final String split;

    private DataSet(Data data, String split) {
        this.data = data;
        this.split = split;
    }

    /** Plain text scored in chunks of the evaluation's max length. */
    public static DataSet text(Path file) {
        return builder().set("format", "text").set("train", List.of(file)).build();
    }

    /** zotune JSON Lines (classification or multiple choice rows). */
    public static DataSet jsonl(Path file) {
        return builder().set("format", "jsonl").set("train", List.of(file)).build();
    }

    /** Keys of the data section ({@code format}, {@code train}, {@code template}, ...) set one by one. */
    public static Builder builder() {
        return new Builder();
    }

    Data internal() {
        return data;
    }

    /** The split {@link Model#evaluate} scores: train (default), dev or test (the files of key train, dev, test). */
    public String split() {
        return split;
    }

    /** Sets data keys; {@link #build()} checks them as run.yaml's data section is checked. Not thread-safe. */
    public static final class Builder {
        private final FineTuneConfig.Builder keys = FineTuneConfig.builder();
        private String split = "train";

        private Builder() {
        }

        /**
         * The split to score: train (default), dev or test, read from the files of the key of that name (an LM-BFF
         * kshot root read as that split: its dev.tsv / test.tsv).
         */
        public Builder split(String name) {
            if (!List.of("train", "dev", "test").contains(name)) {
                throw new org.zotune.ZotuneException("split '" + name + "' is not one of train, dev, test");
            }
            split = name;
            return this;
        }

        /** A key of the data section (snake_case, as in run.yaml: format, train, task, template, k_shot, ...). */
        public Builder set(String key, Object value) {
            keys.set("data." + key, value);
            return this;
        }

        /** Messages name the key as {@code key 'data.<key>'}. */
        public DataSet build() {
            ObjectNode section = (ObjectNode) keys.tree().path("data");
            Data data = RecordBinder.bind(null, section == null ? new ObjectMapper().createObjectNode()
                    : section, Data.class, "data");
            if (!split.equals("train") && (split.equals("dev") ? data.dev() : data.test()).isEmpty()) {
                throw new org.zotune.ZotuneException("split " + split + " is scored from key 'data." + split
                        + "', which names no file");
            }
            return new DataSet(data, split);
        }
    }
}
