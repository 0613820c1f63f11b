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
 * A masked-LM prompt (ALGORITHMS.md §6, LM-BFF / MeZO): a pattern with {@code {field}} placeholders and exactly one
 * mask placeholder, written {@code <mask>} or {@code [MASK]} whatever the model (the encoder puts the model's own mask
 * token there), plus a verbalizer (label → one word). The MLM head's logits at the mask, restricted to the label words,
 * score the labels. Write {@code {{} and {@code }}} for literal braces.
 *
 * <p>Example: {@code new MaskedTemplate("sst2", "{sentence} It was <mask> .", Map.of("0", "terrible", "1", "great"))}.
 */
public final class MaskedTemplate {
    /** The two spellings of the mask placeholder a pattern may use. */
    public static final List<String> MASK_PLACEHOLDERS = List.of("<mask>", "[MASK]");

    private final String name;
    private final String pattern;
    private final List<Object> parts = new ArrayList<>(); // String literal, Placeholder or MASK
    private final LinkedHashMap<String, String> verbalizer;
    private final UnaryOperator<Map<String, String>> prepare;
    private final boolean everyLabel; // check() takes data lacking some verbalizer labels, which are scored after its own
    private List<String> labels; // set by check(); render() needs the label order

    public MaskedTemplate(String name, String pattern, Map<String, String> verbalizer) {
        this(name, pattern, verbalizer, null);
    }

    /**
     * @param prepare rewrites an example's fields before they are filled in (e.g. LM-BFF's "sentence without its
     *                final punctuation"), or null
     */
    public MaskedTemplate(String name, String pattern, Map<String, String> verbalizer,
            UnaryOperator<Map<String, String>> prepare) {
        this(name, pattern, verbalizer, prepare, false);
    }

    private MaskedTemplate(String name, String pattern, Map<String, String> verbalizer,
            UnaryOperator<Map<String, String>> prepare, boolean everyLabel) {
        this.everyLabel = everyLabel;
        this.name = name;
        this.pattern = pattern;
        this.prepare = prepare;
        parts.addAll(PatternParts.parse("masked-LM template '" + name + "'", pattern, true));
        int masks = 0;
        for (Object p : parts) {
            if (p == PatternParts.MASK) {
                masks++;
            }
        }
        if (masks != 1) {
            throw new ZotuneException("masked-LM template '" + name + "': needs exactly one mask placeholder (<mask> or "
                    + "[MASK]), found " + masks + ": " + PatternParts.quoted(pattern));
        }
        if (fieldNames().isEmpty()) {
            throw new ZotuneException("masked-LM template '" + name + "': no {field} placeholder for the example's "
                    + "text: " + PatternParts.quoted(pattern));
        }
        if (fieldNames().contains("label") || fieldNames().contains("option")) {
            throw new ZotuneException("masked-LM template '" + name + "': the label goes where the mask is; {label} "
                    + "/ {option} are not placeholders here: " + PatternParts.quoted(pattern));
        }
        if (verbalizer == null || verbalizer.isEmpty()) {
            throw new ZotuneException("masked-LM template '" + name + "': needs a verbalizer (label -> word)");
        }
        this.verbalizer = new LinkedHashMap<>(verbalizer);
        Map<String, String> seen = new HashMap<>();
        for (Map.Entry<String, String> e : this.verbalizer.entrySet()) {
            if (e.getValue() == null || e.getValue().isBlank()) {
                throw new ZotuneException("masked-LM template '" + name + "': label '" + e.getKey()
                        + "' has an empty verbalizer word");
            }
            String other = seen.put(e.getValue().strip(), e.getKey());
            if (other != null) {
                throw new ZotuneException("masked-LM template '" + name + "': labels '" + other + "' and '"
                        + e.getKey() + "' have the same verbalizer word '" + e.getValue() + "'");
            }
        }
    }

    /** Whether {@code pattern} is a masked-LM pattern (it holds a mask placeholder) rather than a built-in's name. */
    public static boolean isPattern(String pattern) {
        return MASK_PLACEHOLDERS.stream().anyMatch(pattern::contains) || pattern.contains("{");
    }

    /** The fields the pattern fills in, in order of first use. */
    public Set<String> fieldNames() {
        Set<String> out = new LinkedHashSet<>();
        for (Object part : parts) {
            if (part instanceof PatternParts.Placeholder p) {
                out.add(p.field());
            }
        }
        return out;
    }

    public String name() {
        return name;
    }

    public String pattern() {
        return pattern;
    }

    /** The verbalizer (label name -> word). */
    public Map<String, String> verbalizer() {
        return new LinkedHashMap<>(verbalizer);
    }

    /** The label words in the checked data set's label order (the order of gold indices and scores). */
    public List<String> words() {
        requireChecked();
        return labels.stream().map(verbalizer::get).toList();
    }

    /**
     * Checks that the template fits the data set (classification data, its fields, its labels); throws a one-line
     * {@link ZotuneException} naming the template, the data set and what does not match.
     */
    public void check(Dataset data) {
        String where = "masked-LM template '" + name + "' on data set " + data.name();
        if (data.kind() != Dataset.Kind.CLASSIFICATION) {
            throw new ZotuneException(where + ": a masked-LM prompt scores labels, so it needs classification data; "
                    + "the data set is " + data.kind());
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
        for (String label : data.labels()) {
            if (!verbalizer.containsKey(label)) {
                throw new ZotuneException(where + ": label '" + label + "' has no verbalizer word (verbalizer labels: "
                        + verbalizer.keySet() + ")");
            }
        }
        List<String> scored = new ArrayList<>(data.labels());
        for (String label : verbalizer.keySet()) {
            if (!data.labels().contains(label)) {
                if (!everyLabel) {
                    throw new ZotuneException(where + ": verbalizer label '" + label + "' is not a label of the data "
                            + "set (labels: " + data.labels() + ")");
                }
                scored.add(label);
            }
        }
        labels = List.copyOf(scored);
    }

    /**
     * This template scoring every verbalizer label (zotune eval of a file with some of the classes): {@link #check}
     * then takes data that lacks some of them, and {@link #labels()} lists them after the data's own, so that they
     * still compete at the mask.
     */
    public MaskedTemplate scoringEveryLabel() {
        return new MaskedTemplate(name, pattern, verbalizer, prepare, true);
    }

    /** The scored labels in gold-index order (the checked data set's, then with {@link #scoringEveryLabel()} the rest). */
    public List<String> labels() {
        requireChecked();
        return labels;
    }

    public MaskedPrompt render(Example example) {
        requireChecked();
        Map<String, String> fields = prepare == null ? example.fields() : prepare.apply(new HashMap<>(example.fields()));
        StringBuilder before = new StringBuilder();
        StringBuilder after = new StringBuilder();
        StringBuilder out = before;
        for (Object part : parts) {
            if (part == PatternParts.MASK) {
                out = after;
            } else if (part instanceof PatternParts.Placeholder p) {
                String v = fields.get(p.field());
                if (v == null) {
                    throw new ZotuneException(example.source() + ": masked-LM template '" + name + "' needs field '"
                            + p.field() + "', the example has " + fields.keySet().stream().sorted().toList());
                }
                out.append(v);
            } else {
                out.append((String) part);
            }
        }
        int gold = example.label();
        if (gold >= labels.size()) {
            throw new ZotuneException(example.source() + ": label index " + gold + " but only " + labels.size()
                    + " labels");
        }
        return new MaskedPrompt(example.source(), before.toString(), after.toString(), gold);
    }

    private void requireChecked() {
        if (labels == null) {
            throw new IllegalStateException("masked-LM template '" + name + "': check(dataset) must come first");
        }
    }

}
