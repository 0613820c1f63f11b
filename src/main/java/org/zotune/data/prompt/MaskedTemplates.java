package org.zotune.data.prompt;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * The built-in masked-LM prompts (ALGORITHMS.md §6) for encoders (BERT, RoBERTa; {@code <mask>} stands for the model's
 * own mask token). MeZO's RoBERTa templates are LM-BFF's, written here in zotune's field names; the DFO-LoRA code's
 * are Black-Box-Tuning's (spaces around the punctuation). Label names are those zotune's readers give.
 * <pre>
 * sst2      "{sentence} It was &lt;mask&gt;."                       0 terrible, 1 great                 (MeZO / LM-BFF)
 * sst5      "{sentence} It was &lt;mask&gt;."                       0 terrible, 1 bad, 2 okay, 3 good, 4 great
 * trec      "&lt;mask&gt;: {sentence}"                              0 Description, 1 Entity, 2 Expression, 3 Human,
 *                                                             4 Location, 5 Number
 * mnli/snli "{premise}?&lt;mask&gt;, {hypothesis}"                  contradiction No, entailment Yes, neutral Maybe
 * rte       "{premise}?&lt;mask&gt;, {hypothesis}"                  entailment Yes, not_entailment No
 * mrpc      "{sentence1}?&lt;mask&gt;, {sentence2}"                 0 No, 1 Yes                          (DFO-LoRA)
 * sst2-dfo  "{sentence} . It was &lt;mask&gt; ."                     0 bad, 1 great                       (DFO-LoRA)
 * yelp      "{sentence} . It was &lt;mask&gt; ."                     0 bad, 1 great                       (DFO-LoRA)
 * agnews    "&lt;mask&gt; News: {sentence}"                          0 World, 1 Sports, 2 Business, 3 Tech (DFO-LoRA)
 * </pre>
 * In the sentence-pair templates (LM-BFF's {@code *sent-_0*?*mask*,*+sentl_1*}) the first sentence loses its final
 * punctuation mark and the second starts lower-case. LM-BFF drops the first sentence's last character whatever it
 * is; zotune drops it only when it is punctuation, so a sentence without a final mark keeps its last letter. Label
 * words are scored in their leading-space form (one token each; see
 * {@link org.zotune.data.batch.MaskedPromptEncoder#labelTokens}).
 */
public final class MaskedTemplates {
    private MaskedTemplates() {
    }

    public static List<String> names() {
        return List.of("sst2", "sst5", "trec", "mnli", "snli", "rte", "mrpc", "sst2-dfo", "yelp", "agnews");
    }

    /** A built-in masked-LM template by name (case ignored; "sst-2", "sst-5", "ag-news" accepted). */
    public static MaskedTemplate builtin(String task) {
        String t = task.toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
        String pair = "{premise}?<mask>, {hypothesis}";
        return switch (t) {
            case "sst2" -> new MaskedTemplate("sst2", "{sentence} It was <mask>.", words("0", "terrible", "1", "great"));
            case "sst5" -> new MaskedTemplate("sst5", "{sentence} It was <mask>.", words("0", "terrible", "1", "bad",
                    "2", "okay", "3", "good", "4", "great"));
            case "trec" -> new MaskedTemplate("trec", "<mask>: {sentence}", words("0", "Description", "1", "Entity",
                    "2", "Expression", "3", "Human", "4", "Location", "5", "Number"));
            case "mnli", "snli" -> new MaskedTemplate(t, pair, words("contradiction", "No", "entailment", "Yes",
                    "neutral", "Maybe"), f -> pairFields(f, "premise", "hypothesis"));
            case "rte" -> new MaskedTemplate("rte", pair, words("entailment", "Yes", "not_entailment", "No"),
                    f -> pairFields(f, "premise", "hypothesis"));
            case "mrpc" -> new MaskedTemplate("mrpc", "{sentence1}?<mask>, {sentence2}", words("0", "No", "1", "Yes"),
                    f -> pairFields(f, "sentence1", "sentence2"));
            case "sst2dfo" -> new MaskedTemplate("sst2-dfo", "{sentence} . It was <mask> .",
                    words("0", "bad", "1", "great"));
            case "yelp" -> new MaskedTemplate("yelp", "{sentence} . It was <mask> .", words("0", "bad", "1", "great"));
            case "agnews" -> new MaskedTemplate("agnews", "<mask> News: {sentence}", words("0", "World", "1", "Sports",
                    "2", "Business", "3", "Tech"));
            default -> throw new ZotuneException("unknown built-in masked-LM template '" + task + "' (known: "
                    + names() + "); or give a pattern with {field} placeholders, one <mask> (or [MASK]) and "
                    + "data.verbalizer");
        };
    }

    /** LM-BFF's {@code sent-} (final punctuation dropped) and {@code sentl} (first letter lower-cased). */
    static Map<String, String> pairFields(Map<String, String> fields, String first, String second) {
        String a = fields.get(first);
        if (a != null && !a.isEmpty() && isPunctuation(a.charAt(a.length() - 1))) {
            fields.put(first, a.substring(0, a.length() - 1));
        }
        String b = fields.get(second);
        if (b != null && !b.isEmpty()) {
            fields.put(second, b.substring(0, 1).toLowerCase(Locale.ROOT) + b.substring(1));
        }
        return fields;
    }

    private static boolean isPunctuation(char c) {
        return ".!?,;:".indexOf(c) >= 0;
    }

    private static Map<String, String> words(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
