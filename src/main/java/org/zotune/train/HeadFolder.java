package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.io.HfCheckpoint;
import org.zotune.tensor.HostTensor;

/**
 * The classifier a folder carries (objective head's export: {@code classifier.weight} [labels, hidden],
 * {@code classifier.bias} [labels], config.json's {@code id2label} and {@code zotune_pooling}), read for the data
 * it is used on. Row i belongs to id2label's label i, not to the data's i-th label: the rows are put into the data's
 * label order by name, so a data set that lists the same labels in another order scores as the run did; a data set
 * with other labels is refused (a head cannot score a label it has no row for, and its rows for labels the data lacks
 * would change the prediction).
 */
public final class HeadFolder {
    private HeadFolder() {
    }

    /** Whether the checkpoint carries a classifier (either tensor). */
    public static boolean hasClassifier(Checkpoint checkpoint) {
        return checkpoint.tensors().containsKey(SequenceClassifier.WEIGHT)
                || checkpoint.tensors().containsKey(SequenceClassifier.BIAS);
    }

    /** The folder's config.json (the checkpoint's source is the folder or its weights file). */
    public static Path configFile(Checkpoint checkpoint) {
        Path s = checkpoint.source();
        Path dir = Files.isDirectory(s) ? s : s.toAbsolutePath().getParent();
        return dir.resolve(HfCheckpoint.CONFIG);
    }

    /**
     * How the folder's classifier pools its input: config.json's {@code zotune_pooling} (a head run's export); else
     * {@code pooler} for a Hugging Face sequence classifier (architectures {@code BertForSequenceClassification},
     * {@code RobertaForSequenceClassification}: both classify tanh(dense(·)) of the first token, zotune's pooling
     * pooler); else null (zotune's default, mean).
     */
    public static String pooling(Checkpoint checkpoint) {
        JsonNode c = config(checkpoint);
        JsonNode p = c.path("zotune_pooling");
        if (p.isTextual()) {
            return p.asText();
        }
        return hfSequenceClassifier(c) != null ? "pooler" : null;
    }

    /** Where {@link #pooling} was read, for messages. */
    public static String poolingSource(Checkpoint checkpoint) {
        JsonNode c = config(checkpoint);
        return c.path("zotune_pooling").isTextual() ? "config.json's zotune_pooling" : "config.json's architectures "
                + hfSequenceClassifier(c) + ", which classifies the pooler's output";
    }

    /** config.json's architectures entry that names a Hugging Face ...ForSequenceClassification class, or null. */
    private static String hfSequenceClassifier(JsonNode config) {
        for (JsonNode a : config.path("architectures")) {
            if (a.isTextual() && a.asText().endsWith("ForSequenceClassification")) {
                return a.asText();
            }
        }
        return null;
    }

    /** config.json's {@code id2label} as a list (index i: label i), or null when absent. */
    public static List<String> labels(Checkpoint checkpoint) {
        Path file = configFile(checkpoint);
        JsonNode m = config(checkpoint).path("id2label");
        if (m.isMissingNode() || m.isNull()) {
            return null;
        }
        if (!m.isObject()) {
            throw new ZotuneException(file + ": id2label is not an object of index -> label");
        }
        String[] out = new String[m.size()];
        var it = m.fields();
        while (it.hasNext()) {
            var e = it.next();
            int i;
            try {
                i = Integer.parseInt(e.getKey());
            } catch (NumberFormatException x) {
                i = -1;
            }
            if (i < 0 || i >= out.length || out[i] != null || !e.getValue().isValueNode()) {
                throw new ZotuneException(file + ": id2label should map the indices 0.." + (out.length - 1)
                        + " to label names, has '" + e.getKey() + "': " + e.getValue());
            }
            out[i] = e.getValue().asText();
        }
        if (new HashSet<>(Arrays.asList(out)).size() != out.length) {
            throw new ZotuneException(file + ": id2label names a label twice: " + Arrays.toString(out));
        }
        return List.of(out);
    }

    /**
     * The checkpoint's classifier tensors (weight, bias) with row c holding {@code labels.get(c)}'s row: reordered
     * through config.json's id2label when it lists the labels in another order, the tensors themselves when in the
     * same order.
     *
     * @param labels the data's label names in gold-index order
     * @param hidden the encoder's hidden size
     * @throws ZotuneException in one line, naming the folder, when a tensor is missing or of another shape, id2label
     *                         is absent, or it names other labels than the data's (both listed)
     */
    public static List<HostTensor> classifier(Checkpoint checkpoint, List<String> labels, int hidden) {
        HostTensor w = checkpoint.tensors().get(SequenceClassifier.WEIGHT);
        HostTensor b = checkpoint.tensors().get(SequenceClassifier.BIAS);
        String where = checkpoint.source() + ": its classifier";
        if (w == null || b == null) {
            throw new ZotuneException(where + " lacks " + (w == null ? SequenceClassifier.WEIGHT
                    : SequenceClassifier.BIAS) + " (a head run's model/ or best/ has both)");
        }
        List<String> named = labels(checkpoint);
        if (named == null) {
            throw new ZotuneException(where + " has " + w.shape()[0] + " rows, and " + configFile(checkpoint)
                    + " has no id2label to say which label each row is (the data's labels: " + labels + ")");
        }
        List<String> asData = asDataLabels(named, labels);
        String from = asData.equals(named) ? "config.json id2label" : "config.json id2label LABEL_0.."
                + (named.size() - 1) + ", transformers' default names, read as the labels 0.." + (named.size() - 1);
        return rows(where, from, w, b, asData, labels, hidden);
    }

    /**
     * config.json's id2label as the names of {@code dataLabels}: transformers' default names LABEL_0, LABEL_1, ...
     * (a classifier saved without names) are the labels "0", "1", ... when every data label is such an integer below
     * their count, as GLUE's files and integer JSON labels give; otherwise the names as they are (null when absent).
     */
    public static List<String> labelsFor(Checkpoint checkpoint, List<String> dataLabels) {
        List<String> named = labels(checkpoint);
        return named == null ? null : asDataLabels(named, dataLabels);
    }

    /**
     * Row names as the data's labels: transformers' default names LABEL_0, LABEL_1, ... become "0", "1", ... when
     * every data label is such an integer below their count; other names stay.
     */
    public static List<String> asDataLabels(List<String> named, List<String> dataLabels) {
        if (!hfDefaultNames(named)) {
            return named;
        }
        List<String> ids = new ArrayList<>(named.size());
        for (int i = 0; i < named.size(); i++) {
            ids.add(Integer.toString(i));
        }
        return ids.containsAll(dataLabels) ? List.copyOf(ids) : named;
    }

    /** Whether id2label holds transformers' default names, LABEL_0, LABEL_1, ... in index order. */
    private static boolean hfDefaultNames(List<String> named) {
        for (int i = 0; i < named.size(); i++) {
            if (!named.get(i).equals("LABEL_" + i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * A classifier's tensors (weight, bias) whose row i is label {@code named.get(i)}, with row c holding
     * {@code labels.get(c)}'s row: the tensors themselves when in the same order, else reordered.
     *
     * @param where     the classifier's source in messages
     * @param namedFrom where {@code named} was read, in messages
     * @throws ZotuneException in one line when {@code named} is not the data's labels or a shape does not fit
     */
    static List<HostTensor> rows(String where, String namedFrom, HostTensor w, HostTensor b, List<String> named,
            List<String> labels, int hidden) {
        if (!new HashSet<>(named).equals(new HashSet<>(labels)) || named.size() != labels.size()) {
            throw new ZotuneException(where + "'s labels " + named + " (" + namedFrom + ") are not the data's "
                    + "labels " + labels + ": objective head scores the labels it was trained on"
                    + (named.size() == labels.size() ? " (the same classes under other names? key "
                    + "data.rename_labels, eval's --rename-labels, renames the data's labels)" : ""));
        }
        long[][] shapes = {{labels.size(), hidden}, {labels.size()}};
        HostTensor[] t = {w, b};
        for (int i = 0; i < 2; i++) {
            if (!Arrays.equals(t[i].shape(), shapes[i])) {
                throw new ZotuneException(where + " does not fit objective head with " + labels.size() + " labels: "
                        + t[i].name() + " should be " + Arrays.toString(shapes[i]) + ", is "
                        + Arrays.toString(t[i].shape()));
            }
        }
        if (named.equals(labels)) {
            return List.of(w, b);
        }
        // row c of the result is the folder's row for the data's label c
        float[] wf = w.toFloats();
        float[] bf = b.toFloats();
        float[] wo = new float[wf.length];
        float[] bo = new float[bf.length];
        for (int c = 0; c < labels.size(); c++) {
            int from = named.indexOf(labels.get(c));
            System.arraycopy(wf, from * hidden, wo, c * hidden, hidden);
            bo[c] = bf[from];
        }
        List<HostTensor> out = new ArrayList<>(2);
        out.add(HostTensors.of(w.name(), wo, w.shape(), w.dtype()));
        out.add(HostTensors.of(b.name(), bo, b.shape(), b.dtype()));
        return out;
    }

    private static JsonNode config(Checkpoint checkpoint) {
        Path file = configFile(checkpoint);
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
