package org.zotune.data.prompt;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * The built-in prompts for decoder LMs. They follow MeZO's large-model templates where MeZO has one (SST-2, RTE, CB,
 * BoolQ (MeZO's default version), COPA, WiC); SST-5 and TREC reuse LM-BFF's verbalizer words with the answer put
 * at the end, as a decoder needs. Label names are those zotune's readers give (see {@link #names()}).
 * <pre>
 * sst2   "{sentence} It was {label}"                       0 terrible, 1 great
 * sst5   "{sentence} It was {label}"                       0 terrible, 1 bad, 2 okay, 3 good, 4 great
 * trec   "{sentence} Answer type: {label}"                 0 Description, 1 Entity, 2 Expression, 3 Human,
 *                                                          4 Location, 5 Number
 * rte    "{premise}\nDoes this mean that \"{hypothesis}\" is true? Yes or No?\n{label}"
 *                                                          entailment Yes, not_entailment No
 * cb     "Suppose {premise} Can we infer that \"{hypothesis}\"? Yes, No, or Maybe?\n{label}"
 *                                                          entailment Yes, contradiction No, neutral Maybe
 * boolq  "{passage} {question}\n{label}"  (question: "?" appended if missing, first letter upper-cased)
 *                                                          false No, true Yes
 * wic    "Does the word \"{word}\" have the same meaning in these two sentences? Yes, No?\n{sentence1}\n{sentence2}\n{label}"
 *                                                          false No, true Yes
 * copa   see {@link CopaTemplate}
 * mc     "{context} {option}"  (zotune JSONL multiple choice)
 * </pre>
 */
public final class Templates {
    private Templates() {
    }

    public static List<String> names() {
        return List.of("sst2", "sst5", "trec", "rte", "cb", "boolq", "wic", "copa", "mc");
    }

    /** A built-in template by name (case ignored; "sst-2", "sst-5" accepted). */
    public static PromptTemplate builtin(String task) {
        String t = task.toLowerCase(Locale.ROOT).replace("-", "");
        return switch (t) {
            case "sst2" -> new PatternTemplate("sst2", "{sentence} It was {label}", words("0", "terrible", "1", "great"));
            case "sst5" -> new PatternTemplate("sst5", "{sentence} It was {label}", words("0", "terrible", "1", "bad",
                    "2", "okay", "3", "good", "4", "great"));
            case "trec" -> new PatternTemplate("trec", "{sentence} Answer type: {label}", words("0", "Description",
                    "1", "Entity", "2", "Expression", "3", "Human", "4", "Location", "5", "Number"));
            case "rte" -> new PatternTemplate("rte",
                    "{premise}\nDoes this mean that \"{hypothesis}\" is true? Yes or No?\n{label}",
                    words("entailment", "Yes", "not_entailment", "No"));
            case "cb" -> new PatternTemplate("cb",
                    "Suppose {premise} Can we infer that \"{hypothesis}\"? Yes, No, or Maybe?\n{label}",
                    words("entailment", "Yes", "contradiction", "No", "neutral", "Maybe"));
            case "boolq" -> new PatternTemplate("boolq", "{passage} {question}\n{label}",
                    words("false", "No", "true", "Yes"), Templates::boolqQuestion);
            case "wic" -> new PatternTemplate("wic", "Does the word \"{word}\" have the same meaning in these two "
                    + "sentences? Yes, No?\n{sentence1}\n{sentence2}\n{label}", words("false", "No", "true", "Yes"));
            case "copa" -> new CopaTemplate();
            case "mc" -> new PatternTemplate("mc", "{context} {option}", null);
            default -> throw new ZotuneException("unknown built-in template '" + task + "' (known: " + names()
                    + "); or give a pattern with {field} placeholders ending in {label} and a verbalizer");
        };
    }

    private static Map<String, String> boolqQuestion(Map<String, String> fields) {
        String q = fields.get("question");
        if (q != null && !q.isEmpty()) {
            if (!q.endsWith("?")) {
                q = q + "?";
            }
            fields.put("question", Character.toUpperCase(q.charAt(0)) + q.substring(1));
        }
        return fields;
    }

    private static Map<String, String> words(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
