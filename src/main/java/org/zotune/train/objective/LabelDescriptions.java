package org.zotune.train.objective;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.data.prompt.MaskedTemplates;

/**
 * The built-in label descriptions of objective similarity, per task (the names of {@link MaskedTemplates}): the
 * labels are those of the task's built-in masked-LM verbalizer, each described by its word, in a sentence for the
 * sentiment tasks ("It was great.", the example of ALGORITHMS.md §6) and alone otherwise ("Sports", "Yes",
 * "Location"). A config overrides them with key similarity.labels.
 */
public final class LabelDescriptions {
    private static final List<String> SENTIMENT = List.of("sst2", "sst5", "sst2-dfo", "yelp");

    private LabelDescriptions() {
    }

    /** Label → description for task {@code name} (as data.template names it), or a one-line error. */
    public static Map<String, String> builtin(String name) {
        MaskedTemplate t;
        try {
            t = MaskedTemplates.builtin(name);
        } catch (ZotuneException e) {
            throw new ZotuneException("objective similarity: no built-in label descriptions for template '" + name
                    + "' (built in: " + String.join(", ", MaskedTemplates.names()) + "); give key similarity.labels "
                    + "(label -> description, e.g. {\"0\": \"It was terrible.\", \"1\": \"It was great.\"})");
        }
        boolean sentence = SENTIMENT.contains(t.name().toLowerCase(Locale.ROOT));
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : t.verbalizer().entrySet()) {
            out.put(e.getKey(), sentence ? "It was " + e.getValue() + "." : e.getValue());
        }
        return out;
    }
}
