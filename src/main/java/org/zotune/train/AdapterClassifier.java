package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The classifier an adapter of an objective head run carries beside LoRA's A and B or a prefix (PEFT's SEQ_CLS
 * modules_to_save: {@code classifier.weight} [labels, hidden], {@code classifier.bias} [labels] under PEFT's names),
 * with what zotune writes into the adapter's safetensors metadata to score it as the run did: the labels of its rows
 * ({@value #LABELS}, a JSON list) and the head's pooling ({@value #POOLING}). zotune eval scores it over the adapted
 * body (objective head).
 *
 * <p>An adapter PEFT made (no zotune metadata at all: neither these keys nor {@link PeftExport#BASE_WEIGHTS}) is read
 * as PEFT's SEQ_CLS classes hold it ({@link #asPeftMade}): its rows are the base folder's config.json id2label (or
 * transformers' default names LABEL_0, LABEL_1, ...), its pooling the pooler, what BertForSequenceClassification
 * classifies.
 *
 * @param weight     [labels, hidden], named {@code classifier.weight}
 * @param bias       [labels], named {@code classifier.bias}
 * @param labels     row i's label (null until {@link #asPeftMade} fills a PEFT-made adapter's)
 * @param pooling    mean, cls or pooler (null: objective head's default, mean)
 * @param source     the adapter's weights file, in messages
 * @param labelsFrom where {@code labels} were read, in messages
 * @param peftMade   whether the file has no zotune metadata (made by PEFT, not by a zotune run)
 */
public record AdapterClassifier(HostTensor weight, HostTensor bias, List<String> labels, String pooling,
        String source, String labelsFrom, boolean peftMade) {
    /** Safetensors metadata key: the classifier rows' labels, a JSON list of strings. */
    public static final String LABELS = "zotune_id2label";
    /** Safetensors metadata key: the head's pooling (mean, cls or pooler). */
    public static final String POOLING = "zotune_pooling";
    /** The modules_to_save a SEQ_CLS adapter of zotune's lists. */
    public static final String MODULE = "classifier";
    /** The head name PEFT's SEQ_CLS lists beside "classifier" whatever the model (a module BERT and RoBERTa lack). */
    private static final String PEFT_SCORE = "score";

    /** The metadata entries a head run's adapter carries. */
    public static Map<String, String> metadata(List<String> labels, String pooling) {
        Map<String, String> m = new LinkedHashMap<>();
        try {
            m.put(LABELS, new ObjectMapper().writeValueAsString(labels));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        m.put(POOLING, pooling);
        return m;
    }

    /**
     * The classifier of an adapter whose config lists {@code modulesToSave}: its two tensors named {@code prefix +
     * "classifier.weight"} and {@code ...bias} in {@code tensors} (removed from it, so that what remains is the
     * adapter's own), its labels and pooling from {@code metadata}. One line naming {@code cfgFile} or
     * {@code weightsFile} for a module other than the classifier, a missing or misshapen tensor, or metadata that
     * does not say which label each row is.
     *
     * @param hidden the encoder's hidden size, or -1 for a decoder (refused: a classifier needs an encoder)
     */
    public static AdapterClassifier take(String cfgFile, String weightsFile, JsonNode modulesToSave,
            Map<String, HostTensor> tensors, Map<String, String> metadata, String prefix, int hidden) {
        List<String> modules = new ArrayList<>();
        modulesToSave.forEach(m -> modules.add(m.asText()));
        // PEFT's SEQ_CLS adds "score" (other architectures' head name) to modules_to_save; BERT has no such module
        if (modules.contains(PEFT_SCORE) && tensors.keySet().stream().noneMatch(n -> n.startsWith(prefix + PEFT_SCORE
                + "."))) {
            modules.remove(PEFT_SCORE);
        }
        if (!modules.equals(List.of(MODULE))) {
            throw new ZotuneException(cfgFile + ": modules_to_save " + modulesToSave + ": zotune applies an adapter's "
                    + "modules_to_save only as a sequence classifier's head, [\"" + MODULE + "\"]");
        }
        if (hidden < 0) {
            throw new ZotuneException(cfgFile + ": modules_to_save " + modulesToSave + " is a sequence classifier's "
                    + "head, for an encoder (BERT, RoBERTa); this model is a decoder");
        }
        HostTensor w = tensors.remove(prefix + MODULE + ".weight");
        HostTensor b = tensors.remove(prefix + MODULE + ".bias");
        if (w == null || b == null) {
            throw new ZotuneException(weightsFile + ": modules_to_save [\"" + MODULE + "\"] without tensor " + prefix
                    + MODULE + (w == null ? ".weight" : ".bias"));
        }
        long rows = w.shape().length == 2 ? w.shape()[0] : -1;
        if (rows < 2 || w.shape()[1] != hidden || b.shape().length != 1 || b.shape()[0] != rows) {
            throw new ZotuneException(weightsFile + ": the classifier's tensors have shapes "
                    + java.util.Arrays.toString(w.shape()) + " and " + java.util.Arrays.toString(b.shape())
                    + "; this model's head needs [labels, " + hidden + "] and [labels], labels >= 2");
        }
        if (w.dtype() != DType.F32 && w.dtype() != DType.BF16 && w.dtype() != DType.F16) {
            throw new ZotuneException(weightsFile + ": tensor " + prefix + MODULE + ".weight is " + w.dtype()
                    + ", not a float type");
        }
        String json = metadata.get(LABELS);
        boolean peftMade = json == null && !metadata.containsKey(POOLING)
                && !metadata.containsKey(PeftExport.BASE_WEIGHTS);
        HostTensor weight = HostTensor.ofFloats(org.zotune.model.SequenceClassifier.WEIGHT, w.toFloats(), w.shape());
        HostTensor bias = HostTensor.ofFloats(org.zotune.model.SequenceClassifier.BIAS, b.toFloats(), b.shape());
        if (peftMade) { // the labels come from the base model (asPeftMade)
            return new AdapterClassifier(weight, bias, null, null, weightsFile, null, true);
        }
        if (json == null) {
            throw new ZotuneException(weightsFile + ": the classifier has " + rows + " rows and the file's metadata "
                    + "no " + LABELS + " to say which label each row is (zotune's head runs write it; for an adapter "
                    + "made elsewhere, add it: a JSON list of the labels in row order)");
        }
        List<String> labels = new ArrayList<>();
        try {
            JsonNode l = new ObjectMapper().readTree(json);
            if (!l.isArray()) {
                throw new IOException("not a list");
            }
            l.forEach(x -> labels.add(x.isTextual() ? x.asText() : null));
        } catch (IOException e) {
            throw new ZotuneException(weightsFile + ": metadata " + LABELS + " is not a JSON list of labels: " + json);
        }
        if (labels.size() != rows || labels.contains(null) || new HashSet<>(labels).size() != labels.size()) {
            throw new ZotuneException(weightsFile + ": metadata " + LABELS + " " + json + " should name the "
                    + rows + " rows' labels, each once");
        }
        String pooling = metadata.get(POOLING);
        if (pooling != null && !List.of("mean", "cls", "pooler").contains(pooling)) {
            throw new ZotuneException(weightsFile + ": metadata " + POOLING + " '" + pooling + "' is not mean, cls "
                    + "or pooler");
        }
        return new AdapterClassifier(weight, bias, List.copyOf(labels), pooling, weightsFile, "metadata " + LABELS,
                false);
    }

    /**
     * A PEFT-made adapter's classifier as PEFT's SEQ_CLS class holds it over {@code base}: row i is the base folder's
     * config.json id2label entry i when it names as many labels as there are rows (a classifier's modules_to_save
     * copy keeps its base's rows), else transformers' default name LABEL_i (read as the data's label i when the data's
     * labels are the integers, {@link HeadFolder#asDataLabels}); pooling pooler (the pooled output
     * BertForSequenceClassification classifies). Anything else is returned as it is.
     */
    public AdapterClassifier asPeftMade(org.zotune.model.Checkpoint base) {
        if (!peftMade || labels != null) {
            return this;
        }
        int rows = Math.toIntExact(weight.shape()[0]);
        List<String> named = HeadFolder.labels(base);
        String from;
        if (named != null && named.size() == rows) {
            from = "the base's " + HeadFolder.configFile(base) + " id2label (the adapter has no " + LABELS
                    + " metadata: made by PEFT)";
        } else {
            named = new ArrayList<>(rows);
            for (int i = 0; i < rows; i++) {
                named.add("LABEL_" + i);
            }
            from = "transformers' default names (the adapter has no " + LABELS + " metadata, the base's config.json "
                    + "no id2label of " + rows + " labels)";
        }
        return new AdapterClassifier(weight, bias, List.copyOf(named), "pooler", source, from, true);
    }

    /** weight and bias (as {@code classifier.weight}, {@code classifier.bias}) in {@code dtype}, for an export. */
    public List<HostTensor> exported(DType dtype) {
        return List.of(HostTensors.of(weight.name(), weight.toFloats(), weight.shape(), dtype),
                HostTensors.of(bias.name(), bias.toFloats(), bias.shape(), dtype));
    }

    /** The head's pooling: the metadata's, else objective head's default (mean). */
    public String poolingOrDefault() {
        return pooling != null ? pooling : "mean";
    }

    /** The tensors with row c holding {@code dataLabels.get(c)}'s row (reordered by name when needed), float32. */
    public List<HostTensor> rows(List<String> dataLabels, int hidden) {
        if (labels == null) {
            throw new IllegalStateException("a PEFT-made classifier's labels come from its base (asPeftMade)");
        }
        return HeadFolder.rows(source + ": its classifier", labelsFrom, weight, bias,
                HeadFolder.asDataLabels(labels, dataLabels), dataLabels, hidden);
    }

    /** Where {@link #pooling} was read, for messages. */
    public String poolingFrom() {
        return peftMade ? "PEFT's SEQ_CLS classifier, which classifies the pooler's output (no " + POOLING
                + " metadata)" : "the adapter's metadata " + POOLING;
    }
}
