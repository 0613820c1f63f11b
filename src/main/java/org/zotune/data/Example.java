package org.zotune.data;

import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * One example of a data set, whatever file it came from.
 *
 * <ul>
 *   <li>{@code source}: where it was read, {@code file:line}, so that later errors (a missing field, a label
 *       without a verbalizer word) can name the row.</li>
 *   <li>{@code fields}: the named text fields, trimmed of surrounding whitespace (except causal-LM
 *       {@code prompt}, {@code completion} and {@code text} of zotune JSONL, kept verbatim). Names are the data set's
 *       {@link Dataset#inputFields()} (e.g. {@code sentence}; {@code premise}, {@code hypothesis}; {@code question},
 *       {@code passage}; {@code context}; {@code prompt}, {@code completion}; {@code text}), plus extra
 *       fields a template may use (COPA's {@code question} = cause/effect, STS-B's {@code score}).</li>
 *   <li>{@code label}: the gold answer as an index, into {@link Dataset#labels()} for classification, into
 *       {@code options} for multiple choice; -1 for unlabelled rows, language-model text and regression.</li>
 *   <li>{@code options}: the candidate answers of a multiple-choice example (COPA's two choices, a zotune
 *       JSONL {@code options} list); empty otherwise.</li>
 * </ul>
 */
public record Example(String source, Map<String, String> fields, int label, List<String> options) {

    public Example {
        fields = Map.copyOf(fields);
        options = List.copyOf(options);
    }

    /** A field's text; a missing field is an error naming the example. */
    public String field(String name) {
        String v = fields.get(name);
        if (v == null) {
            throw new ZotuneException(source + ": no field '" + name + "' (fields: " + fields.keySet().stream()
                    .sorted().toList() + ")");
        }
        return v;
    }

    public boolean labelled() {
        return label >= 0;
    }
}
