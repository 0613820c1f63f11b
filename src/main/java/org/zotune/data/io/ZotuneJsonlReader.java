package org.zotune.data.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * Reads zotune's own JSON Lines format: one object per line, of one of four shapes (the first row decides; every
 * row must then have that shape's fields; other fields are ignored):
 * <pre>
 * classification   {"text": "...", "label": "positive"}          label: a string or an integer
 * multiple choice  {"context": "...", "options": ["...", ...], "answer": 1}   answer: 0-based index into options
 * causal LM        {"prompt": "...", "completion": "..."}        loss on the completion's tokens only
 * causal LM        {"text": "..."}                               loss on every token
 * </pre>
 * Classification label names are the distinct labels found: when all are integers, in numeric order (written in
 * decimal), otherwise as strings in {@link String#compareTo} order. Classification {@code text} and multiple-choice
 * fields are trimmed; causal-LM {@code prompt}, {@code completion} and {@code text} are kept verbatim (a
 * completion's leading space is part of it) and must not be empty. Multiple choice needs at least 2 options.
 */
public final class ZotuneJsonlReader {
    private enum Shape { CLASSIFICATION, MULTIPLE_CHOICE, PROMPT_COMPLETION, TEXT }

    private ZotuneJsonlReader() {
    }

    public static Dataset read(Path file, ReadOptions options) {
        List<String> lines = Rows.lines(file);
        Rows rows = new Rows(file, options);
        Shape shape = null;
        List<Example> pending = new ArrayList<>();
        List<String> rawLabels = new ArrayList<>();
        int firstLine = 0;
        for (int ln = 0; ln < lines.size(); ln++) {
            String line = lines.get(ln);
            if (line.isBlank()) {
                continue;
            }
            try {
                ObjectNode o = JsonRows.object(line);
                if (shape == null) {
                    shape = shapeOf(o);
                    firstLine = ln + 1;
                }
                String where = rows.where(ln + 1);
                switch (shape) {
                    case CLASSIFICATION -> {
                        String text = JsonRows.text(o, "text");
                        JsonNode l = o.get("label");
                        String raw;
                        if (l == null || l.isNull()) {
                            rows.missingLabel();
                            raw = null;
                        } else if (l.isTextual() && !l.asText().isBlank()) {
                            raw = l.asText().strip();
                        } else if (l.isIntegralNumber()) {
                            raw = l.bigIntegerValue().toString();
                        } else {
                            throw new BadRow("field 'label' must be a string or an integer, not " + l);
                        }
                        pending.add(new Example(where, Map.of("text", text), -1, List.of()));
                        rawLabels.add(raw);
                    }
                    case MULTIPLE_CHOICE -> {
                        String context = JsonRows.text(o, "context");
                        JsonNode opts = o.get("options");
                        if (opts == null || !opts.isArray() || opts.size() < 2) {
                            throw new BadRow("field 'options' must be an array of at least 2 strings (shape of line "
                                    + firstLine + ")");
                        }
                        List<String> list = new ArrayList<>();
                        for (int i = 0; i < opts.size(); i++) {
                            JsonNode op = opts.get(i);
                            if (!op.isTextual() || op.asText().isBlank()) {
                                throw new BadRow("options[" + i + "] must be a non-empty string, not " + op);
                            }
                            list.add(op.asText().strip());
                        }
                        JsonNode a = o.get("answer");
                        int answer;
                        if (a == null || a.isNull()) {
                            answer = rows.missingLabel();
                        } else if (!a.isInt() || a.asInt() < 0 || a.asInt() >= list.size()) {
                            throw new BadRow("field 'answer' must be an index in [0, " + list.size() + "), not " + a);
                        } else {
                            answer = a.asInt();
                        }
                        rows.add(new Example(where, Map.of("context", context), answer, list));
                    }
                    case PROMPT_COMPLETION -> rows.add(new Example(where, Map.of("prompt", JsonRows.verbatim(o,
                            "prompt"), "completion", JsonRows.verbatim(o, "completion")), -1, List.of()));
                    case TEXT -> rows.add(new Example(where, Map.of("text", JsonRows.verbatim(o, "text")), -1,
                            List.of()));
                }
            } catch (BadRow e) {
                rows.bad(ln + 1, e.getMessage());
            }
        }
        if (shape == null) {
            return rows.finish(Dataset.Kind.LANGUAGE_MODEL, List.of(), List.of("text")); // empty: fails there
        }
        return switch (shape) {
            case CLASSIFICATION -> {
                List<String> labels = labelNames(rawLabels);
                for (int i = 0; i < pending.size(); i++) {
                    Example e = pending.get(i);
                    String raw = rawLabels.get(i);
                    rows.add(new Example(e.source(), e.fields(), raw == null ? -1 : labels.indexOf(raw), List.of()));
                }
                yield rows.finish(Dataset.Kind.CLASSIFICATION, labels, List.of("text"));
            }
            case MULTIPLE_CHOICE -> rows.finish(Dataset.Kind.MULTIPLE_CHOICE, List.of(), List.of("context"));
            case PROMPT_COMPLETION -> rows.finish(Dataset.Kind.LANGUAGE_MODEL, List.of(),
                    List.of("prompt", "completion"));
            case TEXT -> rows.finish(Dataset.Kind.LANGUAGE_MODEL, List.of(), List.of("text"));
        };
    }

    private static Shape shapeOf(ObjectNode o) {
        if (o.has("options")) {
            return Shape.MULTIPLE_CHOICE;
        }
        if (o.has("completion")) {
            return Shape.PROMPT_COMPLETION;
        }
        if (o.has("label")) {
            return Shape.CLASSIFICATION;
        }
        if (o.has("text")) {
            return Shape.TEXT;
        }
        throw new BadRow("unknown row shape: expected {\"text\",\"label\"}, {\"context\",\"options\",\"answer\"}, "
                + "{\"prompt\",\"completion\"} or {\"text\"}; got fields " + iterableNames(o));
    }

    private static List<String> iterableNames(ObjectNode o) {
        List<String> names = new ArrayList<>();
        o.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static List<String> labelNames(List<String> raw) {
        boolean allInts = true;
        for (String r : raw) {
            if (r != null && !r.matches("-?\\d+")) {
                allInts = false;
            }
        }
        Comparator<String> order = allInts ? Comparator.comparing(BigInteger::new) : Comparator.naturalOrder();
        TreeSet<String> set = new TreeSet<>(order);
        for (String r : raw) {
            if (r != null) {
                set.add(r);
            }
        }
        return new ArrayList<>(set);
    }
}
