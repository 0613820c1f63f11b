package org.zotune.data.io;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.ReadOptions;
import org.zotune.data.io.TableLayout.Format;

/**
 * Reads LM-BFF's k-shot folders {@code <root>/<TASK>/<k>-<seed>/{train,dev,test}.{tsv,csv}}. Each task keeps
 * its original column layout; this class knows them:
 * <pre>
 * task   file  header  fields (column)                                   label column   labels
 * SST-2  tsv   yes     sentence (sentence)                                label          0 1
 * CoLA   tsv   no      sentence (3)                                       1              0 1
 * MNLI   tsv   yes     premise (sentence1), hypothesis (sentence2)        last column    contradiction entailment neutral
 * SNLI   tsv   yes     premise (sentence1), hypothesis (sentence2)        last column    contradiction entailment neutral
 * RTE    tsv   yes     premise (sentence1), hypothesis (sentence2)        label          entailment not_entailment
 * QNLI   tsv   yes     question (question), sentence (sentence)           label          entailment not_entailment
 * MRPC   tsv   yes     sentence1 (#1 String), sentence2 (#2 String)       Quality        0 1
 * QQP    tsv   yes     question1 (question1), question2 (question2)       is_duplicate   0 1
 * STS-B  tsv   yes     sentence1 (sentence1), sentence2 (sentence2)       score          (regression)
 * sst-5  csv   no      sentence (1)                                       0              0 .. 4
 * trec   csv   no      sentence (1)                                       0              0 .. 5
 * mr, cr, mpqa, subj   csv no  sentence (1)                               0              0 1
 * </pre>
 * RTE's sentence1/sentence2 become premise/hypothesis so that the RTE prompt serves both this and SuperGLUE.
 * MNLI and SNLI rows list every annotator's label before the gold label, so their label is each row's last column
 * (gold_label), as LM-BFF reads it. MNLI has no plain {@code dev}: split "dev" reads {@code dev_matched}.
 */
public final class KShotReader {
    private static final Map<String, TableLayout> LAYOUTS = new LinkedHashMap<>();

    static {
        List<String> bin = List.of("0", "1");
        List<String> nli3 = List.of("contradiction", "entailment", "neutral");
        List<String> nli2 = List.of("entailment", "not_entailment");
        LAYOUTS.put("SST-2", TableLayout.tsv("sentence", "sentence", "label", bin));
        LAYOUTS.put("CoLA", new TableLayout(Format.TSV, false, List.of("sentence"), List.of("3"), "1", bin,
                Dataset.Kind.CLASSIFICATION));
        for (String t : List.of("MNLI", "SNLI")) {
            LAYOUTS.put(t, pair("premise", "sentence1", "hypothesis", "sentence2", TableLayout.LAST, nli3));
        }
        LAYOUTS.put("RTE", pair("premise", "sentence1", "hypothesis", "sentence2", "label", nli2));
        LAYOUTS.put("QNLI", pair("question", "question", "sentence", "sentence", "label", nli2));
        LAYOUTS.put("MRPC", pair("sentence1", "#1 String", "sentence2", "#2 String", "Quality", bin));
        LAYOUTS.put("QQP", pair("question1", "question1", "question2", "question2", "is_duplicate", bin));
        LAYOUTS.put("STS-B", new TableLayout(Format.TSV, true, List.of("sentence1", "sentence2"),
                List.of("sentence1", "sentence2"), "score", List.of(), Dataset.Kind.REGRESSION));
        LAYOUTS.put("sst-5", csv(5));
        LAYOUTS.put("trec", csv(6));
        for (String t : List.of("mr", "cr", "mpqa", "subj")) {
            LAYOUTS.put(t, csv(2));
        }
    }

    private KShotReader() {
    }

    private static TableLayout pair(String f1, String c1, String f2, String c2, String label, List<String> labels) {
        return new TableLayout(Format.TSV, true, List.of(f1, f2), List.of(c1, c2), label, labels,
                Dataset.Kind.CLASSIFICATION);
    }

    private static TableLayout csv(int classes) {
        return new TableLayout(Format.CSV, false, List.of("sentence"), List.of("1"), "0",
                Rows.numberedLabels(classes), Dataset.Kind.CLASSIFICATION);
    }

    /** The task names this reader knows, as LM-BFF spells its folders. */
    public static List<String> tasks() {
        return List.copyOf(LAYOUTS.keySet());
    }

    /** The layout of a task (its name matched ignoring case). */
    public static TableLayout layout(String task) {
        return LAYOUTS.get(canonical(task));
    }

    /**
     * Reads split {@code split} ("train", "dev" or "test") of {@code task}'s {@code k}-shot sample drawn with
     * {@code seed} under {@code root} (the {@code lm-bff-k-shot} folder).
     */
    public static Dataset read(Path root, String task, int k, long seed, String split, ReadOptions options) {
        String name = canonical(task);
        TableLayout layout = LAYOUTS.get(name);
        if (k <= 0) {
            throw new ZotuneException("k-shot task " + name + ": k = " + k + " must be positive");
        }
        Path dir = root.resolve(name).resolve(k + "-" + seed);
        if (!Files.isDirectory(dir)) {
            throw new ZotuneException(dir + ": no such k-shot folder (task " + name + ", k " + k + ", seed " + seed + ")");
        }
        String ext = layout.format() == Format.TSV ? ".tsv" : ".csv";
        Path file = dir.resolve(split + ext);
        if (!Files.exists(file) && name.equals("MNLI") && split.equals("dev")) {
            file = dir.resolve("dev_matched.tsv");
        }
        if (!Files.exists(file)) {
            throw new ZotuneException(file + ": no such file (task " + name + " has no split '" + split + "' here)");
        }
        return TableReader.read(file, layout, options);
    }

    private static String canonical(String task) {
        for (String t : LAYOUTS.keySet()) {
            if (t.toLowerCase(Locale.ROOT).equals(task.toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        throw new ZotuneException("unknown LM-BFF task '" + task + "' (known: " + LAYOUTS.keySet() + ")");
    }
}
