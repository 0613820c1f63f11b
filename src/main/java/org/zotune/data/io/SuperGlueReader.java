package org.zotune.data.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * Reads SuperGLUE JSON Lines files (one object per line) for the tasks zotune has prompts for:
 * <pre>
 * task   fields                                     label                       labels
 * BoolQ  question, passage                          boolean                     false true
 * CB     premise, hypothesis                        string                      entailment contradiction neutral
 * RTE    premise, hypothesis                        string                      entailment not_entailment
 * WiC    word, sentence1, sentence2                 boolean                     false true
 * COPA   premise, question (cause|effect);          integer 0|1, the option    (multiple choice)
 *        options = [choice1, choice2]
 * </pre>
 * The label indices follow SuperGLUE's own class order. A row without {@code label} (the test files) is read with
 * label -1 only under {@link ReadOptions#allowUnlabelled()}. Other fields ({@code idx}, WiC's offsets) are ignored.
 */
public final class SuperGlueReader {
    /** The tasks, as SuperGLUE spells them. */
    public enum Task { BoolQ, CB, COPA, RTE, WiC }

    private SuperGlueReader() {
    }

    public static Task task(String name) {
        for (Task t : Task.values()) {
            if (t.name().equalsIgnoreCase(name)) {
                return t;
            }
        }
        throw new ZotuneException("unknown SuperGLUE task '" + name + "' (known: " + List.of(Task.values()) + ")");
    }

    public static List<String> labels(Task task) {
        return switch (task) {
            case BoolQ, WiC -> List.of("false", "true");
            case CB -> List.of("entailment", "contradiction", "neutral");
            case RTE -> List.of("entailment", "not_entailment");
            case COPA -> List.of();
        };
    }

    public static List<String> inputFields(Task task) {
        return switch (task) {
            case BoolQ -> List.of("passage", "question");
            case CB, RTE -> List.of("premise", "hypothesis");
            case WiC -> List.of("word", "sentence1", "sentence2");
            case COPA -> List.of("premise");
        };
    }

    public static Dataset read(Path file, Task task, ReadOptions options) {
        List<String> lines = Rows.lines(file);
        Rows rows = new Rows(file, options);
        List<String> labels = labels(task);
        for (int ln = 0; ln < lines.size(); ln++) {
            String line = lines.get(ln);
            if (line.isBlank()) {
                continue;
            }
            try {
                ObjectNode o = JsonRows.object(line);
                Map<String, String> fields = new LinkedHashMap<>();
                for (String f : inputFields(task)) {
                    fields.put(f, JsonRows.text(o, f));
                }
                List<String> opts = List.of();
                if (task == Task.COPA) {
                    String q = JsonRows.text(o, "question");
                    if (!q.equals("cause") && !q.equals("effect")) {
                        throw new BadRow("field 'question' must be \"cause\" or \"effect\", not \"" + q + "\"");
                    }
                    fields.put("question", q);
                    opts = List.of(JsonRows.text(o, "choice1"), JsonRows.text(o, "choice2"));
                }
                int label = label(o, task, labels, rows);
                rows.add(new Example(rows.where(ln + 1), fields, label, opts));
            } catch (BadRow e) {
                rows.bad(ln + 1, e.getMessage());
            }
        }
        Dataset.Kind kind = task == Task.COPA ? Dataset.Kind.MULTIPLE_CHOICE : Dataset.Kind.CLASSIFICATION;
        return rows.finish(kind, labels, inputFields(task));
    }

    private static int label(ObjectNode o, Task task, List<String> labels, Rows rows) {
        JsonNode n = o.get("label");
        if (n == null || n.isNull()) {
            return rows.missingLabel();
        }
        switch (task) {
            case BoolQ, WiC -> {
                if (!n.isBoolean()) {
                    throw new BadRow("field 'label' must be true or false, not " + n);
                }
                return n.asBoolean() ? 1 : 0;
            }
            case COPA -> {
                if (!n.isInt() || n.asInt() < 0 || n.asInt() > 1) {
                    throw new BadRow("field 'label' must be 0 or 1 (the choice), not " + n);
                }
                return n.asInt();
            }
            default -> {
                if (!n.isTextual()) {
                    throw new BadRow("field 'label' must be a string, one of " + labels + ", not " + n);
                }
                return Rows.labelIndex(n.asText().toLowerCase(Locale.ROOT), labels);
            }
        }
    }
}
