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
