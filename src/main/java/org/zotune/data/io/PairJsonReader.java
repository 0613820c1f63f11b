package org.zotune.data.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * Reads sentence-pair classification sets stored as one JSON object of numbered entries,
 * {@code {"0": {"text_a": premise, "text_b": hypothesis, "label": "entailment"}, ...}} (the MNLI and SNLI pools of
 * ../shared/data/datasets/nli-subsets, from PowerfulPromptFT): fields premise and hypothesis, labels contradiction,
 * entailment, neutral (the k-shot MNLI/SNLI order, so that the built-in mnli / snli templates and their label words
 * apply). Entries keep the file's order. A malformed entry is a one-line error {@code file: entry 'id': reason}, or
 * skipped under {@link ReadOptions#skipBad()}.
 */
public final class PairJsonReader {
    /** The labels of the NLI pools, in the order of {@link KShotReader}'s MNLI / SNLI. */
    public static final List<String> NLI_LABELS = List.of("contradiction", "entailment", "neutral");

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    private PairJsonReader() {
    }

    public static Dataset read(Path file, ReadOptions options) {
        String text = String.join("\n", Rows.lines(file));
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : ":" + e.getLocation().getLineNr();
            throw new ZotuneException(file + where + ": not valid JSON: " + e.getOriginalMessage()
                    .replaceAll("\\s+", " ").trim());
        }
        if (root == null || !root.isObject()) {
            throw new ZotuneException(file + ": expected one JSON object of entries {\"0\": {\"text_a\", \"text_b\", "
                    + "\"label\"}, ...}");
        }
        List<Example> examples = new ArrayList<>(root.size());
        List<String> skipped = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String where = file + ": entry '" + e.getKey() + "'";
            try {
                if (!e.getValue().isObject()) {
                    throw new BadRow("expected an object with text_a, text_b and label");
                }
                ObjectNode o = (ObjectNode) e.getValue();
                String premise = JsonRows.text(o, "text_a");
                String hypothesis = JsonRows.text(o, "text_b");
                int label;
                if (o.get("label") == null || o.get("label").isNull()) {
                    if (!options.allowUnlabelled()) {
                        throw new BadRow("no label");
                    }
                    label = -1;
                } else {
                    label = Rows.labelIndex(JsonRows.text(o, "label"), NLI_LABELS);
                }
                examples.add(new Example(where, Map.of("premise", premise, "hypothesis", hypothesis), label,
                        List.of()));
            } catch (BadRow b) {
                if (!options.skipBad()) {
                    throw new ZotuneException(where + ": " + b.getMessage());
                }
                skipped.add(where + ": " + b.getMessage());
            }
        }
        return new Dataset(file.toString(), Dataset.Kind.CLASSIFICATION, NLI_LABELS, List.of("premise", "hypothesis"),
                examples, skipped);
    }
}
