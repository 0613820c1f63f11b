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
import org.zotune.model.Architecture;
import org.zotune.model.Checkpoint;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ParamSpec;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.io.SafetensorsFile;
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
 * <p>Where the Hugging Face class keeps more than the linear layer in its classifier module
 * (RobertaForSequenceClassification: {@code classifier.dense}, zotune's pooler, and {@code classifier.out_proj},
 * zotune's classifier), PEFT's
 * modules_to_save holds those too: read back under zotune's names ({@link Architecture#canonicalName}), the
 * classifier as {@code weight}/{@code bias}, the rest as {@code body}, which replaces the base's parameters as PEFT's
 * copy replaces the module ({@link #replacing}); a head run with pooling pooler writes them so
 * ({@link #withHfHead}).
 *
 * @param weight     [labels, hidden], named {@code classifier.weight}
 * @param bias       [labels], named {@code classifier.bias}
 * @param labels     row i's label (null until {@link #asPeftMade} fills a PEFT-made adapter's)
 * @param pooling    mean, cls or pooler (null: objective head's default, mean)
 * @param source     the adapter's weights file, in messages
 * @param labelsFrom where {@code labels} were read, in messages
 * @param peftMade   whether the file has no zotune metadata (made by PEFT, not by a zotune run)
 * @param body       base parameters the adapter's classifier module also holds (RoBERTa's pooler), zotune's names,
 *                   float32; empty for BERT's
 */
public record AdapterClassifier(HostTensor weight, HostTensor bias, List<String> labels, String pooling,
        String source, String labelsFrom, boolean peftMade, List<HostTensor> body) {
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
     * The classifier of an adapter whose config lists {@code modulesToSave}: the tensors named {@code prefix +
     * "classifier."...} in {@code tensors} (removed from it, so that what remains is the adapter's own), read under
     * {@code model}'s names (BERT's {@code classifier.weight}, {@code .bias}; RoBERTa's {@code classifier.out_proj.*}
     * and {@code classifier.dense.*}, its pooler), its labels and pooling from {@code metadata}. One line naming
     * {@code cfgFile} or {@code weightsFile} for a module other than the classifier, a missing, misshapen or unknown
     * tensor, or metadata that does not say which label each row is.
     *
     * @param model the model the adapter is applied to (a decoder is refused: a classifier needs an encoder)
     */
    public static AdapterClassifier take(String cfgFile, String weightsFile, JsonNode modulesToSave,
            Map<String, HostTensor> tensors, Map<String, String> metadata, String prefix, LanguageModel model) {
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
        ModelConfig config = model.config();
        if (config.encoder() == null) {
            throw new ZotuneException(cfgFile + ": modules_to_save " + modulesToSave + " is a sequence classifier's "
                    + "head, for an encoder (BERT, RoBERTa); this model is a decoder");
        }
        int hidden = config.hiddenSize();
        Architecture arch = config.family().architecture();
        Map<String, ParamSpec> specs = new LinkedHashMap<>();
        model.params().forEach(s -> specs.put(s.name(), s));
        HostTensor w = null;
        HostTensor b = null;
        List<HostTensor> body = new ArrayList<>();
        Map<String, String> read = new LinkedHashMap<>(); // zotune's name -> the file's
        for (String n : List.copyOf(tensors.keySet())) {
            if (!n.startsWith(prefix + MODULE + ".")) {
                continue;
            }
            HostTensor t = tensors.remove(n);
            requireFloat(weightsFile, n, t);
            String own = n.substring(prefix.length());
            String canonical = arch.canonicalName(own);
            String before = read.put(canonical, n);
            if (before != null) { // BERT's and RoBERTa's names for the same tensor, both in one file
                throw new ZotuneException(weightsFile + ": tensors " + before + " and " + n + " are both "
                        + canonical + " here; an adapter holds one");
            }
            if (canonical.equals(SequenceClassifier.WEIGHT)) {
                w = t;
            } else if (canonical.equals(SequenceClassifier.BIAS)) {
                b = t;
            } else {
                ParamSpec s = specs.get(canonical);
                if (s == null) {
                    throw new ZotuneException(weightsFile + ": tensor " + n + " is not part of a "
                            + config.family().hfModelType() + " sequence classifier's head" + (canonical.equals(own)
                            ? "" : " here: it is the " + canonical + " this model lacks"));
                }
                if (!java.util.Arrays.equals(s.shape(), t.shape())) {
                    throw new ZotuneException(weightsFile + ": tensor " + n + " has shape "
                            + java.util.Arrays.toString(t.shape()) + "; it replaces " + canonical + ", "
                            + java.util.Arrays.toString(s.shape()));
                }
                body.add(HostTensor.ofFloats(canonical, t.toFloats(), t.shape()));
            }
        }
        for (HostTensor t : body) {
            requireWholeModule(weightsFile, prefix, arch, specs.keySet(), t.name(), read.get(t.name()),
                    read::containsKey);
        }
        if (w == null || b == null) {
            java.util.Set<String> names = new java.util.HashSet<>(List.of(SequenceClassifier.WEIGHT,
                    SequenceClassifier.BIAS));
            body.forEach(t -> names.add(t.name()));
            throw new ZotuneException(weightsFile + ": modules_to_save [\"" + MODULE + "\"] without tensor " + prefix
                    + arch.hfName(w == null ? SequenceClassifier.WEIGHT : SequenceClassifier.BIAS, names));
        }
        long rows = w.shape().length == 2 ? w.shape()[0] : -1;
        if (rows < 2 || w.shape()[1] != hidden || b.shape().length != 1 || b.shape()[0] != rows) {
            throw new ZotuneException(weightsFile + ": the classifier's tensors have shapes "
                    + java.util.Arrays.toString(w.shape()) + " and " + java.util.Arrays.toString(b.shape())
                    + "; this model's head needs [labels, " + hidden + "] and [labels], labels >= 2");
        }
        String json = metadata.get(LABELS);
        boolean peftMade = json == null && !metadata.containsKey(POOLING)
                && !metadata.containsKey(PeftExport.BASE_WEIGHTS);
        HostTensor weight = HostTensor.ofFloats(SequenceClassifier.WEIGHT, w.toFloats(), w.shape());
        HostTensor bias = HostTensor.ofFloats(SequenceClassifier.BIAS, b.toFloats(), b.shape());
        if (peftMade) { // the labels come from the base model (asPeftMade)
            return new AdapterClassifier(weight, bias, null, null, weightsFile, null, true, List.copyOf(body));
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
        if (!body.isEmpty() && !"pooler".equals(pooling)) { // the module's other tensors act through the pooler only
            throw new ZotuneException(weightsFile + ": the classifier module holds " + body.get(0).name() + " (as "
                    + "the Hugging Face class classifies the pooler's output), but metadata " + POOLING + " is "
                    + (pooling == null ? "absent (mean)" : pooling) + ": a head with pooling " + (pooling == null
                    ? "mean" : pooling) + " has no such tensor");
        }
        return new AdapterClassifier(weight, bias, List.copyOf(labels), pooling, weightsFile, "metadata " + LABELS,
                false, List.copyOf(body));
    }

    /**
     * {@code base} with the parameters that the classifier module of a PEFT SEQ_CLS adapter ({@code weightsFile}, its
     * tensors under {@code prefix}) holds and the checkpoint lacks: RobertaForSequenceClassification's
     * {@code classifier.dense} is zotune's pooler, which a RoBERTa saved without one (RobertaForMaskedLM, a
     * RobertaForSequenceClassification without its head) has not. transformers builds that module afresh and PEFT's
     * copy replaces it whole, so the adapter brings it here too ({@link #replacing} then puts the same values in
     * place). {@code base} itself when the adapter holds no such tensor or has no weights file (reading it refuses
     * that).
     *
     * @throws ZotuneException naming the file for half a module or a tensor whose shape is not the parameter's it
     *                         becomes
     */
    public static Checkpoint lending(Checkpoint base, java.nio.file.Path weightsFile, String prefix) {
        if (base.config().encoder() == null || !java.nio.file.Files.isRegularFile(weightsFile)) {
            return base;
        }
        Architecture arch = base.config().family().architecture();
        Map<String, HostTensor> lent = new LinkedHashMap<>();
        Map<String, String> stored = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : SafetensorsFile.open(weightsFile).tensors().entrySet()) {
            String n = e.getKey();
            if (!n.startsWith(prefix + MODULE + ".")) {
                continue;
            }
            requireFloat(weightsFile.toString(), n, e.getValue());
            String own = n.substring(prefix.length());
            String canonical = arch.canonicalName(own);
            if (!canonical.equals(own) && !canonical.equals(SequenceClassifier.WEIGHT)
                    && !canonical.equals(SequenceClassifier.BIAS) && !base.tensors().containsKey(canonical)) {
                lent.put(canonical, e.getValue());
                stored.put(canonical, n);
            }
        }
        if (lent.isEmpty()) {
            return base;
        }
        Map<String, HostTensor> tensors = new LinkedHashMap<>(base.tensors());
        tensors.putAll(lent);
        ModelConfig config = arch.withWeights(base.config(), tensors.keySet());
        Map<String, ParamSpec> specs = new LinkedHashMap<>();
        org.zotune.model.Architectures.createModel(config).params().forEach(s -> specs.put(s.name(), s));
        for (Map.Entry<String, HostTensor> e : lent.entrySet()) {
            ParamSpec s = specs.get(e.getKey());
            if (s == null) { // no parameter of this model even with them: take() names the stray tensor
                return base;
            }
            requireWholeModule(weightsFile.toString(), prefix, arch, specs.keySet(), e.getKey(),
                    stored.get(e.getKey()), tensors::containsKey);
            if (!java.util.Arrays.equals(s.shape(), e.getValue().shape())) {
                throw new ZotuneException(weightsFile + ": tensor " + stored.get(e.getKey()) + " has shape "
                        + java.util.Arrays.toString(e.getValue().shape()) + "; it becomes " + e.getKey() + ", "
                        + java.util.Arrays.toString(s.shape()));
            }
        }
        return new Checkpoint(base.source(), config, tensors);
    }

    /**
     * A module comes whole (RoBERTa's dense needs its weight and its bias): one line naming {@code weightsFile} when a
     * parameter of {@code param}'s module ({@code stored} in the file) is not {@code present}.
     */
    private static void requireWholeModule(String weightsFile, String prefix, Architecture arch,
            java.util.Set<String> params, String param, String stored, java.util.function.Predicate<String> present) {
        String module = param.substring(0, param.lastIndexOf('.') + 1);
        for (String p : params) {
            if (p.startsWith(module) && !present.test(p)) {
                java.util.Set<String> names = new java.util.HashSet<>(params);
                names.add(SequenceClassifier.WEIGHT);
                throw new ZotuneException(weightsFile + ": the classifier module has " + stored + " without tensor "
                        + prefix + arch.hfName(p, names));
            }
        }
    }

    private static void requireFloat(String weightsFile, String name, HostTensor t) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw new ZotuneException(weightsFile + ": tensor " + name + " is " + t.dtype() + ", not a float type");
        }
    }

    /**
     * {@code base} with the parameters this classifier's module also holds ({@link #body}: a PEFT RoBERTa
     * classifier's dense, the pooler) in place of the base's, each in its base tensor's dtype: what PEFT's
     * modules_to_save copy does to the module. {@code base} itself when there are none.
     */
    public List<HostTensor> replacing(List<HostTensor> base) {
        if (body.isEmpty()) {
            return base;
        }
        Map<String, HostTensor> by = new LinkedHashMap<>();
        body.forEach(t -> by.put(t.name(), t));
        List<HostTensor> out = new ArrayList<>(base.size());
        for (HostTensor t : base) {
            HostTensor r = by.remove(t.name());
            out.add(r == null ? t : HostTensors.of(t.name(), r.toFloats(), t.shape(), t.dtype()));
        }
        if (!by.isEmpty()) { // take() checked every name against the model's parameters
            throw new IllegalStateException("no base parameter " + by.keySet());
        }
        return out;
    }

    /**
     * How a head run's adapter holds its classifier, so that PEFT's SEQ_CLS class over the base scores it as the run
     * did: the metadata entries ({@link #metadata}) and the adapter's tensors as written to their file (PEFT's names)
     * with the classifier named as the Hugging Face class names it ({@link #withHfHead}). Its rows stay in the run's
     * label order, which is the order PEFT's class reads them in: the base classifier's id2label when the run starts
     * from one, else the data's (integer labels ascending: transformers' LABEL_i is label i).
     */
    public record Written(Map<String, String> metadata, java.util.function.UnaryOperator<List<HostTensor>> tensors) {
    }

    /**
     * {@link Written} for a head run with {@code labels} and {@code pooling} on a model of {@code arch} whose
     * parameters as loaded are {@code base}, its classifier under {@code prefix}.
     */
    public static Written written(List<String> labels, String pooling, Architecture arch, List<HostTensor> base,
            String prefix) {
        return new Written(metadata(labels, pooling), t -> withHfHead(t, prefix, arch, base, pooling));
    }

    /**
     * A head run's adapter tensors ({@code written}, its classifier under {@code prefix + "classifier.weight"} and
     * {@code ...bias}) under the names of the Hugging Face class that classifies as the head does, so that PEFT's
     * modules_to_save restores that class's whole classifier module: with pooling pooler on RoBERTa, the base's pooler
     * ({@code base}, frozen in the run) joins as {@code classifier.dense}, the classifier becomes
     * {@code classifier.out_proj} ({@link Architecture#hfName}). BERT's classifier module is the linear layer alone,
     * and a head pooling mean or cls has no Hugging Face class: {@code written} as it is.
     */
    public static List<HostTensor> withHfHead(List<HostTensor> written, String prefix, Architecture arch,
            List<HostTensor> base, String pooling) {
        if (!"pooler".equals(pooling)) {
            return written;
        }
        java.util.Set<String> names = new java.util.HashSet<>(List.of(SequenceClassifier.WEIGHT,
                SequenceClassifier.BIAS));
        base.forEach(t -> names.add(t.name()));
        List<HostTensor> inside = new ArrayList<>();
        for (HostTensor t : base) { // what the HF class holds in its classifier module besides the linear layer
            boolean linear = t.name().equals(SequenceClassifier.WEIGHT) || t.name().equals(SequenceClassifier.BIAS);
            if (!linear && arch.hfName(t.name(), names).startsWith(MODULE + ".")) {
                inside.add(t);
            }
        }
        if (inside.isEmpty()) {
            return written;
        }
        List<HostTensor> out = new ArrayList<>(written.size() + inside.size());
        for (HostTensor t : written) {
            String own = t.name().startsWith(prefix) ? t.name().substring(prefix.length()) : null;
            out.add(own != null && (own.equals(SequenceClassifier.WEIGHT) || own.equals(SequenceClassifier.BIAS))
                    ? HostTensor.ofFloats(prefix + arch.hfName(own, names), t.toFloats(), t.shape()) : t);
        }
        for (HostTensor t : inside) { // float32, as PEFT saves modules_to_save beside the adapter's own tensors
            out.add(HostTensor.ofFloats(prefix + arch.hfName(t.name(), names), t.toFloats(), t.shape()));
        }
        return out;
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
        return new AdapterClassifier(weight, bias, List.copyOf(named), "pooler", source, from, true, body);
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
