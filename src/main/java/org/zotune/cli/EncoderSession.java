package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.HfTokenizer;

/** An encoder (BERT, RoBERTa) with its tokenizer.json when there is one, as fill-mask and embed use them. */
final class EncoderSession {
    final LoadedEncoder loaded;
    /** The model's tokenizer, or null when the folder has none. */
    final HfTokenizer tokenizer;

    private EncoderSession(LoadedEncoder loaded, HfTokenizer tokenizer) {
        this.loaded = loaded;
        this.tokenizer = tokenizer;
    }

    static EncoderSession open(Path model, boolean needTokenizer, PrintWriter err) {
        Runs.requireExisting(model, "model");
        err.println("loading " + model + " ...");
        err.flush();
        LoadedEncoder loaded = ModelLoader.loadEncoder(model);
        Path dir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        Path json = dir == null ? null : dir.resolve("tokenizer.json");
        HfTokenizer tok = null;
        if (json != null && Files.isRegularFile(json)) {
            tok = HfTokenizer.load(json);
            if (tok.vocabSize() > loaded.config().vocabSize()) {
                tok.close();
                throw new ZotuneException(json + ": the tokenizer's vocabulary of " + tok.vocabSize()
                        + " ids does not fit the model's " + loaded.config().vocabSize() + " (" + model + ")");
            }
        } else if (needTokenizer) {
            throw new ZotuneException(model + ": no tokenizer.json beside the model, which text input needs");
        }
        err.printf("model: %s encoder, %d layers, hidden %d, vocab %d%s%n", loaded.config().family().hfModelType(),
                loaded.config().numLayers(), loaded.config().hiddenSize(), loaded.config().vocabSize(),
                loaded.model().hasMlmHead() ? ", MLM head" : "");
        err.flush();
        return new EncoderSession(loaded, tok);
    }

    /** Ids of one text with the tokenizer's special tokens; refused beyond the model's positions. */
    int[] encode(String text, String where) {
        int[] ids = tokenizer.encode(text);
        int max = loaded.config().maxPositions() - loaded.config().encoder().positionOffset();
        if (ids.length > max) {
            throw new ZotuneException(where + " is " + ids.length + " tokens long, more than the model's " + max
                    + " positions");
        }
        return ids;
    }

    void close() {
        if (tokenizer != null) {
            tokenizer.close();
        }
    }
}
