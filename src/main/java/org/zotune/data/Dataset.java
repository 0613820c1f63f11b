package org.zotune.data;

import java.util.List;
import org.zotune.ZotuneException;

/**
 * A read data set: its examples in file order, what kind of task it is, the names of its classes and the text
 * fields every example carries.
 *
 * @param name        a short name for messages, usually the file read
 * @param kind        the task kind
 * @param labels      class names in index order (classification); empty otherwise
 * @param inputFields the text fields a prompt template must use (see {@link Example#fields()})
 * @param examples    the examples, never empty
 * @param skipped     one {@code file:line: reason} entry per malformed row skipped under
 *                    {@link ReadOptions#skipBad()}
 */
public record Dataset(String name, Kind kind, List<String> labels, List<String> inputFields,
        List<Example> examples, List<String> skipped) {

    /** The task a data set poses. */
    public enum Kind {
        /** One of {@link Dataset#labels()}; prompts turn labels into verbalizer words. */
        CLASSIFICATION,
        /** One of each example's own {@link Example#options()}. */
        MULTIPLE_CHOICE,
        /** Text to model (a prompt and its completion, or a text alone): causal-LM loss only. */
        LANGUAGE_MODEL,
        /** A real-valued score in field {@code score} (STS-B); read, not trained on by zotune's objectives. */
        REGRESSION
    }

    public Dataset {
        labels = List.copyOf(labels);
        inputFields = List.copyOf(inputFields);
        examples = List.copyOf(examples);
        skipped = List.copyOf(skipped);
        if (examples.isEmpty()) {
            throw new ZotuneException(name + ": the data set is empty (no examples"
                    + (skipped.isEmpty() ? "" : "; " + skipped.size() + " malformed rows skipped") + ")");
        }
    }

    public int size() {
        return examples.size();
    }

    public Example get(int i) {
        return examples.get(i);
    }

    /** The same data set with other examples (a sample or a split of this one). */
    public Dataset withExamples(String newName, List<Example> subset) {
        return new Dataset(newName, kind, labels, inputFields, subset, List.of());
    }

    /**
     * The same data set with its labels renamed by {@code rename} (label → new name; the examples keep their gold
     * indices): so that the data's labels can be a classifier's id2label names (0 → NEGATIVE, ...). One line naming
     * {@code key} for a data set that is not classification, a name that two labels would share, or, with
     * {@code every} (the training set), a label to rename that the data set lacks; a dev or test file may list fewer
     * labels.
     */
    public Dataset renamed(java.util.Map<String, String> rename, String key, boolean every) {
        if (kind != Kind.CLASSIFICATION) {
            throw new ZotuneException("key '" + key + "' renames a classification data set's labels; " + name
                    + " is " + kind.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' ') + " data");
        }
        for (var e : rename.entrySet()) {
            if (every && !labels.contains(e.getKey())) {
                throw new ZotuneException("key '" + key + "': label '" + e.getKey() + "' is not one of " + name
                        + "'s labels " + labels);
            }
            if (e.getValue() == null || e.getValue().isEmpty()) {
                throw new ZotuneException("key '" + key + "': label '" + e.getKey() + "' is renamed to nothing");
            }
        }
        List<String> out = new java.util.ArrayList<>(labels.size());
        for (String l : labels) {
            String n = rename.getOrDefault(l, l);
            if (out.contains(n)) {
                throw new ZotuneException("key '" + key + "': two of " + name + "'s labels " + labels + " would be "
                        + "named '" + n + "'");
            }
            out.add(n);
        }
        return new Dataset(name, kind, out, inputFields, examples, skipped);
    }

    /** Throws unless every example has a gold label (training and evaluation need one). */
    public Dataset requireLabels() {
        for (Example e : examples) {
            if (!e.labelled()) {
                throw new ZotuneException(e.source() + ": example has no label (data set " + name
                        + " cannot be used for training or evaluation)");
            }
        }
        return this;
    }
}
