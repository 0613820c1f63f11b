package org.zotune.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;

/** A loaded model with its tokenizer, as the commands use them: paths checked, progress on stderr. */
final class ModelSession {
    final Path modelPath;
    final LoadedModel loaded;
    final Tokenizer tokenizer;
    /** The tokenizer file as error messages name it. */
    final String tokenizerName;

    private ModelSession(Path modelPath, LoadedModel loaded, Tokenizer tokenizer, String tokenizerName) {
        this.modelPath = modelPath;
        this.loaded = loaded;
        this.tokenizer = tokenizer;
        this.tokenizerName = tokenizerName;
    }

    /** Fails with a one-line message unless {@code path} exists; {@code what} names the flag. */
    static Path requireExisting(Path path, String what) {
        if (!Files.exists(path)) {
            throw new ZotuneException(what + " " + path + " does not exist");
        }
        return path;
    }

    static ModelSession open(Path model, Path explicitTokenizer, PrintWriter err) {
        requireExisting(model, "model");
        if (explicitTokenizer != null) {
            requireExisting(explicitTokenizer, "tokenizer");
        }
        err.println("loading " + model + " ...");
        err.flush();
        long t0 = System.nanoTime();
        LoadedModel loaded = ModelLoader.load(model);
        Tokenizer tokenizer = Tokenizers.forModel(model, explicitTokenizer);
        ModelConfig c = loaded.config();
        long params = 0;
        for (HostTensor t : loaded.parameters()) {
            params += t.numel();
        }
        err.printf("model: %s, %d layers, hidden %d, vocab %d, %d positions, %s parameters (%.2f s)%n",
                c.family().hfModelType(), c.numLayers(), c.hiddenSize(), c.vocabSize(), c.maxPositions(),
                humanCount(params), (System.nanoTime() - t0) / 1e9);
        err.flush();
        String name = explicitTokenizer != null ? explicitTokenizer.toString() : guessTokenizerFile(model);
        return new ModelSession(model, loaded, tokenizer, name);
    }

    ModelConfig config() {
        return loaded.config();
    }

    /**
     * Every id must index the model's embedding: a tokenizer larger than the model's vocabulary (the wrong
     * {@code --tokenizer}) would otherwise read past the table.
     */
    int[] checkIds(int[] ids) {
        int vocab = config().vocabSize();
        for (int id : ids) {
            if (id < 0 || id >= vocab) {
                throw new ZotuneException("tokenizer " + tokenizerName + " produced token id " + id
                        + ", outside the model's vocabulary of " + vocab + " ids (" + modelPath
                        + "): use the model's own tokenizer (--tokenizer)");
            }
        }
        return ids;
    }

    /** BOS for an empty prompt: the tokenizer's, else the config's. */
    int bosId() {
        return tokenizer.bosId() >= 0 ? tokenizer.bosId() : config().bosTokenId();
    }

    int eosId() {
        return tokenizer.eosId() >= 0 ? tokenizer.eosId() : config().eosTokenId();
    }

    static String humanCount(long n) {
        if (n >= 1_000_000_000L) {
            return String.format("%.2fB", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format("%.1fM", n / 1e6);
        }
        if (n >= 1_000L) {
            return String.format("%.1fK", n / 1e3);
        }
        return Long.toString(n);
    }

    /**
     * For messages only: the file that {@link Tokenizers#forModel} most likely picked (same search order),
     * or a description of where it looked.
     */
    static String guessTokenizerFile(Path model) {
        Path dir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        if (dir != null) {
            for (String name : new String[] {"tokenizer.json", "vocab.json", "tokenizer.bin"}) {
                if (Files.isRegularFile(dir.resolve(name))) {
                    return dir.resolve(name).toString();
                }
            }
            try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "tok*.bin")) {
                for (Path p : s) {
                    return p.toString();
                }
            } catch (IOException e) {
                // fall through to the generic description
            }
        }
        return "found for " + model;
    }
}
