package org.zotune.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.IntConsumer;
import org.zotune.ZotuneException;
import org.zotune.backend.AppendedWeights;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.Checkpoint;
import org.zotune.model.EncoderModel;
import org.zotune.model.Generator;
import org.zotune.model.KvCache;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.AdapterClassifier;
import org.zotune.train.HeadFolder;
import org.zotune.train.HfExport;
import org.zotune.train.PeftExport;
import org.zotune.train.PeftImport;
import org.zotune.train.PrefixExport;
import org.zotune.train.PrefixImport;
import org.zotune.train.RunInputs;
import org.zotune.train.TrainConfig;
import org.zotune.train.TrainData;
import org.zotune.train.config.RecordBinder;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.HeadOptions;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.train.objective.SimilarityOptions;
import org.zotune.train.run.Fingerprints;
import org.zotune.zo.cuda.DecodeGraph;

/**
 * A language model opened on a device: its tokenizer, its weights in device memory, and what can be asked of it
 * (tokenize, score, logits, generate; fill-mask and embeddings for encoders).
 * <p>
 * Owns device memory: close it (try-with-resources) to free the GPU memory at once rather than at exit.
 * <b>Not thread-safe</b>: one thread at a time (a service scoring from several threads opens one model per thread
 * or serialises the calls). Errors in the caller's input are {@link ZotuneException}s with a one-line message.
 */
public final class Model implements AutoCloseable {
    private final ModelSource source;
    private final Path modelPath;
    private final Path tokenizerPath;
    private final ModelConfig config;
    /** A {@link CausalLM} or an {@link EncoderModel}. */
    private final LanguageModel model;
    private final List<HostTensor> hostParameters;
    /** Null for an encoder folder without tokenizer.json (ids only). */
    private final Tokenizer tokenizer;
    private final String tokenizerName;
    private final Ops ops;
    private final Parameters params;
    /** What the forward passes read: the parameters, or with an adapter the composed W + (α/r)·B·A or prefixes. */
    private final WeightSource weights;
    /** The loaded adapter (its constants and tensors on the device), or null. */
    private final AutoCloseable adapterMemory;
    private final Path adapter;
    /** lora, prefix, or null. */
    private final String adapterMethod;
    private final String fallbackReason;
    /** The checkpoint as read: its tensors beyond the model's (an exported classifier) and its folder's config. */
    private final Checkpoint checkpoint;
    /** The classifier an adapter carries beside its own tensors (a head run's, SEQ_CLS modules_to_save), or null. */
    private final AdapterClassifier adapterHead;
    /** The LoRA adapter as read at open (checked against the base there), or null: export merges it on the CPU. */
    private final PeftImport.Adapter lora;
    private boolean closed;

    private Model(ModelSource source, Path modelPath, Path tokenizerPath, LanguageModel model,
            List<HostTensor> hostParameters, Tokenizer tokenizer, Ops ops, Parameters params, WeightSource weights,
            AutoCloseable adapterMemory, Path adapter, String adapterMethod, String fallbackReason,
            Checkpoint checkpoint, AdapterClassifier adapterHead, PeftImport.Adapter lora) {
        this.source = source;
        this.lora = lora;
        this.adapterHead = adapterHead;
        this.checkpoint = checkpoint;
        this.modelPath = modelPath;
        this.tokenizerPath = tokenizerPath;
        this.config = model.config();
        this.model = model;
        this.hostParameters = hostParameters;
        this.tokenizer = tokenizer;
        this.tokenizerName = tokenizerPath != null ? tokenizerPath.toString() : guessTokenizerFile(modelPath);
        this.ops = ops;
        this.params = params;
        this.weights = weights;
        this.adapterMemory = adapterMemory;
        this.adapter = adapter;
        this.adapterMethod = adapterMethod;
        this.fallbackReason = fallbackReason;
    }

    /**
     * Loads the model and its tokenizer and copies the weights to the device. A decoder (GPT-2, OPT, Llama) needs a
     * tokenizer; an encoder (BERT, RoBERTa) reads its folder's tokenizer.json when there is one, and without it
     * takes token ids only ({@link #fillMask(int[], int, int)}, {@link #embedIds}).
     *
     * @param source    the model's files
     * @param device    where it runs
     * @param precision the parameters' and activations' dtype
     * @return the open model, which the caller closes
     * @throws ZotuneException when a file is missing or unusable, the tokenizer has more ids than the model's
     *                         vocabulary, or {@link Device#CUDA} has no usable device
     */
    public static Model open(ModelSource source, Device device, Precision precision) {
        return open(source, device, precision, null);
    }

    /** An adapter's classifier (or null) with a PEFT-made one's labels and pooling taken from its base. */
    private static AdapterClassifier completed(AdapterClassifier c, Checkpoint base) {
        return c == null ? null : c.asPeftMade(base);
    }

    /**
     * {@link #open(ModelSource, Device, Precision)} with a PEFT adapter applied: a Hugging Face PEFT adapter folder
     * ({@code adapter_config.json} + {@code adapter_model.safetensors}, as {@code save_pretrained} or a zotune run
     * writes it). A LoRA adapter (peft_type LORA; on an encoder made on its bare model or its masked LM: PEFT's
     * names for each are read): every forward pass sees W + (α/r)·B·A for the adapted weights, on the CPU formed
     * per pass as training does (a run's adapter scores here bit for bit as in the run), on CUDA merged once on the
     * device by the op training forms W' with. A prefix adapter (peft_type PREFIX_TUNING, decoders and encoders):
     * every attention layer takes its keys and values as a float32 prefix, as training does on either backend (a
     * run's prefix scores here bit for bit as in the run on the same device). A sequence classifier's module in
     * modules_to_save replaces the base's (RoBERTa's classifier.dense is the pooler, taken from the adapter where the
     * base has none, as transformers does). The adapter is checked first: its
     * config against the model, every tensor's presence and shape, and the base weights it records (zotune's
     * adapters do): an adapter trained on other weights is refused, each in one line.
     *
     * @param adapter the adapter folder, or null for none
     * @return the open model, which the caller closes
     * @throws ZotuneException when a file is missing or unusable, the tokenizer has more ids than the model's
     *                         vocabulary, the adapter does not fit the model, or {@link Device#CUDA} has no usable
     *                         device
     */
    public static Model open(ModelSource source, Device device, Precision precision, Path adapter) {
        ModelSource.Resolved r = source.resolve();
        Checkpoint checkpoint = ModelLoader.open(r.model());
        boolean isPrefix = adapter != null && PeftImport.isPrefix(adapter);
        if (adapter != null) { // a RoBERTa saved without its pooler: PEFT's classifier module brings it
            checkpoint = AdapterClassifier.lending(checkpoint, adapter.resolve(PeftExport.WEIGHTS),
                    isPrefix ? PrefixExport.SAVED_PREFIX : Lora.PEFT_PREFIX);
        }
        LanguageModel model;
        List<HostTensor> hostParameters;
        PeftImport.Adapter read = null;
        PrefixImport.Adapter prefix = null;
        if (checkpoint.config().encoder() != null) {
            LoadedEncoder e = ModelLoader.loadEncoder(checkpoint);
            model = e.model();
            hostParameters = e.parameters();
        } else {
            LoadedModel d = ModelLoader.load(checkpoint);
            model = d.model();
            hostParameters = d.parameters();
        }
        if (adapter != null) {
            List<HostTensor> base = hostParameters;
            if (isPrefix) {
                prefix = PrefixImport.read(adapter, model, () -> Fingerprints.weights(base));
            } else {
                read = PeftImport.read(adapter, model, () -> Fingerprints.weights(base));
            }
        }
        AdapterClassifier adapterHead = prefix != null ? prefix.classifier() : read != null ? read.classifier() : null;
        if (adapterHead != null) { // PEFT's modules_to_save copy replaces the module: RoBERTa's pooler too
            hostParameters = adapterHead.replacing(hostParameters);
        }
        Tokenizer tokenizer = checkpoint.config().encoder() != null
                ? encoderTokenizer(r.model(), r.tokenizer(), model.config().vocabSize())
                : decoderTokenizer(r.model(), r.tokenizer(), model.config().vocabSize());
        String backend = device.spelling();
        String fallback = null;
        if (device == Device.AUTO) {
            Cuda.Availability a = Cuda.availability();
            backend = a.usable() ? "cuda" : "cpu";
            fallback = a.usable() ? null : a.reason();
        }
        Ops ops = null;
        Parameters params = null;
        try {
            ops = Backends.create(backend, precision.dtype());
            params = ops.createParameters(hostParameters, precision.dtype());
            if (read != null && !backend.equals("cpu")) {
                // merged once on the device by the rule the CUDA engine trains with (Ops.loraWeight), so that it
                // scores as the run did; the host copy (export) is the merge in double
                try (Parameters tensors = ops.createParameters(read.tensors(), DType.F32)) {
                    read.lora().mergeInto(ops, params, tensors);
                }
                hostParameters = read.lora().merge(hostParameters, read.tensors());
            }
            WeightSource weights = params;
            AutoCloseable memory = null;
            if (read != null && backend.equals("cpu")) {
                Lora.Applied applied = read.lora().apply(ops);
                Parameters tensors = ops.createParameters(read.tensors(), DType.F32);
                weights = TrainableStorage.own(applied.set(), tensors).weights(params);
                memory = () -> {
                    try {
                        tensors.close();
                    } finally {
                        applied.close();
                    }
                };
            } else if (prefix != null) {
                // the keys and values in float32 beside the frozen weights, as training holds them
                Parameters tensors = ops.createParameters(prefix.tensors(), DType.F32);
                try {
                    weights = TrainableStorage.own(prefix.prefix().set(ops, model, params), tensors).weights(params);
                } catch (RuntimeException | Error e) {
                    tensors.close();
                    throw e;
                }
                memory = tensors;
            }
            return new Model(source, r.model(), r.tokenizer(), model, hostParameters, tokenizer, ops, params,
                    weights, memory, adapter, prefix != null ? "prefix" : read != null ? "lora" : null, fallback,
                    checkpoint, completed(adapterHead, checkpoint), read);
        } catch (RuntimeException | Error e) {
            if (params != null) {
                params.close();
            }
            if (ops != null) {
                ops.close();
            }
            closeTokenizer(tokenizer);
            throw e;
        }
    }

    /**
     * The adapter folder this model was opened with, or null.
     *
     * @return the folder given to {@link #open(ModelSource, Device, Precision, Path)}
     */
    public Path adapter() {
        return adapter;
    }

    /**
     * The kind of the adapter this model was opened with, as key {@code peft.method} spells it.
     *
     * @return {@code "lora"}, {@code "prefix"}, or null without an adapter
     */
    public String adapterMethod() {
        return adapterMethod;
    }

    /** An encoder's tokenizer: the explicit one, else tokenizer.json beside the model, else none (ids only). */
    private static Tokenizer encoderTokenizer(Path model, Path explicit, int vocab) {
        Path json = explicit;
        if (json == null) {
            Path dir = java.nio.file.Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
            json = dir == null ? null : dir.resolve("tokenizer.json");
            if (json == null || !java.nio.file.Files.isRegularFile(json)) {
                return null;
            }
        }
        Tokenizer t = Tokenizers.load(json);
        if (t.vocabSize() > vocab) {
            closeTokenizer(t);
            throw new ZotuneException(json + ": the tokenizer's vocabulary of " + t.vocabSize()
                    + " ids does not fit the model's " + vocab + " (" + model + ")");
        }
        return t;
    }

    /**
     * A decoder's tokenizer, refused at load when it has ids the model has no embedding row for: text that happens to
     * avoid them would generate and score with the wrong tokenizer unnoticed.
     */
    private static Tokenizer decoderTokenizer(Path model, Path explicit, int vocab) {
        Tokenizer t = Tokenizers.forModel(model, explicit);
        if (t.vocabSize() > vocab) {
            closeTokenizer(t);
            throw new ZotuneException("tokenizer " + (explicit != null ? explicit : guessTokenizerFile(model))
                    + " has " + t.vocabSize() + " tokens (up to token id " + (t.vocabSize() - 1) + ") but model "
                    + model + " has a vocabulary of " + vocab + " ids (vocab_size): they do not belong together; "
                    + "pass the model's own tokenizer (--tokenizer)");
        }
        return t;
    }

    private static void closeTokenizer(Tokenizer t) {
        if (t instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the tokenizer: " + e.getMessage(), e);
            }
        }
    }

    /** Opens on {@link Device#AUTO} in float32. */
    public static Model open(ModelSource source) {
        return open(source, Device.AUTO, Precision.F32);
    }

    /** What was opened. */
    public ModelSource source() {
        return source;
    }

    /**
     * The model's shape, read from its config.
     *
     * @return its type, kind, sizes and usable positions (an encoder's without RoBERTa's position offset)
     */
    public ModelInfo info() {
        ModelConfig c = config;
        long n = 0;
        for (HostTensor t : hostParameters) {
            n += t.numel();
        }
        return new ModelInfo(c.family().hfModelType(), isEncoder(), c.numLayers(), c.hiddenSize(), c.vocabSize(),
                maxTokens(), n);
    }

    /**
     * Whether the model can predict masked tokens: an encoder checkpoint with its masked-LM head
     * (BertForMaskedLM, RobertaForMaskedLM), not only the body.
     *
     * @return true for a masked LM
     */
    public boolean hasMaskedLmHead() {
        return model instanceof EncoderModel e && e.hasMlmHead();
    }

    /**
     * The tokenizer's mask token ({@code [MASK]} for BERT, {@code <mask>} for RoBERTa), or -1 (a decoder, or an
     * encoder without tokenizer.json).
     *
     * @return its id or -1
     */
    public int maskId() {
        if (!isEncoder() || !(tokenizer instanceof HfTokenizer h)) {
            return -1;
        }
        return h.addedTokenId(maskToken());
    }

    private String maskToken() {
        return config.family() == ModelFamily.ROBERTA ? "<mask>" : "[MASK]";
    }

    private boolean isEncoder() {
        return model.kind() == LanguageModel.Kind.MASKED;
    }

    /** The longest token sequence the model takes. */
    private int maxTokens() {
        return config.maxPositions() - (config.encoder() == null ? 0 : config.encoder().positionOffset());
    }

    /** The backend's name ({@code cpu} or {@code cuda}) and dtype, e.g. {@code cpu f32}. */
    public String backend() {
        return ops.name() + " " + ops.computeType().name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Why {@link Device#AUTO} runs on the CPU, or null (it found a GPU, or the device was chosen explicitly). */
    public String fallbackReason() {
        return fallbackReason;
    }

    /**
     * Encodes with the tokenizer's default special tokens (e.g. Llama's BOS, BERT's [CLS] ... [SEP]), as Hugging
     * Face does.
     *
     * @param text any text
     * @return its token ids
     * @throws ZotuneException for an encoder opened without a tokenizer
     */
    public int[] tokenize(String text) {
        return requireTokenizer().encode(text);
    }

    /**
     * Decodes ids to text (special tokens skipped).
     *
     * @param ids token ids
     * @return the text
     */
    public String decode(int[] ids) {
        return requireTokenizer().decode(ids);
    }

    /**
     * Whether text can be tokenized: always for a decoder; for an encoder, when its folder has tokenizer.json (or
     * one was given).
     *
     * @return true with a tokenizer
     */
    public boolean hasTokenizer() {
        return tokenizer != null;
    }

    private Tokenizer requireTokenizer() {
        open();
        if (tokenizer == null) {
            throw new ZotuneException(modelPath + ": no tokenizer.json beside the model, which text input needs");
        }
        return tokenizer;
    }

    /**
     * The beginning-of-sequence id (the tokenizer's, else the config's).
     *
     * @return the id, or -1
     */
    public int bosId() {
        return tokenizer != null && tokenizer.bosId() >= 0 ? tokenizer.bosId() : config.bosTokenId();
    }

    /**
     * The end-of-sequence id (the tokenizer's, else the config's).
     *
     * @return the id, or -1
     */
    public int eosId() {
        return tokenizer != null && tokenizer.eosId() >= 0 ? tokenizer.eosId() : config.eosTokenId();
    }

    /**
     * The mean next-token cross-entropy of a text in one forward pass (its tokens with the tokenizer's special
     * tokens). The text must fit the model's positions and have at least 2 tokens.
     */
    public Score score(String text) {
        return score(tokenize(text));
    }

    /** {@link #score(String)} of each text, one forward pass each. */
    public List<Score> score(List<String> texts) {
        List<Score> out = new ArrayList<>(texts.size());
        for (String t : texts) {
            out.add(score(t));
        }
        return out;
    }

    /** The mean next-token cross-entropy over {@code ids}. */
    public Score score(int[] ids) {
        return forward(ids, new int[0]).score();
    }

    /**
     * The logits (float32, one row of {@link ModelInfo#vocabSize()} per position) at the given positions of
     * {@code ids}, and the sequence's score, in one forward pass.
     */
    public Logits logits(int[] ids, int... positions) {
        return forward(ids, positions);
    }

    private Logits forward(int[] ids, int[] positions) {
        CausalLM causal = causal();
        checkIds(ids);
        int max = config.maxPositions();
        if (ids.length > max) {
            throw new ZotuneException("the text is " + ids.length + " tokens long, more than the model's maximum of "
                    + max + " positions");
        }
        if (ids.length < 2) {
            throw new ZotuneException("the text has " + ids.length
                    + " token(s): a score needs at least 2 (one next-token prediction)");
        }
        for (int p : positions) {
            Objects.checkIndex(p, ids.length);
        }
        try (Ops.Scope scope = ops.scope()) {
            Batch batch = Batch.of(ids);
            Tensor logits = causal.forward(ops, weights, batch);
            float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(NextTokenTargets.of(batch))));
            float[][] rows = new float[positions.length][];
            for (int i = 0; i < positions.length; i++) {
                rows[i] = ops.toHost(ops.rows(logits, positions[i], positions[i] + 1));
            }
            double sum = ce[0];
            double loss = sum / ce[1];
            return new Logits(ids.clone(), positions.clone(), rows, new Score(ids.length, loss, Math.exp(loss)));
        }
    }

    /**
     * The model's loss (and accuracy, F1 for candidate data) on a data set: {@code maxLength} tokens per row
     * (prompts cut from the left; text: the chunk length), {@code batchSize} rows per forward pass, {@code seed}
     * for k-shot sampling and splits. An encoder is scored by {@link EncoderObjective#auto()}.
     */
    public EvalResult evaluate(DataSet data, int maxLength, int batchSize, long seed) {
        return evaluate(data, maxLength, batchSize, seed, null, false);
    }

    /**
     * As {@link #evaluate(DataSet, int, int, long)}, with per-example predictions when {@code predictions} is true
     * (classification and multiple-choice data; language-model data is refused). A decoder scores its candidates'
     * log-likelihood (ALGORITHMS.md §6). An encoder is scored by {@code objective} exactly as a run's dev and test
     * evaluations score with that objective (the data encoded and the objective built by the run's code): objective
     * head with the folder's classifier, its rows matched to the data's labels through config.json's id2label;
     * similarity with the label descriptions; mlm with the masked-LM template. Each problem is one line: an
     * objective the model cannot run (head without a classifier, mlm without a masked-LM head), an option of another
     * objective, an encoder objective on a decoder.
     *
     * @param objective   an encoder's objective and its options, or null: {@link EncoderObjective#auto()}
     * @param predictions whether to return each example's prediction and scores
     */
    public EvalResult evaluate(DataSet data, int maxLength, int batchSize, long seed, EncoderObjective objective,
            boolean predictions) {
        return evaluate(data, maxLength, batchSize, seed, objective, predictions, EvalProgress.NONE);
    }

    /**
     * As {@link #evaluate(DataSet, int, int, long, EncoderObjective, boolean)}, telling {@code progress} after each
     * batch how many of the scored examples are done (the CLI's progress lines on a long evaluation).
     */
    public EvalResult evaluate(DataSet data, int maxLength, int batchSize, long seed, EncoderObjective objective,
            boolean predictions, EvalProgress progress) {
        java.util.Objects.requireNonNull(progress, "progress");
        open();
        if (model instanceof EncoderModel encoder) {
            return evaluateEncoder(encoder, data, maxLength, batchSize, seed,
                    objective == null ? EncoderObjective.auto() : objective, predictions, progress);
        }
        CausalLM causal = causal();
        if (objective != null && (!isAuto(objective.objective()) || objective.pooling() != null
                || objective.temperature() != null || objective.labels() != null)) {
            throw new ZotuneException(modelPath + ": a " + config.family().hfModelType() + " decoder (causal language "
                    + "model) is scored by its candidates' log-likelihood; the objectives head, similarity, mlm and "
                    + "their pooling, temperature and labels are for encoders (BERT, RoBERTa)");
        }
        TrainData td = TrainData.load(data.internal(), tokenizer, maxLength, seed);
        if (td.languageModel()) {
            if (predictions) {
                throw new ZotuneException("predictions are per example of classification or multiple-choice data; "
                        + td.description() + " is language-model data (a loss per token, no classes)");
            }
            List<EncodedExample> scored = scored(td, data);
            Evaluator.LmResult r = Evaluator.languageModel(ops, causal, weights, scored, batchSize, td.padId(),
                    done -> progress.scored(done, scored.size()));
            return new EvalResult(td.description(data.split()), true, scored.size(), r.tokens(), r.loss(),
                    r.perplexity(), Double.NaN, Double.NaN);
        }
        List<EncodedExample> scored = scored(td, data);
        Evaluator.Result r = Evaluator.evaluate(ops, causal, weights, scored, batchSize, td.padId(), null,
                done -> progress.scored(done, scored.size()));
        return new EvalResult(td.description(data.split()), false, r.examples(), 0, r.loss(), Double.NaN,
                r.accuracy(), r.f1(),
                "candidates", "candidates: each candidate's mean log-likelihood per token",
                predictions ? predictions(r, td.labels()) : List.of(), LabelMetrics.of(r.predictions(), r.gold(),
                td.labels()));
    }

    private static boolean isAuto(String objective) {
        return objective == null || objective.equalsIgnoreCase("auto");
    }

    /** An encoder scored as a run with {@code o}'s objective scores its test set. */
    private EvalResult evaluateEncoder(EncoderModel encoder, DataSet data, int maxLength, int batchSize, long seed,
            EncoderObjective o, boolean predictions, EvalProgress progress) {
        Scoring sc = scoring(encoder, o, data.internal(), maxLength, seed);
        RunInputs.Read read = RunInputs.readEncoder(sc.keys(), config, tokenizer);
        TrainData td = read.data();
        List<EncodedExample> scored = scored(td, data);
        // every label the objective knows competes, those the data lacks after the data's own (gold indices stay):
        // similarity's descriptions, mlm's verbalizer (read.labels()), the head's rows (config.json's id2label)
        List<String> labels = read.labels() != null ? read.labels() : td.labels();
        if (sc.kind() == TrainConfig.ObjectiveKind.HEAD) {
            List<String> named = adapterHead != null ? HeadFolder.asDataLabels(adapterHead.labels(), labels)
                    : HeadFolder.labelsFor(checkpoint, labels);
            if (named != null && named.containsAll(labels)) {
                labels = new ArrayList<>(labels);
                for (String l : named) {
                    if (!labels.contains(l)) {
                        labels.add(l);
                    }
                }
            }
        }
        Evaluator.Result r = score(encoder, sc.kind(), read, labels, scored, batchSize, td.padId(),
                done -> progress.scored(done, scored.size()));
        return new EvalResult(td.description(data.split()), false, r.examples(), 0, r.loss(), Double.NaN,
                r.accuracy(), r.f1(),
                sc.name(), sc.text(), predictions ? predictions(r, labels) : List.of(), LabelMetrics.of(r.predictions(),
                r.gold(), labels));
    }

    /**
     * Each text's class, scored as {@link #evaluate} scores an example of that class. An encoder under {@code o}'s
     * objective: head over the folder's or the adapter's classifier (every row, named by config.json's id2label or the
     * adapter's metadata), similarity against the label descriptions (key similarity.labels as {@code o}'s labels, or
     * the built-in ones of the task {@code template} names), mlm with the masked-LM template {@code template} (a
     * built-in name, or a pattern with one mask and {@code verbalizer}). A decoder: each class's candidate under the
     * classification template {@code template} (a built-in name, or a pattern ending in {label} with
     * {@code verbalizer}) by its mean log-likelihood per token. One line for an objective the model cannot run, a
     * template with more than one text field ({@link #classifyRows} takes those), or no texts.
     *
     * @param texts      the texts, one example each
     * @param objective  the objective and its options, or null: {@link EncoderObjective#auto()}
     * @param template   a built-in template name or a pattern (mlm, a decoder: needed; head, similarity: optional),
     *                   or null
     * @param verbalizer a pattern's label → word (mlm, a decoder), or null
     * @param maxLength  tokens per row at most, as evaluate cuts them (an encoder's text keeps its final special
     *                   token; a decoder's prompt is cut from the left)
     * @param batchSize  texts per forward pass
     * @param progress   told after each batch how many texts are done
     * @return one classification per text, in order, its {@link Classification#input()} the text under the
     *         template's field
     */
    public List<Classification> classify(List<String> texts, EncoderObjective objective, String template,
            Map<String, String> verbalizer, int maxLength, int batchSize, EvalProgress progress) {
        Objects.requireNonNull(texts, "texts");
        return classifyInputs(texts, null, objective, template, verbalizer, maxLength, batchSize, progress);
    }

    /**
     * As {@link #classify}, for examples of several fields (a sentence pair: premise and hypothesis, ...): each row
     * maps the template's fields to their texts, every row the same fields, in the order the first row lists them (a
     * template without placeholders takes the first two as the pair, as evaluate takes a data set's input fields:
     * give such rows as ordered maps, e.g. LinkedHashMap).
     *
     * @param rows one example each: field → text
     * @return one classification per row, in order
     */
    public List<Classification> classifyRows(List<Map<String, String>> rows, EncoderObjective objective,
            String template, Map<String, String> verbalizer, int maxLength, int batchSize, EvalProgress progress) {
        Objects.requireNonNull(rows, "rows");
        return classifyInputs(null, rows, objective, template, verbalizer, maxLength, batchSize, progress);
    }

    private List<Classification> classifyInputs(List<String> texts, List<Map<String, String>> rows,
            EncoderObjective objective, String template, Map<String, String> verbalizer, int maxLength,
            int batchSize, EvalProgress progress) {
        Objects.requireNonNull(progress, "progress");
        open();
        if ((texts != null ? texts : rows).isEmpty()) {
            throw new ZotuneException("classify: no texts");
        }
        if (batchSize < 1 || maxLength < 2) {
            throw new ZotuneException("classify: batch size " + batchSize + " (>= 1) and max length " + maxLength
                    + " (>= 2, the special tokens)");
        }
        org.zotune.train.config.Data keys = DataSet.builder().set("format", "jsonl").set("train", List.of("texts"))
                .set("template", template).set("verbalizer", verbalizer).build().internal();
        EncoderModel encoder = model instanceof EncoderModel e ? e : null;
        Scoring sc = null;
        List<String> labels;
        java.util.Set<String> fields;
        if (encoder == null) {
            requireDecoderScoring(objective);
            org.zotune.data.prompt.PatternTemplate t = TrainData.classificationTemplate(keys);
            labels = List.copyOf(t.verbalizer().keySet());
            fields = t.fieldNames();
        } else {
            sc = scoring(encoder, objective == null ? EncoderObjective.auto() : objective, keys, maxLength, 0);
            // the classes: the head's rows as named, mlm's verbalizer, similarity's described labels
            if (sc.kind() == TrainConfig.ObjectiveKind.HEAD) {
                labels = adapterHead != null ? adapterHead.labels() : HeadFolder.labels(checkpoint);
                if (labels == null) {
                    throw new ZotuneException(HeadFolder.configFile(checkpoint) + ": no id2label to name the "
                            + "classifier's rows (transformers and zotune write one with every classifier)");
                }
            } else {
                labels = RunInputs.describedLabels(sc.keys());
            }
            fields = RunInputs.textFields(sc.keys());
        }
        List<Map<String, String>> inputs;
        List<String> inputFields;
        if (texts != null) {
            if (fields.size() > 1) {
                throw new ZotuneException("template '" + template + "' fills the fields " + fields + "; classify "
                        + "scores one text each: give each example's fields (classifyRows, zotune classify --jsonl)");
            }
            String field = fields.isEmpty() ? "text" : fields.iterator().next();
            inputs = new ArrayList<>(texts.size());
            for (int i = 0; i < texts.size(); i++) {
                if (texts.get(i) == null) {
                    throw new ZotuneException("classify: text " + (i + 1) + " is null");
                }
                inputs.add(Map.of(field, texts.get(i)));
            }
            inputFields = List.of(field);
        } else {
            inputs = rows;
            inputFields = inputFields(rows);
        }
        List<org.zotune.data.Example> examples = new ArrayList<>(inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            examples.add(new org.zotune.data.Example("example " + (i + 1), inputs.get(i), 0, List.of()));
        }
        org.zotune.data.Dataset given = new org.zotune.data.Dataset("the examples",
                org.zotune.data.Dataset.Kind.CLASSIFICATION, labels, inputFields, examples, List.of());
        Evaluator.Result r;
        List<String> classes;
        if (encoder == null) {
            TrainData td = TrainData.loadGiven(keys, tokenizer, maxLength, given);
            List<EncodedExample> scored = td.train();
            r = Evaluator.evaluate(ops, causal(), weights, scored, batchSize, td.padId(), null,
                    done -> progress.scored(done, scored.size()));
            classes = td.labels();
        } else {
            RunInputs.Read read = RunInputs.readEncoder(sc.keys(), config, tokenizer, given);
            List<EncodedExample> scored = read.data().train();
            classes = read.labels() != null ? read.labels() : read.data().labels();
            r = score(encoder, sc.kind(), read, classes, scored, batchSize, read.data().padId(),
                    done -> progress.scored(done, scored.size()));
        }
        List<Classification> out = new ArrayList<>(inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            Map<String, Double> scores = new java.util.LinkedHashMap<>();
            for (int c = 0; c < classes.size(); c++) {
                scores.put(classes.get(c), r.scores()[i][c]);
            }
            out.add(new Classification(inputs.get(i), classes.get(r.predictions()[i]), scores));
        }
        return out;
    }

    /** The rows' fields, in the first row's order; one line when a row has others or a null text. */
    private static List<String> inputFields(List<Map<String, String>> rows) {
        if (rows.get(0) == null || rows.get(0).isEmpty()) {
            throw new ZotuneException("classify: example 1 has no fields");
        }
        List<String> fields = List.copyOf(rows.get(0).keySet());
        for (int i = 0; i < rows.size(); i++) {
            Map<String, String> row = rows.get(i);
            if (row == null || !row.keySet().equals(new java.util.HashSet<>(fields))) {
                throw new ZotuneException("classify: example " + (i + 1) + " has the fields " + (row == null ? "none"
                        : row.keySet()) + ", example 1 " + fields + ": every example the same");
            }
            for (Map.Entry<String, String> e : row.entrySet()) {
                if (e.getValue() == null) {
                    throw new ZotuneException("classify: example " + (i + 1) + "'s field '" + e.getKey()
                            + "' is null");
                }
            }
        }
        return fields;
    }

    /** A decoder scores candidates: the encoder objectives' options are one line. */
    private void requireDecoderScoring(EncoderObjective objective) {
        if (objective != null && (!isAuto(objective.objective()) || objective.pooling() != null
                || objective.temperature() != null || objective.labels() != null)) {
            throw new ZotuneException(modelPath + ": a " + config.family().hfModelType() + " decoder (causal language "
                    + "model) classifies by its candidates' log-likelihood under a template; the objectives head, "
                    + "similarity, mlm and their pooling, temperature and labels are for encoders (BERT, RoBERTa)");
        }
    }

    /**
     * How an encoder scores under {@code o}: the objective picked (auto: the classifier, else the masked-LM head,
     * else similarity) with its options checked against the model, as the run keys it reads the data with.
     *
     * @param name the objective's name
     * @param text the scoring in words, for the log
     */
    private record Scoring(TrainConfig.ObjectiveKind kind, String name, String text, RunInputs.Keys keys) {
    }

    private Scoring scoring(EncoderModel encoder, EncoderObjective o, org.zotune.train.config.Data dataKeys,
            int maxLength, long seed) {
        if (tokenizer == null) {
            throw new ZotuneException(modelPath + ": no tokenizer.json beside the model, which evaluating text needs");
        }
        // the adapter's classifier (a head run's adapter) replaces the folder's, as PEFT's modules_to_save does
        boolean classifier = adapterHead != null || HeadFolder.hasClassifier(checkpoint);
        String classifierFrom = adapterHead != null ? "the adapter has a classifier (modules_to_save)"
                : "the folder has a classifier (classifier.weight, classifier.bias)";
        String family = config.family().hfModelType();
        TrainConfig.ObjectiveKind kind;
        String why;
        String asked = isAuto(o.objective()) ? "auto" : o.objective().toLowerCase(java.util.Locale.ROOT);
        switch (asked) {
            case "auto" -> {
                kind = classifier ? TrainConfig.ObjectiveKind.HEAD : encoder.hasMlmHead()
                        ? TrainConfig.ObjectiveKind.MLM : TrainConfig.ObjectiveKind.SIMILARITY;
                why = "auto: " + (classifier ? classifierFrom : encoder.hasMlmHead() ? "no classifier, a masked-LM head"
                        : "no classifier, no masked-LM head");
            }
            case "head", "similarity", "mlm" -> {
                kind = RecordBinder.choice(TrainConfig.ObjectiveKind.class, asked);
                why = "as asked";
            }
            default -> throw new ZotuneException("objective '" + o.objective() + "' is not one of auto, head, "
                    + "similarity, mlm");
        }
        String name = RecordBinder.spelling(kind);
        if (kind == TrainConfig.ObjectiveKind.HEAD && !classifier) {
            throw new ZotuneException(checkpoint.source() + ": objective head scores the folder's classifier "
                    + "(classifier.weight, classifier.bias, as a head run's model/ or best/ has them), and this "
                    + family + " folder has none, nor an adapter given (a head run's adapter/ carries one): use "
                    + "objective similarity" + (encoder.hasMlmHead() ? " or mlm" : ""));
        }
        if (kind == TrainConfig.ObjectiveKind.MLM && !encoder.hasMlmHead()) {
            throw new ZotuneException(checkpoint.source() + ": objective mlm scores the masked-LM head, and this "
                    + family + " checkpoint has none (a bare encoder, e.g. a sentence-embedding model): use "
                    + "objective similarity" + (classifier ? " or head" : ""));
        }
        String objectiveNote = "the objective here is " + name + " (" + why + ")";
        if (kind != TrainConfig.ObjectiveKind.SIMILARITY) {
            if (o.temperature() != null) {
                throw new ZotuneException("key 'similarity.temperature' is an option of objective similarity; "
                        + objectiveNote);
            }
            if (o.labels() != null) {
                throw new ZotuneException("key 'similarity.labels' is an option of objective similarity; "
                        + objectiveNote);
            }
        }
        if (kind == TrainConfig.ObjectiveKind.MLM && o.pooling() != null) {
            throw new ZotuneException("key 'head.pooling' is an option of objectives head and similarity; "
                    + objectiveNote);
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode sim = json.createObjectNode();
        ObjectNode head = json.createObjectNode();
        String pooling = o.pooling();
        String poolingFrom = "";
        if (kind == TrainConfig.ObjectiveKind.HEAD && pooling == null) {
            // the run's own pooling: its head was trained on it
            pooling = adapterHead != null ? adapterHead.pooling() : HeadFolder.pooling(checkpoint);
            String source = adapterHead != null ? adapterHead.poolingFrom()
                    : pooling == null ? null : HeadFolder.poolingSource(checkpoint);
            poolingFrom = pooling == null ? " (the default)" : " (" + source + ")";
            if (pooling != null && !List.of("mean", "cls", "pooler").contains(pooling)) {
                throw new ZotuneException((adapterHead != null ? adapterHead.source() : checkpoint.source()) + ": "
                        + source + " '" + pooling + "' is not mean, cls or pooler");
            }
        }
        if (kind == TrainConfig.ObjectiveKind.HEAD && "pooler".equals(pooling) && !encoder.hasPooler()) {
            throw new ZotuneException(checkpoint.source() + ": objective head with pooling pooler" + poolingFrom
                    + " classifies the pooler's output, and this " + family + " checkpoint has no pooler "
                    + "(pooler.dense weights); use mean or cls");
        }
        if (kind == TrainConfig.ObjectiveKind.SIMILARITY) {
            if (pooling != null) {
                sim.put("pooling", pooling);
            }
            if (o.temperature() != null) {
                sim.put("temperature", o.temperature());
            }
            if (o.labels() != null) {
                sim.set("labels", json.valueToTree(o.labels()));
            }
        } else if (pooling != null) {
            head.put("pooling", pooling);
        }
        SimilarityOptions similarity = RecordBinder.bind(null, sim, SimilarityOptions.class, "similarity");
        HeadOptions headOptions = RecordBinder.bind(null, head, HeadOptions.class, "head");
        if (kind == TrainConfig.ObjectiveKind.SIMILARITY && similarity.poolingKind()
                == org.zotune.train.objective.LabelSimilarity.Pooling.POOLER && !encoder.hasPooler()) {
            throw new ZotuneException("key 'similarity.pooling' is pooler, and this " + family + " checkpoint has no "
                    + "pooler (pooler.dense weights); use mean or cls");
        }
        RunInputs.Keys keys = new RunInputs.Keys(kind, dataKeys, similarity, headOptions, maxLength, seed);
        String scoring = name + " (" + why + ")" + switch (kind) {
            case HEAD -> ", pooling " + headOptions.pooling() + poolingFrom;
            case SIMILARITY -> ", pooling " + similarity.pooling() + ", temperature " + similarity.temperature()
                    + (similarity.labels() != null ? ", the labels' descriptions given" : ", the built-in label "
                    + "descriptions");
            default -> "";
        };
        return new Scoring(kind, name, scoring, keys);
    }

    /** The encoder's scores of {@code scored} under the objective {@code read} built ({@code labels}: its classes). */
    private Evaluator.Result score(EncoderModel encoder, TrainConfig.ObjectiveKind kind, RunInputs.Read read,
            List<String> labels, List<EncodedExample> scored, int batchSize, int padId, IntConsumer tell) {
        if (kind != TrainConfig.ObjectiveKind.HEAD) {
            return Evaluator.evaluate(ops, encoder, weights, scored, batchSize, padId, read.objective(), tell);
        }
        List<HostTensor> rows = adapterHead != null ? adapterHead.rows(labels, config.hiddenSize())
                : HeadFolder.classifier(checkpoint, labels, config.hiddenSize());
        SequenceClassifier withHead = new SequenceClassifier(encoder, labels.size());
        // the head beside the body's parameters (and an adapter's composition), as a run holds it: a folder's
        // in the model's dtype, an adapter's in float32 (trained beside the adapter's own tensors)
        try (Parameters headParams = ops.createParameters(rows, adapterHead != null ? DType.F32
                : params.dtype())) {
            return Evaluator.evaluate(ops, withHead, new AppendedWeights(weights, encoder.params().size(),
                    headParams), scored, batchSize, padId, read.objective(), tell);
        }
    }

    /** The examples of the split {@code data} scores ({@link DataSet#split()}). */
    private static List<EncodedExample> scored(TrainData td, DataSet data) {
        return switch (data.split()) {
            case "dev" -> td.dev();
            case "test" -> td.test();
            default -> td.train();
        };
    }

    /** Each example's prediction, with label names where the data has them. */
    private static List<Prediction> predictions(Evaluator.Result r, List<String> labels) {
        List<Prediction> out = new ArrayList<>(r.examples());
        for (int i = 0; i < r.examples(); i++) {
            int g = r.gold()[i];
            int p = r.predictions()[i];
            out.add(new Prediction(i, g, p, labels.isEmpty() ? null : labels.get(g),
                    labels.isEmpty() ? null : labels.get(p), r.scores()[i].clone()));
        }
        return out;
    }

    /**
     * Extends {@code prompt} (token ids, at least one: e.g. {@link #bosId()}) autoregressively, calling
     * {@code onToken} for each new token as it is chosen; stops at {@link Generation#maxTokens()}, the EOS token
     * (not included) or the model's maximum positions. Returns the new tokens.
     */
    public int[] generate(int[] prompt, Generation generation, IntConsumer onToken) {
        CausalLM causal = causal();
        checkPrompt(prompt);
        Generator.Sampling s = generation.sampled()
                ? Generator.Sampling.temperature(generation.temperature(), generation.seed())
                : Generator.Sampling.argmax();
        try (Ops.Scope scope = ops.scope()) {
            if (ops instanceof CudaOps cuda) { // one sequence through the captured decode step, streamed as it goes
                IntConsumer sink = onToken == null ? t -> { } : onToken;
                return Generator.generate(ops, causal, weights, new int[][] {prompt}, generation.maxTokens(), s,
                        eosId(), true, true, graphDecode(cuda, causal), (i, t) -> sink.accept(t))[0];
            }
            return Generator.generate(ops, causal, weights, prompt, generation.maxTokens(), s, eosId(),
                    onToken == null ? t -> { } : onToken);
        }
    }

    /**
     * The decode steps on CUDA: one captured graph replayed per token ({@link DecodeGraph}, greedy tokens picked on the
     * device), over a cache that shows its blocks whole.
     */
    private Function<KvCache, Generator.DecodeStep> graphDecode(CudaOps cuda, CausalLM causal) {
        return cache -> new DecodeGraph(cuda, causal, weights, cache);
    }

    /**
     * Extends each of {@code prompts} (token ids) as {@link #generate(int[], Generation, IntConsumer)} extends it
     * alone, the same tokens, in one batch: the prompts right-padded into one forward pass, then one position per
     * sequence per step through a key/value cache with a block of rows per sequence; a sampled generation draws each
     * sequence from its own generator seeded with {@link Generation#seed()}. Returns each prompt's new tokens.
     */
    public int[][] generate(int[][] prompts, Generation generation) {
        CausalLM causal = causal();
        if (prompts.length == 0) {
            throw new ZotuneException("generation needs at least one prompt");
        }
        for (int i = 0; i < prompts.length; i++) {
            try {
                checkPrompt(prompts[i]);
            } catch (ZotuneException e) {
                throw new ZotuneException("prompt " + i + ": " + e.getMessage());
            }
        }
        Generator.Sampling s = generation.sampled()
                ? Generator.Sampling.temperature(generation.temperature(), generation.seed())
                : Generator.Sampling.argmax();
        try (Ops.Scope scope = ops.scope()) {
            if (ops instanceof CudaOps cuda) {
                return Generator.generate(ops, causal, weights, prompts, generation.maxTokens(), s, eosId(), true,
                        true, graphDecode(cuda, causal));
            }
            return Generator.generate(ops, causal, weights, prompts, generation.maxTokens(), s, eosId(), true);
        }
    }

    /** Generates from a text prompt (from BOS when empty) and returns the whole text, prompt included. */
    public String generate(String prompt, Generation generation) {
        causal();
        int[] ids = prompt.isEmpty() ? new int[0] : tokenize(prompt);
        if (ids.length == 0) {
            if (bosId() < 0) {
                throw new ZotuneException("model " + modelPath + " has no BOS token to start from: give a prompt");
            }
            ids = new int[] {bosId()};
        }
        int[] added = generate(ids, generation, null);
        int[] all = java.util.Arrays.copyOf(ids, ids.length + added.length);
        System.arraycopy(added, 0, all, ids.length, added.length);
        return decode(all);
    }

    /**
     * A masked LM's most likely tokens at each mask token of {@code text} (tokenized with the special tokens), as
     * transformers' {@code pipeline("fill-mask")} defines them: the k largest logits at the mask, each with its
     * softmax over the whole vocabulary (computed in double from the float32 logits).
     *
     * @param text text with one or more mask tokens ({@code [MASK]} for BERT, {@code <mask>} for RoBERTa)
     * @param topK how many tokens per mask (at least 1; at most the vocabulary)
     * @return one prediction per mask, in text order
     * @throws ZotuneException for a decoder, a checkpoint without the masked-LM head, a text without a mask or
     *                         longer than the model's positions
     */
    public List<MaskPrediction> fillMask(String text, int topK) {
        EncoderModel encoder = encoder("fill-mask");
        requireMlmHead(encoder);
        int mask = maskId();
        if (mask < 0) {
            throw new ZotuneException("no mask token id: the tokenizer has no " + maskToken());
        }
        int[] ids = tokenize(text);
        checkLength(ids.length, "the text");
        return fillMask(ids, mask, topK);
    }

    /**
     * {@link #fillMask(String, int)} on token ids (special tokens included): every position holding
     * {@code maskId} is predicted. Needs no tokenizer ({@link TokenProbability#token()} is then null).
     *
     * @param ids    token ids
     * @param maskId the mask token's id
     * @param topK   how many tokens per mask
     * @return one prediction per mask, in order
     */
    public List<MaskPrediction> fillMask(int[] ids, int maskId, int topK) {
        EncoderModel encoder = encoder("fill-mask");
        requireMlmHead(encoder);
        int vocab = config.vocabSize();
        if (topK < 1) {
            throw new ZotuneException("fill-mask: top-k must be at least 1, got " + topK);
        }
        if (maskId < 0 || maskId >= vocab) {
            throw new ZotuneException("fill-mask: mask id " + maskId + " is outside the vocabulary of " + vocab);
        }
        checkIds(ids);
        checkLength(ids.length, "the text");
        List<Integer> masks = new ArrayList<>();
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] == maskId) {
                masks.add(t);
            }
        }
        if (masks.isEmpty()) {
            throw new ZotuneException("the ids have no mask id " + maskId + ": fill-mask needs at least one mask");
        }
        int[] rows = masks.stream().mapToInt(Integer::intValue).toArray();
        float[] logits;
        try (Ops.Scope s = ops.scope()) {
            Tensor hidden = encoder.hiddenStates(ops, weights, Batch.of(ids), null);
            logits = ops.toHost(encoder.mlmLogits(ops, weights, hidden, rows));
        }
        List<MaskPrediction> out = new ArrayList<>(rows.length);
        for (int i = 0; i < rows.length; i++) {
            float[] row = java.util.Arrays.copyOfRange(logits, i * vocab, (i + 1) * vocab);
            List<TokenProbability> top = new ArrayList<>();
            for (int id : topIds(row, Math.min(topK, vocab))) {
                // as the fill-mask pipeline's token_str: special tokens kept (a random head may rank them high)
                String token = tokenizer == null ? null : (tokenizer instanceof HfTokenizer h
                        ? h.decodeKeepingSpecial(new int[] {id}) : tokenizer.decode(new int[] {id})).strip();
                top.add(new TokenProbability(id, token, softmaxAt(row, id)));
            }
            out.add(new MaskPrediction(rows[i], row, List.copyOf(top)));
        }
        return List.copyOf(out);
    }

    private void requireMlmHead(EncoderModel encoder) {
        if (!encoder.hasMlmHead()) {
            throw new ZotuneException(modelPath + ": the checkpoint has no masked-LM head (a bare " + config.family()
                    + " body): use zotune embed (Model.embed)");
        }
    }

    /** The k largest entries of a row, best first (the lower id first among equals). */
    private static int[] topIds(float[] row, int k) {
        int[] best = new int[k];
        boolean[] taken = new boolean[row.length];
        for (int j = 0; j < k; j++) {
            int arg = -1;
            for (int v = 0; v < row.length; v++) {
                if (!taken[v] && (arg < 0 || row[v] > row[arg])) {
                    arg = v;
                }
            }
            taken[arg] = true;
            best[j] = arg;
        }
        return best;
    }

    private static double softmaxAt(float[] row, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double z = 0;
        for (float v : row) {
            z += Math.exp(v - max);
        }
        return Math.exp(row[id] - max) / z;
    }

    /**
     * An encoder's sentence embedding: the mean of the last hidden states over the text's tokens (special tokens
     * included, as sentence-transformers does), not normalised.
     *
     * @param text any text within the model's positions
     * @return hiddenSize values
     */
    public float[] embed(String text) {
        return embed(List.of(text), Pooling.MEAN, false)[0];
    }

    /**
     * Sentence embeddings of several texts, in batches of 32 (padded on the right; padding never enters a mean).
     *
     * @param texts     texts within the model's positions
     * @param pooling   mean of the tokens' hidden states, or the first token's
     * @param normalize scale each embedding to unit L2 norm
     * @return one row of hiddenSize values per text
     */
    public float[][] embed(List<String> texts, Pooling pooling, boolean normalize) {
        encoder("embed");
        int[][] ids = new int[texts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenize(texts.get(i));
            checkLength(ids[i].length, "text " + (i + 1) + " of " + ids.length);
        }
        return embedIds(ids, pooling, normalize);
    }

    /**
     * {@link #embed(List, Pooling, boolean)} on token ids (special tokens included); needs no tokenizer.
     *
     * @param ids       one id sequence per input, each non-empty and within the model's positions
     * @param pooling   mean or first token
     * @param normalize unit L2 norm
     * @return one row of hiddenSize values per input
     */
    public float[][] embedIds(int[][] ids, Pooling pooling, boolean normalize) {
        EncoderModel encoder = encoder("embed");
        for (int i = 0; i < ids.length; i++) {
            if (ids[i].length == 0) {
                throw new ZotuneException("embed: input " + (i + 1) + " has no tokens");
            }
            checkIds(ids[i]);
            checkLength(ids[i].length, "input " + (i + 1));
        }
        int pad = Math.max(config.padTokenId(), 0);
        int hidden = config.hiddenSize();
        float[][] out = new float[ids.length][];
        for (int from = 0; from < ids.length; from += EMBED_BATCH) {
            int to = Math.min(ids.length, from + EMBED_BATCH);
            Batch batch = Batch.rightPadded(java.util.Arrays.copyOfRange(ids, from, to), pad);
            float[] h;
            try (Ops.Scope s = ops.scope()) {
                h = ops.toHost(encoder.hiddenStates(ops, weights, batch, null));
            }
            for (int b = 0; b < to - from; b++) {
                out[from + b] = pool(h, b, batch, hidden, pooling, normalize);
            }
        }
        return out;
    }

    private static final int EMBED_BATCH = 32;

    /** Pooled in double, rounded to float once. */
    private static float[] pool(float[] h, int b, Batch batch, int hidden, Pooling pooling, boolean normalize) {
        double[] e = new double[hidden];
        int n = 0;
        for (int t = 0; t < batch.seq(); t++) {
            int row = b * batch.seq() + t;
            if (batch.mask()[row] == 0 || (pooling == Pooling.CLS && t > 0)) {
                continue;
            }
            n++;
            for (int c = 0; c < hidden; c++) {
                e[c] += h[row * hidden + c];
            }
        }
        double norm = 0;
        for (int c = 0; c < hidden; c++) {
            e[c] /= n;
            norm += e[c] * e[c];
        }
        if (normalize && norm > 0) {
            norm = Math.sqrt(norm);
            for (int c = 0; c < hidden; c++) {
                e[c] /= norm;
            }
        }
        float[] f = new float[hidden];
        for (int c = 0; c < hidden; c++) {
            f[c] = (float) e[c];
        }
        return f;
    }

    private void checkLength(int tokens, String what) {
        int max = maxTokens();
        if (tokens > max) {
            throw new ZotuneException(what + " is " + tokens + " tokens long, more than the model's " + max
                    + " positions");
        }
    }

    /** The encoder, or one line for a decoder. */
    private EncoderModel encoder(String what) {
        open();
        if (model instanceof EncoderModel e) {
            return e;
        }
        throw new ZotuneException("model " + modelPath + " is a decoder (" + config.family().hfModelType() + "): "
                + what + " needs an encoder such as BERT or RoBERTa");
    }

    /** The decoder, or one line for an encoder. */
    private CausalLM causal() {
        open();
        if (model instanceof CausalLM c) {
            return c;
        }
        throw new ZotuneException(modelPath + ": a " + config.family().hfModelType() + " encoder (masked language "
                + "model) cannot run here, which needs a causal language model; use fillMask or embed");
    }

    /**
     * Writes the weights as a Hugging Face folder (model.safetensors, config.json, the tokenizer files) into
     * {@code dir}, which must not exist or be empty: a decoder's or an encoder's. With a LoRA adapter: the merged
     * weights W + (α/r)·B·A (in double, rounded once); with a head run's adapter also its classifier
     * ({@code classifier.weight}, {@code classifier.bias} in the weights' dtype) and config.json's {@code num_labels},
     * {@code id2label}, {@code label2id} and {@code zotune_pooling}, as a run with {@code peft.merge} writes its
     * model/. A prefix does not merge into weights (one line).
     */
    public void export(Path dir) {
        open();
        requireEmptyOrAbsent(dir, "export folder");
        List<HostTensor> out = exportParameters();
        if (adapterHead != null) {
            out = new ArrayList<>(out);
            out.addAll(adapterHead.exported(hostParameters.get(0).dtype()));
        }
        HfExport.write(dir, modelPath, tokenizerPath, config, out, Map.of("format", "pt"));
        if (adapterHead != null) {
            HfExport.classifierConfig(dir, config, adapterHead.labels(), adapterHead.poolingOrDefault());
        }
    }

    /**
     * Fails in one line unless {@code prompt} can be generated from: non-empty, in the vocabulary, and shorter than
     * the model's maximum positions.
     */
    public void checkPrompt(int[] prompt) {
        checkIds(prompt);
        int max = config.maxPositions();
        if (prompt.length == 0) {
            throw new ZotuneException("generation needs a non-empty prompt (e.g. the BOS token)");
        }
        if (prompt.length >= max) {
            throw new ZotuneException("the prompt is " + prompt.length + " tokens long, but the model has "
                    + max + " positions: no room left to generate");
        }
    }

    /**
     * Fails in one line unless every id is in the model's vocabulary. Every id must index the model's embedding: a tokenizer larger than the model's vocabulary (the wrong
     * tokenizer) would otherwise read past the table.
     */
    public void checkIds(int[] ids) {
        open();
        int vocab = config.vocabSize();
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new ZotuneException("tokenizer " + tokenizerName + " produced token id " + id
                        + ", outside the model's vocabulary of " + vocab + " ids (" + modelPath
                        + "): use the model's own tokenizer (--tokenizer)");
            }
        }
    }

    /** One line unless {@code dir} is absent or an empty folder: never writes over the caller's files. */
    static void requireEmptyOrAbsent(Path dir, String what) {
        if (java.nio.file.Files.isDirectory(dir)) {
            try (var s = java.nio.file.Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new ZotuneException(what + " " + dir + " is not empty");
                }
            } catch (java.io.IOException e) {
                throw new ZotuneException(what + " " + dir + ": cannot list: " + e.getMessage(), e);
            }
        } else if (java.nio.file.Files.exists(dir)) {
            throw new ZotuneException(what + " " + dir + " is a file");
        }
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("the model " + source.spelling() + " is closed");
        }
    }

    /** Frees the device memory; later calls fail. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            try {
                if (adapterMemory != null) {
                    adapterMemory.close();
                }
                params.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the adapter: " + e.getMessage(), e);
            } finally {
                try {
                    ops.close();
                } finally {
                    closeTokenizer(tokenizer);
                }
            }
        }
    }

    private List<HostTensor> exportParameters() {
        if ("prefix".equals(adapterMethod)) {
            throw new ZotuneException("export: a prefix adapter does not merge into the weights (it adds keys and "
                    + "values to the attention, not weight deltas); its folder " + adapter + " is the export");
        }
        if (adapter == null || weights instanceof Parameters) {
            return hostParameters; // no adapter, or one merged into hostParameters already (GPU backend)
        }
        return mergedOnHost(); // the CPU applies the adapter per pass: merge it here
    }

    private List<HostTensor> mergedOnHost() {
        // the adapter as open() read and checked it: its base is the weights before a classifier module replaced any
        return lora.lora().merge(hostParameters, lora.tensors());
    }

    /** For messages only: the file the tokenizer search most likely picked (same order as the loader). */
    static String guessTokenizerFile(Path model) {
        Path dir = java.nio.file.Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        if (dir != null) {
            for (String name : new String[] {"tokenizer.json", "vocab.json", "tokenizer.bin"}) {
                if (java.nio.file.Files.isRegularFile(dir.resolve(name))) {
                    return dir.resolve(name).toString();
                }
            }
            try (var s = java.nio.file.Files.newDirectoryStream(dir, "tok*.bin")) {
                for (Path p : s) {
                    return p.toString();
                }
            } catch (java.io.IOException e) {
                // fall through to the generic description
            }
        }
        return "found for " + model;
    }
}
