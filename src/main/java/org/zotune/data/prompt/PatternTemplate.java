package org.zotune.data.prompt;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;

/**
 * A prompt written as a pattern string with {@code {field}} placeholders that ends with the answer slot:
 * {@code {label}} for classification (filled with the label's verbalizer word) or {@code {option}} for multiple
 * choice (filled with each of the example's options). Write {@code {{} and {@code }}} for literal braces.
 *
 * <p>Rendering: the text before the slot, with the fields filled in, is the context C. The prompt is C with trailing
 * spaces removed (a trailing newline stays); candidate i is C followed by answer i. So
 * {@code "{sentence} It was {label}"} with {@code 1 -> great} gives prompt {@code "… It was"} and candidate
 * {@code "… It was great"}: the answer's tokens are " great".
 *
 * <p>Example: {@code new PatternTemplate("sst2", "{sentence} It was {label}", Map.of("0", "terrible", "1", "great"))}.
 */
public final class PatternTemplate implements PromptTemplate {
    private final String name;
    private final String pattern;
    private final List<Object> parts = new ArrayList<>(); // String literal or Placeholder
    private final boolean optionSlot;
    private final LinkedHashMap<String, String> verbalizer;
    private final UnaryOperator<Map<String, String>> prepare;
    private List<String> labels; // set by check(); render() needs the label names

    /** A classification template ({@code {label}} slot) or a multiple-choice one ({@code {option}}; verbalizer null). */
    public PatternTemplate(String name, String pattern, Map<String, String> verbalizer) {
        this(name, pattern, verbalizer, null);
    }

    /**
     * @param prepare rewrites an example's fields before they are filled in (e.g. BoolQ's question gets a "?"), or
     *                null
     */
    public PatternTemplate(String name, String pattern, Map<String, String> verbalizer,
            UnaryOperator<Map<String, String>> prepare) {
        this.name = name;
        this.pattern = pattern;
        this.prepare = prepare;
        parts.addAll(PatternParts.parse("template '" + name + "'", pattern, false));
        Object last = parts.isEmpty() ? null : parts.get(parts.size() - 1);
        if (!(last instanceof PatternParts.Placeholder p)
                || !(p.field().equals("label") || p.field().equals("option"))) {
            throw new ZotuneException("template '" + name + "': must end with {label} (classification) or {option} "
                    + "(multiple choice): " + PatternParts.quoted(pattern));
        }
        optionSlot = p.field().equals("option");
        Set<String> fields = fieldNames();
        if (fields.isEmpty()) {
            throw new ZotuneException("template '" + name + "': no {field} placeholder for the example's text: "
                    + PatternParts.quoted(pattern));
        }
        if (fields.contains("label") || fields.contains("option")) {
            throw new ZotuneException("template '" + name + "': {label} / {option} may only appear once, at the end: "
                    + PatternParts.quoted(pattern));
        }
        if (optionSlot) {
            if (verbalizer != null && !verbalizer.isEmpty()) {
                throw new ZotuneException("template '" + name + "': a multiple-choice template ({option}) takes no "
                        + "verbalizer");
            }
            this.verbalizer = null;
        } else {
            if (verbalizer == null || verbalizer.isEmpty()) {
                throw new ZotuneException("template '" + name + "': {label} needs a verbalizer (label -> word)");
            }
            this.verbalizer = new LinkedHashMap<>(verbalizer);
            Map<String, String> seen = new HashMap<>();
            for (Map.Entry<String, String> e : this.verbalizer.entrySet()) {
                if (e.getValue() == null || e.getValue().isBlank()) {
                    throw new ZotuneException("template '" + name + "': label '" + e.getKey() + "' has an empty "
                            + "verbalizer word");
                }
                String other = seen.put(e.getValue(), e.getKey());
                if (other != null) {
                    throw new ZotuneException("template '" + name + "': labels '" + other + "' and '" + e.getKey()
                            + "' have the same verbalizer word '" + e.getValue() + "'");
                }
            }
        }
    }

    /** The fields the pattern fills in (answer slot excluded), in order of first use. */
    public Set<String> fieldNames() {
        Set<String> out = new LinkedHashSet<>();
        for (int i = 0; i < parts.size() - 1; i++) {
            if (parts.get(i) instanceof PatternParts.Placeholder p) {
                out.add(p.field());
            }
        }
        return out;
    }

    @Override
    public String name() {
        return name;
    }

    public String pattern() {
        return pattern;
    }

    /** The verbalizer (label name -> word), or null for a multiple-choice template. */
    public Map<String, String> verbalizer() {
        return verbalizer == null ? null : new LinkedHashMap<>(verbalizer);
    }

    @Override
    public void check(Dataset data) {
        String where = "template '" + name + "' on data set " + data.name();
        Dataset.Kind want = optionSlot ? Dataset.Kind.MULTIPLE_CHOICE : Dataset.Kind.CLASSIFICATION;
        if (data.kind() != want) {
            throw new ZotuneException(where + ": the template's " + (optionSlot ? "{option}" : "{label}")
                    + " slot is for " + want + " data, the data set is " + data.kind());
        }
        Set<String> available = new HashSet<>(data.inputFields());
        available.addAll(data.get(0).fields().keySet());
        for (String f : fieldNames()) {
            if (!available.contains(f)) {
                throw new ZotuneException(where + ": placeholder {" + f + "} is not a field of the data set (fields: "
                        + data.inputFields() + ")");
            }
        }
        for (String f : data.inputFields()) {
            if (!fieldNames().contains(f)) {
                throw new ZotuneException(where + ": the template lacks the placeholder {" + f + "} for the data set's "
                        + "field '" + f + "'");
            }
        }
        if (!optionSlot) {
            for (String label : data.labels()) {
                if (!verbalizer.containsKey(label)) {
                    throw new ZotuneException(where + ": label '" + label + "' has no verbalizer word (verbalizer "
                            + "labels: " + verbalizer.keySet() + ")");
                }
            }
            for (String label : verbalizer.keySet()) {
                if (!data.labels().contains(label)) {
                    throw new ZotuneException(where + ": verbalizer label '" + label + "' is not a label of the data set "
                            + "(labels: " + data.labels() + ")");
                }
            }
            labels = List.copyOf(data.labels());
        }
    }

    @Override
    public Prompted render(Example example) {
        if (!optionSlot && labels == null) {
            throw new IllegalStateException("template '" + name + "': check(dataset) must come before render");
        }
        Map<String, String> fields = prepare == null ? example.fields() : prepare.apply(new HashMap<>(example.fields()));
        StringBuilder context = new StringBuilder();
        for (int i = 0; i < parts.size() - 1; i++) {
            Object part = parts.get(i);
            if (part instanceof PatternParts.Placeholder p) {
                String v = fields.get(p.field());
                if (v == null) {
                    throw new ZotuneException(example.source() + ": template '" + name + "' needs field '" + p.field()
                            + "', the example has " + fields.keySet().stream().sorted().toList());
                }
                context.append(v);
            } else {
                context.append((String) part);
            }
        }
        String c = context.toString();
        List<String> answers;
        if (optionSlot) {
            if (example.options().isEmpty()) {
                throw new ZotuneException(example.source() + ": template '" + name + "' needs options, the example has "
                        + "none");
            }
            answers = example.options();
        } else {
            answers = new ArrayList<>(labels.size());
            for (String label : labels) {
                answers.add(verbalizer.get(label));
            }
        }
        List<String> candidates = new ArrayList<>(answers.size());
        for (String a : answers) {
            candidates.add(c + a);
        }
        int gold = example.label();
        if (gold >= answers.size()) {
            throw new ZotuneException(example.source() + ": label index " + gold + " but only " + answers.size()
                    + " candidates");
        }
        return new Prompted(example.source(), stripTrailingSpaces(c), candidates, gold);
    }

    static String stripTrailingSpaces(String s) {
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == ' ') {
            end--;
        }
        return s.substring(0, end);
    }

}
