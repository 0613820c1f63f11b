package org.zotune.api;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntConsumer;
import org.zotune.ZotuneException;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.cuda.Cuda;
import org.zotune.model.Batch;
import org.zotune.model.Generator;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;
import org.zotune.train.HfExport;
import org.zotune.train.TrainData;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.NextTokenTargets;

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
    private final LoadedModel loaded;
    private final Tokenizer tokenizer;
    private final String tokenizerName;
    private final Ops ops;
    private final Parameters params;
    private final String fallbackReason;
    private boolean closed;

    private Model(ModelSource source, Path modelPath, Path tokenizerPath, LoadedModel loaded, Tokenizer tokenizer,
            Ops ops, Parameters params, String fallbackReason) {
        this.source = source;
        this.modelPath = modelPath;
        this.tokenizerPath = tokenizerPath;
        this.loaded = loaded;
        this.tokenizer = tokenizer;
        this.tokenizerName = tokenizerPath != null ? tokenizerPath.toString() : guessTokenizerFile(modelPath);
        this.ops = ops;
        this.params = params;
        this.fallbackReason = fallbackReason;
    }

    /**
     * Loads the model and its tokenizer and copies the weights to the device.
     *
     * @throws ZotuneException when a file is missing or unusable, or {@link Device#CUDA} has no usable device
     */
    public static Model open(ModelSource source, Device device, Precision precision) {
        ModelSource.Resolved r = source.resolve();
        LoadedModel loaded = ModelLoader.load(r.model());
        Tokenizer tokenizer = Tokenizers.forModel(r.model(), r.tokenizer());
        String backend = device.spelling();
        String fallback = null;
        if (device == Device.AUTO) {
            Cuda.Availability a = Cuda.availability();
            backend = a.usable() ? "cuda" : "cpu";
            fallback = a.usable() ? null : a.reason();
        }
        Ops ops = Backends.create(backend, precision.dtype());
        try {
            Parameters params = ops.createParameters(loaded.parameters(), precision.dtype());
            return new Model(source, r.model(), r.tokenizer(), loaded, tokenizer, ops, params, fallback);
        } catch (RuntimeException | Error e) {
            ops.close();
            throw e;
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

    /** The model's shape, read from its config. */
    public ModelInfo info() {
        ModelConfig c = loaded.config();
        long n = 0;
        for (HostTensor t : loaded.parameters()) {
            n += t.numel();
        }
        return new ModelInfo(c.family().hfModelType(), loaded.model().kind() == LanguageModel.Kind.MASKED,
                c.numLayers(), c.hiddenSize(), c.vocabSize(), c.maxPositions(), n);
    }

    /** The backend's name ({@code cpu} or {@code cuda}) and dtype, e.g. {@code cpu f32}. */
    public String backend() {
        return ops.name() + " " + ops.computeType().name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Why {@link Device#AUTO} runs on the CPU, or null (it found a GPU, or the device was chosen explicitly). */
    public String fallbackReason() {
        return fallbackReason;
    }

    /** Encodes with the tokenizer's default special tokens (e.g. Llama's BOS), as Hugging Face does. */
    public int[] tokenize(String text) {
        open();
        return tokenizer.encode(text);
    }

    /** Decodes ids to text (special tokens skipped). */
    public String decode(int[] ids) {
        open();
        return tokenizer.decode(ids);
    }

    /** The beginning-of-sequence id (the tokenizer's, else the config's), or -1. */
    public int bosId() {
        return tokenizer.bosId() >= 0 ? tokenizer.bosId() : loaded.config().bosTokenId();
    }

    /** The end-of-sequence id (the tokenizer's, else the config's), or -1. */
    public int eosId() {
        return tokenizer.eosId() >= 0 ? tokenizer.eosId() : loaded.config().eosTokenId();
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
        open();
        checkIds(ids);
        int max = loaded.config().maxPositions();
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
        if (loaded.model().kind() != LanguageModel.Kind.CAUSAL) {
            throw new ZotuneException("model " + modelPath + " is not a causal language model: score it with "
                    + "fillMask");
        }
        try (Ops.Scope scope = ops.scope()) {
            Batch batch = Batch.of(ids);
            Tensor logits = loaded.model().forward(ops, params, batch);
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
     * for k-shot sampling and splits.
     */
    public EvalResult evaluate(DataSet data, int maxLength, int batchSize, long seed) {
        open();
        TrainData td = TrainData.load(data.internal(), tokenizer, maxLength, seed);
        if (td.languageModel()) {
            Evaluator.LmResult r = Evaluator.languageModel(ops, loaded.model(), params, td.train(), batchSize,
                    td.padId());
            return new EvalResult(td.description(), true, td.train().size(), r.tokens(), r.loss(), r.perplexity(),
                    Double.NaN, Double.NaN);
        }
        Evaluator.Result r = Evaluator.evaluate(ops, loaded.model(), params, td.train(), batchSize, td.padId());
        return new EvalResult(td.description(), false, r.examples(), 0, r.loss(), Double.NaN, r.accuracy(), r.f1());
    }

    /**
     * Extends {@code prompt} (token ids, at least one: e.g. {@link #bosId()}) autoregressively, calling
     * {@code onToken} for each new token as it is chosen; stops at {@link Generation#maxTokens()}, the EOS token
     * (not included) or the model's maximum positions. Returns the new tokens.
     */
    public int[] generate(int[] prompt, Generation generation, IntConsumer onToken) {
        checkPrompt(prompt);
        Generator.Sampling s = generation.sampled()
                ? Generator.Sampling.temperature(generation.temperature(), generation.seed())
                : Generator.Sampling.argmax();
        try (Ops.Scope scope = ops.scope()) {
            return Generator.generate(ops, loaded.model(), params, prompt, generation.maxTokens(), s, eosId(),
                    onToken == null ? t -> { } : onToken);
        }
    }

    /** Generates from a text prompt (from BOS when empty) and returns the whole text, prompt included. */
    public String generate(String prompt, Generation generation) {
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
     * An encoder's most likely tokens at its mask token. Decoders (this build's GPT-2, OPT, Llama) are refused in
     * one line. TODO(encoders): BERT/RoBERTa arrive with the encoder issue, which implements this for MASKED models.
     */
    public List<String> fillMask(String text, int topK) {
        open();
        throw new ZotuneException(encoderOnly("fill-mask"));
    }

    /**
     * An encoder's sentence embedding (mean over the last hidden states). Decoders are refused in one line.
     * TODO(encoders): implemented with the encoder issue for MASKED models.
     */
    public float[] embed(String text) {
        open();
        throw new ZotuneException(encoderOnly("embed"));
    }

    private String encoderOnly(String what) {
        if (loaded.model().kind() == LanguageModel.Kind.CAUSAL) {
            return "model " + modelPath + " is a decoder (" + loaded.config().family().hfModelType() + "): " + what
                    + " needs an encoder such as BERT or RoBERTa";
        }
        return what + " is not available in this build of zotune";
    }

    /**
     * Writes the weights as a Hugging Face folder (model.safetensors, config.json, the tokenizer files) into
     * {@code dir}, which must not exist or be empty.
     */
    public void export(Path dir) {
        open();
        requireEmptyOrAbsent(dir, "export folder");
        HfExport.write(dir, modelPath, tokenizerPath, loaded.config(), loaded.parameters(),
                Map.of("format", "pt"));
    }

    /**
     * Fails in one line unless {@code prompt} can be generated from: non-empty, in the vocabulary, and shorter than
     * the model's maximum positions.
     */
    public void checkPrompt(int[] prompt) {
        checkIds(prompt);
        int max = loaded.config().maxPositions();
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
        int vocab = loaded.config().vocabSize();
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
                params.close();
            } finally {
                ops.close();
            }
        }
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
