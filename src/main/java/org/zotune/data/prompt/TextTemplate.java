package org.zotune.data.prompt;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;

/**
 * The text an encoder objective (label similarity, the classification head) embeds for an example: a pattern of
 * {@code {field}} placeholders and literal text ("{premise} Question: {hypothesis}"), or, for {@link #fields}, the
 * data set's input fields as they are, one text or a pair (the encoder joins a pair with its separator). No mask and
 * no label: the label is what the objective scores.
 */
public final class TextTemplate {
    private final String name;
    private final String pattern; // null: the data set's input fields
    private final List<Object> parts;

    private TextTemplate(String name, String pattern, List<Object> parts) {
        this.name = name;
        this.pattern = pattern;
        this.parts = parts;
    }

    /** The data set's input fields as they are (one text, or the first two as a pair). */
    public static TextTemplate fields(String name) {
        return new TextTemplate(name, null, null);
    }

    /** A pattern with at least one {field} placeholder; a mask or {label} / {option} placeholder is refused. */
    public static TextTemplate pattern(String pattern) {
        String where = "template \"" + pattern + "\"";
        List<Object> parts = PatternParts.parse(where, pattern, true);
        Set<String> fields = new LinkedHashSet<>();
        for (Object p : parts) {
            if (p == PatternParts.MASK) {
                throw new ZotuneException(where + ": an encoder objective (similarity, head) embeds the example's "
                        + "text and has no mask; remove the mask placeholder (masked-LM prompts are objective mlm)");
            }
            if (p instanceof PatternParts.Placeholder ph) {
                fields.add(ph.field());
            }
        }
        if (fields.isEmpty()) {
            throw new ZotuneException(where + ": no {field} placeholder for the example's text");
        }
        if (fields.contains("label") || fields.contains("option")) {
            throw new ZotuneException(where + ": {label} / {option} are not placeholders for an encoder objective "
                    + "(the objective scores the labels); name only the example's text fields");
        }
        return new TextTemplate("pattern", pattern, parts);
    }

    public String name() {
        return name;
    }

    /** The pattern's placeholders in order, or none (the data set's input fields as they are). */
    public Set<String> fieldNames() {
        Set<String> out = new LinkedHashSet<>();
        if (parts != null) {
            for (Object p : parts) {
                if (p instanceof PatternParts.Placeholder ph) {
                    out.add(ph.field());
                }
            }
        }
        return out;
    }

    /** Checks the data set: labelled classification data with the fields the pattern names. */
    public void check(Dataset data) {
        String where = "template '" + name + "' on data set " + data.name();
        if (data.kind() != Dataset.Kind.CLASSIFICATION) {
            throw new ZotuneException(where + ": an encoder objective scores labels, so it needs classification data; "
                    + "the data set is " + data.kind());
        }
        if (data.inputFields().isEmpty()) {
            throw new ZotuneException(where + ": the data set names no text field");
        }
        if (parts != null) {
            Set<String> have = new HashSet<>(data.inputFields());
            for (Object p : parts) {
                if (p instanceof PatternParts.Placeholder ph && !have.contains(ph.field())) {
                    throw new ZotuneException(where + ": no field '" + ph.field() + "' (fields: "
                            + data.inputFields() + ")");
                }
            }
        }
    }

    /** The example's texts: one, or two (a pair) when the data set has two or more input fields and no pattern. */
    public List<String> render(Dataset data, Example e) {
        if (parts == null) {
            List<String> f = data.inputFields();
            List<String> out = new ArrayList<>(2);
            out.add(e.field(f.get(0)));
            if (f.size() > 1) {
                out.add(e.field(f.get(1)));
            }
            return out;
        }
        StringBuilder b = new StringBuilder();
        for (Object p : parts) {
            b.append(p instanceof PatternParts.Placeholder ph ? e.field(ph.field()) : (String) p);
        }
        return List.of(b.toString());
    }
}
