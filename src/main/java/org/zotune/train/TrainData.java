package org.zotune.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.ReadOptions;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.PromptEncoder;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.data.io.KShotReader;
import org.zotune.data.io.LabelSentenceReader;
import org.zotune.data.io.PairJsonReader;
import org.zotune.data.io.SuperGlueReader;
import org.zotune.data.io.TableReader;
import org.zotune.data.io.TextCorpus;
import org.zotune.data.io.ZotuneJsonlReader;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.data.prompt.MaskedTemplates;
import org.zotune.data.prompt.PatternTemplate;
import org.zotune.data.prompt.PromptTemplate;
import org.zotune.data.prompt.Templates;
import org.zotune.data.prompt.TextTemplate;
import org.zotune.data.split.Sampling;
import org.zotune.data.split.Shuffle;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.train.config.Data;
import org.zotune.train.config.Splits;

/**
 * A run's data, read, sampled, prompted and tokenised once: train, dev and test as encoded examples.
 *
 * @param languageModel true for causal-LM data (evaluated by token-weighted loss), false for candidate data
 *                      (classification / multiple choice: accuracy, F1, classification loss)
 * @param train         the training examples (never empty)
 * @param dev           dev examples (may be empty: no model selection)
 * @param test          test examples (may be empty)
 * @param padId         the padding id
 * @param about         what the data is (its kind, what it counts, details such as the template): {@link #description}
 * @param labels        classification data's label names in gold-index order (the training set's: dev and test are
 *                      re-indexed onto them); empty for multiple-choice and language-model data
 */
public record TrainData(boolean languageModel, List<EncodedExample> train, List<EncodedExample> dev,
        List<EncodedExample> test, int padId, About about, List<String> labels) {

    public TrainData {
        labels = List.copyOf(labels);
    }

    /**
     * What a data set is, apart from its split sizes.
     *
     * @param kind    "text" or the data set's kind (classification, multiple_choice, language_model)
     * @param unit    what is counted ("examples", "chunks of 128 tokens")
     * @param details the rest of the line (", template sst2", truncation), possibly empty
     */
    public record About(String kind, String unit, String details) {
        static About of(Dataset train, String details) {
            return new About(train.kind().name().toLowerCase(), "examples", details);
        }
    }

    /** One line for the log: the kind, each split's size, the details. */
    public String description() {
        return about.kind() + ": " + train.size() + " train, " + dev.size() + " dev, " + test.size() + " test "
                + about.unit() + about.details();
    }

    /**
     * One line for an evaluation of one split ("train", "dev" or "test"): the kind, that split's size (named unless it
     * is the one file read), the details.
     */
    public String description(String split) {
        int n = switch (split) {
            case "dev" -> dev.size();
            case "test" -> test.size();
            default -> train.size();
        };
        boolean oneFile = split.equals("train") && dev.isEmpty() && test.isEmpty();
        return about.kind() + ": " + n + " " + about.unit() + (oneFile ? "" : " (split " + split + ")")
                + about.details();
    }

    public static TrainData load(Data d, Tokenizer tokenizer, int maxLength, long runSeed) {
        long seed = d.seed() != null ? d.seed() : runSeed;
        PromptEncoder encoder = new PromptEncoder(tokenizer, maxLength);
        if (d.format().equals("text")) {
            List<int[]> train = TextCorpus.read(paths(d.train()), tokenizer, maxLength, d.maxExamples()).chunks();
            List<int[]> dev = d.dev().isEmpty() ? List.of() : TextCorpus.read(paths(d.dev()), tokenizer, maxLength, 0)
                    .chunks();
            List<int[]> test = d.test().isEmpty() ? List.of()
                    : TextCorpus.read(paths(d.test()), tokenizer, maxLength, 0).chunks();
            return new TrainData(true, chunks(train), chunks(dev), chunks(test), encoder.padId(),
                    new About("text", "chunks of " + maxLength + " tokens", ""), List.of());
        }
        Dataset[] sets = datasets(d, seed);
        Dataset train = sets[0];
        Dataset dev = sets[1];
        Dataset test = sets[2];
        PromptEncoder uncut = new PromptEncoder(tokenizer, Integer.MAX_VALUE / 2);
        if (train.kind() == Dataset.Kind.LANGUAGE_MODEL) {
            List<EncodedExample> tr = encoder.encodeLanguageModel(train);
            return new TrainData(true, tr, lm(encoder, dev), lm(encoder, test), encoder.padId(),
                    About.of(train, truncated(tr, uncut.encodeLanguageModel(train), maxLength)),
                    List.of());
        }
        if (train.kind() == Dataset.Kind.REGRESSION) {
            throw new ZotuneException(train.name() + ": a regression data set cannot be trained on by zotune's "
                    + "objectives");
        }
        PromptTemplate template = template(d, train);
        List<EncodedExample> tr = encoder.encode(train.requireLabels(), template);
        return new TrainData(false, tr, encode(encoder, dev, template), encode(encoder, test, template),
                encoder.padId(), About.of(train, ", template " + template.name()
                        + truncated(tr, uncut.encode(train, template), maxLength)), train.labels());
    }

    /** Reads train, dev and test (null when absent), with k-shot sampling and splits applied. */
    private static Dataset[] datasets(Data d, long seed) {
        Dataset train = read(d, d.train(), "train", seed);
        Dataset dev = d.dev().isEmpty() ? null : read(d, d.dev(), "dev", seed);
        Dataset test = d.test().isEmpty() ? null : read(d, d.test(), "test", seed);
        if (d.renameLabels() != null) { // before anything reads a label: sampling, templates, objectives
            String key = "data.rename_labels";
            train = train.renamed(d.renameLabels(), key, true);
            dev = dev == null ? null : dev.renamed(d.renameLabels(), key, false);
            test = test == null ? null : test.renamed(d.renameLabels(), key, false);
        }
        if (d.kShot() > 0 && !d.format().equals("kshot")) {
            try {
                train = Sampling.kShot(train, d.kShot(), seed, d.kShotPartial());
            } catch (ZotuneException e) {
                throw d.kShotPartial() ? e : new ZotuneException("data.k_shot: " + e.getMessage()
                        + " (data.k_shot_partial: true keeps all of a short class)", e);
            }
        }
        if (d.splits() != null) {
            Splits s = d.splits();
            if (dev != null) {
                throw new ZotuneException("data.splits draws dev from the train pool; give either data.dev or "
                        + "data.splits");
            }
            if (test != null) {
                Sampling.Splits sp = Sampling.split(train, test, s.train(), s.dev(), s.test() > 0 ? s.test()
                        : test.size(), seed, 0);
                train = sp.train();
                dev = sp.dev();
                test = sp.test();
            } else {
                int need = s.train() + s.dev() + s.test();
                if (need > train.size()) {
                    throw new ZotuneException(train.name() + ": " + train.size() + " examples, fewer than the "
                            + s.train() + " train + " + s.dev() + " dev + " + s.test() + " test of data.splits");
                }
                var pool = Shuffle.shuffled(train.examples(), seed);
                Dataset all = train;
                train = all.withExamples(all.name() + " (train " + s.train() + ")", pool.subList(0, s.train()));
                dev = s.dev() == 0 ? null : all.withExamples(all.name() + " (dev " + s.dev() + ")",
                        pool.subList(s.train(), s.train() + s.dev()));
                test = s.test() == 0 ? null : all.withExamples(all.name() + " (test " + s.test() + ")",
                        pool.subList(s.train() + s.dev(), need));
            }
        }
        return new Dataset[] {train, dev, test};
    }

    /**
     * A run's data for the masked-LM prompt (objective mlm): classification data, one row per example with one mask
     * ({@link MaskedPromptEncoder}); {@code template} is checked against the training set (its {@link
     * MaskedTemplate#words} are then in the data set's label order).
     */
    public static TrainData loadMasked(Data d, MaskedPromptEncoder encoder, MaskedTemplate template,
            long runSeed) {
        return loadMasked(d, encoder, template, runSeed, null);
    }

    /** As above, over {@code given} (in memory: texts to classify) instead of the files {@code d} names, if given. */
    public static TrainData loadMasked(Data d, MaskedPromptEncoder encoder, MaskedTemplate template,
            long runSeed, Dataset given) {
        if (given == null && d.format().equals("text")) {
            throw new ZotuneException("objective mlm needs classification data with a masked-LM template, not "
                    + "data.format text");
        }
        Dataset[] sets = given != null ? new Dataset[] {given, null, null}
                : datasets(d, d.seed() != null ? d.seed() : runSeed);
        Dataset train = sets[0].requireLabels();
        List<EncodedExample> tr = encoder.encode(train, template);
        // dev and test on the training set's labels, and checked last: the template's words then follow its order
        List<EncodedExample> dev = sets[1] == null ? List.of() : encoder.encode(sameLabels(train, sets[1]), template);
        List<EncodedExample> test = sets[2] == null ? List.of() : encoder.encode(sameLabels(train, sets[2]), template);
        template.check(train);
        return new TrainData(false, tr, dev, test, encoder.padId(), About.of(train, ", masked-LM template "
                + template.name()), train.labels());
    }

    /**
     * A run's data for objective similarity or head: classification data, one row per example holding its text
     * ({@link TextRowEncoder}); its {@code labels} are the training set's, in the order of the gold indices.
     */
    public static TrainData loadEncoded(Data d, TextRowEncoder encoder, TextTemplate template, int padId,
            long runSeed) {
        return loadEncoded(d, encoder, template, padId, runSeed, null);
    }

    /** As above, over {@code given} (in memory: texts to classify) instead of the files {@code d} names, if given. */
    public static TrainData loadEncoded(Data d, TextRowEncoder encoder, TextTemplate template, int padId,
            long runSeed, Dataset given) {
        if (given == null && d.format().equals("text")) {
            throw new ZotuneException("objectives similarity and head need classification data, not data.format "
                    + "text");
        }
        Dataset[] sets = given != null ? new Dataset[] {given, null, null}
                : datasets(d, d.seed() != null ? d.seed() : runSeed);
        Dataset train = sets[0].requireLabels();
        List<EncodedExample> tr = encoder.encode(train, template);
        List<EncodedExample> dev = sets[1] == null ? List.of() : encoder.encode(sameLabels(train, sets[1]), template);
        List<EncodedExample> test = sets[2] == null ? List.of() : encoder.encode(sameLabels(train, sets[2]), template);
        return new TrainData(false, tr, dev, test, padId, About.of(train, ", text " + template.name()),
                train.labels());
    }

    /**
     * Gold indices are positions in a data set's own label list (a small dev file may list fewer labels, or in another
     * order): re-index dev and test onto the training set's labels; a label training never saw is an error.
     */
    static Dataset sameLabels(Dataset train, Dataset other) {
        Dataset o = other.requireLabels();
        if (o.labels().equals(train.labels())) {
            return o;
        }
        List<org.zotune.data.Example> out = new ArrayList<>(o.size());
        for (org.zotune.data.Example e : o.examples()) {
            String label = o.labels().get(e.label());
            int at = train.labels().indexOf(label);
            if (at < 0) {
                throw new ZotuneException(e.source() + ": label '" + label + "' is not one of the training set's "
                        + train.labels());
            }
            out.add(new org.zotune.data.Example(e.source(), e.fields(), at, e.options()));
        }
        return new Dataset(o.name(), o.kind(), train.labels(), o.inputFields(), out, o.skipped());
    }

    /**
     * The text of key data.template for objective similarity or head: absent or a built-in task name (sst2, ...): the
     * data set's input fields; a pattern: the text it renders.
     */
    public static TextTemplate textTemplate(Data d) {
        String t = d.template();
        if (t == null || !t.contains("{")) {
            return TextTemplate.fields(t == null ? "fields" : t);
        }
        return TextTemplate.pattern(t);
    }

    /** The masked-LM template of key data.template: a built-in name, or a pattern with one mask and data.verbalizer. */
    public static MaskedTemplate maskedTemplate(Data d) {
        String t = d.template();
        if (t == null) {
            throw new ZotuneException("key 'data.template' is required for objective mlm: a built-in masked-LM "
                    + "template (" + String.join(", ", MaskedTemplates.names()) + ") or a pattern with {field} "
                    + "placeholders and one <mask> (or [MASK])");
        }
        if (!MaskedTemplate.isPattern(t)) {
            if (d.verbalizer() != null) {
                throw new ZotuneException("key 'data.verbalizer' is only for a pattern template; built-in masked-LM "
                        + "template '" + t + "' has its own");
            }
            return MaskedTemplates.builtin(t);
        }
        if (d.verbalizer() == null) {
            throw new ZotuneException("key 'data.verbalizer' is required with the masked-LM pattern \"" + t
                    + "\" (label -> word)");
        }
        return new MaskedTemplate("pattern", t, new LinkedHashMap<>(d.verbalizer()));
    }

    /** Says how many training examples max_length cut (prompts from the left, text at its end). */
    private static String truncated(List<EncodedExample> cut, List<EncodedExample> whole, int maxLength) {
        int n = 0;
        for (int i = 0; i < cut.size(); i++) {
            for (int r = 0; r < cut.get(i).rows().length; r++) {
                if (cut.get(i).rows()[r].length != whole.get(i).rows()[r].length) {
                    n++;
                    break;
                }
            }
        }
        return n == 0 ? "" : "; " + n + " training example(s) truncated to max_length " + maxLength;
    }

    /**
     * The classification template of key data.template for texts without data (a decoder's classify): a built-in
     * classification template or a pattern ending in {label} with data.verbalizer; one line when there is none or it
     * is a multiple-choice template.
     */
    public static PatternTemplate classificationTemplate(Data d) {
        if (d.template() == null) {
            throw new ZotuneException("key 'data.template' is required to classify with a decoder: a built-in name ("
                    + String.join(", ", Templates.names()) + ") or a pattern ending in {label} with data.verbalizer");
        }
        PromptTemplate t = template(d, null);
        if (!(t instanceof PatternTemplate p) || p.verbalizer() == null) {
            throw new ZotuneException("key 'data.template': '" + d.template() + "' is a multiple-choice template "
                    + "({option}); classifying a text needs a classification template (ending in {label})");
        }
        return p;
    }

    /**
     * Texts in memory ({@code given}, labelled by the template's classes) as a decoder's classification data under
     * key data.template: the training set of the result, scored by candidates as an evaluation scores them.
     */
    public static TrainData loadGiven(Data d, Tokenizer tokenizer, int maxLength, Dataset given) {
        PromptEncoder encoder = new PromptEncoder(tokenizer, maxLength);
        PromptTemplate template = classificationTemplate(d);
        List<EncodedExample> tr = encoder.encode(given, template);
        return new TrainData(false, tr, List.of(), List.of(), encoder.padId(), About.of(given, ", template "
                + template.name()), given.labels());
    }

    static PromptTemplate template(Data d, Dataset data) {
        String t = d.template();
        if (t == null) {
            if (data != null && data.kind() == Dataset.Kind.MULTIPLE_CHOICE) {
                return Templates.builtin("mc");
            }
            throw new ZotuneException("key 'data.template' is required for " + data.kind().name().toLowerCase()
                    + " data (" + data.name() + "): a built-in name (" + String.join(", ", Templates.names())
                    + ") or a pattern ending in {label} / {option}");
        }
        if (!t.contains("{") && !t.matches("[A-Za-z0-9_-]+")) {
            throw new ZotuneException("key 'data.template': '" + t + "' is not a built-in name (" + String.join(", ",
                    Templates.names()) + ") and, without {field} placeholders, not a pattern either: a pattern "
                    + "names the example's fields in braces and ends in {label} / {option}");
        }
        if (!t.contains("{")) {
            if (d.verbalizer() != null) {
                throw new ZotuneException("key 'data.verbalizer' is only for a pattern template; built-in template '"
                        + t + "' has its own");
            }
            return Templates.builtin(t);
        }
        Map<String, String> verb = d.verbalizer() == null ? null : new LinkedHashMap<>(d.verbalizer());
        return new PatternTemplate("pattern", t, verb);
    }

    private static Dataset read(Data d, List<String> files, String split, long seed) {
        if (d.format().equals("kshot")) {
            if (d.task() == null || d.kShot() == 0) {
                throw new ZotuneException("data.format kshot needs data.task and data.k_shot (the LM-BFF folder "
                        + "<task>/<k>-<seed>)");
            }
            if (files.size() != 1) { // the others would be ignored
                throw new ZotuneException("data." + split + ": data.format kshot reads one LM-BFF root folder, got "
                        + files.size());
            }
            // the seed as it is: (int) would read another seed's folder for a seed past 2^31
            return KShotReader.read(Path.of(files.get(0)), d.task(), d.kShot(), seed, split, ReadOptions.STRICT);
        }
        if (files.size() != 1) {
            throw new ZotuneException("data." + split + ": data.format " + d.format() + " reads one file, got "
                    + files.size());
        }
        Path f = Path.of(files.get(0));
        return switch (d.format()) {
            case "jsonl" -> ZotuneJsonlReader.read(f, ReadOptions.STRICT);
            case "nli-json" -> PairJsonReader.read(f, ReadOptions.STRICT);
            case "sst2" -> TableReader.sst2(f, ReadOptions.STRICT);
            case "tsv" -> {
                if (d.verbalizer() == null) {
                    throw new ZotuneException("data.format tsv needs data.verbalizer (its keys are the labels)");
                }
                // the verbalizer's labels are the names data.rename_labels gives; the file holds the old ones
                List<String> labels = new ArrayList<>();
                Map<String, String> back = new LinkedHashMap<>();
                if (d.renameLabels() != null) {
                    d.renameLabels().forEach((from, to) -> back.put(to, from));
                }
                d.verbalizer().keySet().forEach(l -> labels.add(back.getOrDefault(l, l)));
                yield TableReader.glueTsv(f, d.textColumn() != null ? d.textColumn() : "sentence",
                        d.labelColumn() != null ? d.labelColumn() : "label", labels, ReadOptions.STRICT);
            }
            case "label-sentence" -> {
                if (d.classes() == null) {
                    throw new ZotuneException("data.format label-sentence needs data.classes (the number of classes)");
                }
                yield LabelSentenceReader.read(f, d.classes(), ReadOptions.STRICT);
            }
            case "superglue" -> {
                if (d.task() == null) {
                    throw new ZotuneException("data.format superglue needs data.task (boolq, cb, copa, rte, wic)");
                }
                yield SuperGlueReader.read(f, SuperGlueReader.task(d.task()), ReadOptions.STRICT);
            }
            default -> throw new AssertionError(d.format());
        };
    }

    private static List<EncodedExample> chunks(List<int[]> chunks) {
        List<EncodedExample> out = new ArrayList<>(chunks.size());
        for (int[] c : chunks) {
            out.add(new EncodedExample("chunk", new int[][] {c}, new int[] {0}, 0));
        }
        return out;
    }

    private static List<EncodedExample> lm(PromptEncoder e, Dataset d) {
        return d == null ? List.of() : e.encodeLanguageModel(d);
    }

    private static List<EncodedExample> encode(PromptEncoder e, Dataset d, PromptTemplate t) {
        return d == null ? List.of() : e.encode(d.requireLabels(), t);
    }

    private static List<Path> paths(List<String> files) {
        return files.stream().map(Path::of).toList();
    }

}
