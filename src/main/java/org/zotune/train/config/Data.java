package org.zotune.train.config;

import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Required;

/**
 * The data set (key data).
 *
 * @param format   jsonl (zotune JSON Lines), sst2 (GLUE TSV), tsv (GLUE-style TSV, see text_column /
 *                 label_column), label-sentence, superglue, kshot (LM-BFF folders), nli-json (the MNLI / SNLI
 *                 pools: one JSON object of text_a, text_b, label entries) or text (plain text chunks)
 * @param train    training file(s) (kshot: the data root)
 * @param dev      dev file(s), or null: dev (and test) drawn from train by {@code splits}
 * @param test     test file(s), or null
 * @param task     superglue / kshot task name (e.g. boolq, SST-2)
 * @param template a built-in template name or a pattern with {field} placeholders ending in {label} / {option};
 *                 for objective mlm a built-in masked-LM template name or a pattern with one {@code <mask>} /
 *                 {@code [MASK]}
 * @param verbalizer label → word, for a pattern ending in {label} (or a masked-LM pattern)
 * @param classes  label-sentence: the number of classes
 * @param textColumn  tsv: the text column (default sentence)
 * @param labelColumn tsv: the label column (default label)
 * @param kShot    keep k training examples per class (0: all)
 * @param splits   sizes drawn from the train pool (train, dev, test); absent: use the files as given
 * @param seed     seed of k-shot sampling and splits (default: the run's seed)
 * @param maxExamples text: at most this many training chunks (0: all)
 * @param verbalizerFirstToken objective mlm: score a label word of several tokens by its first token (default
 *                 false: such a word is refused)
 * @param kShotPartial k_shot: a class with fewer than k examples keeps all of them (default false: an error)
 * @param renameLabels label → the name it goes by from then on (e.g. 0 → NEGATIVE: a Hugging Face classifier's
 *                 id2label names, which objective head matches the data's labels to), applied as the files are read;
 *                 templates, verbalizers and label descriptions then use the new names
 */
public record Data(
        @Required @Choice(Format.class) String format,
        @Required("the training file or files") List<String> train,
        List<String> dev,
        List<String> test,
        String task,
        String template,
        Map<String, String> verbalizer,
        Integer classes,
        String textColumn,
        String labelColumn,
        @Default("0") @AtLeast(0) Integer kShot,
        Splits splits,
        Long seed,
        @Default("0") @AtLeast(0) Integer maxExamples,
        @Default("false") Boolean verbalizerFirstToken,
        @Default("false") Boolean kShotPartial,
        Map<String, String> renameLabels) {

    /** How the data files are read (key data.format). */
    public enum Format { JSONL, SST2, TSV, LABEL_SENTENCE, SUPERGLUE, KSHOT, TEXT, NLI_JSON }

    public Data {
        // a YAML/JSON list with an empty entry (train: [a, null]) ended in a NullPointerException
        for (var e : java.util.Map.of("train", train == null ? List.<String>of() : train,
                "dev", dev == null ? List.<String>of() : dev, "test", test == null ? List.<String>of() : test)
                .entrySet()) {
            if (e.getValue().stream().anyMatch(java.util.Objects::isNull)) {
                throw new ZotuneException("key 'data." + e.getKey() + "' holds an empty entry: name a file");
            }
        }
        train = List.copyOf(train);
        dev = dev == null ? List.of() : List.copyOf(dev);
        test = test == null ? List.of() : List.copyOf(test);
        if (renameLabels != null && "text".equals(format)) {
            throw new ZotuneException("key 'data.rename_labels' renames the labels of classification data; "
                    + "data.format text has none");
        }
        renameLabels = renameLabels == null ? null : java.util.Collections.unmodifiableMap(
                new java.util.LinkedHashMap<>(renameLabels));
        // data.template is checked where a template is read: a decoder's prompt and objective mlm need one, while
        // objectives head and similarity read the example's text without one
    }

    public Format formatKind() {
        return RecordBinder.choice(Format.class, format);
    }
}
