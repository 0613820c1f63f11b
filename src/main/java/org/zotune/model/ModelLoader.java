package org.zotune.model;

import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.model.io.HfCheckpoint;
import org.zotune.model.io.Llama2cCheckpoint;

/** Entry point for loading a model: a Hugging Face folder or a llama2.c {@code .bin}. */
public final class ModelLoader {
    private ModelLoader() {
    }

    /**
     * Reads the checkpoint, builds the architecture named by its config and arranges its tensors.
     *
     * @throws org.zotune.ZotuneException naming the file/tensor/field and what is wrong
     */
    public static LoadedModel load(Path path) {
        return load(open(path));
    }

    /** As {@link #load(Path)} on a checkpoint already opened (e.g. to look at its config first). */
    public static LoadedModel load(Checkpoint checkpoint) {
        LanguageModel built = build(checkpoint);
        if (!(built instanceof CausalLM model)) {
            throw new ZotuneException(checkpoint.source() + ": a " + checkpoint.config().family()
                    + " encoder (masked language model) cannot run here, which needs a causal language model; "
                    + "use zotune fill-mask or zotune embed");
        }
        return new LoadedModel(checkpoint, model, Architectures.arrange(model, checkpoint));
    }

    /** As {@link #load}, for an encoder (BERT, RoBERTa); a decoder is refused in one line. */
    public static LoadedEncoder loadEncoder(Path path) {
        return loadEncoder(open(path));
    }

    /** As {@link #loadEncoder(Path)} on a checkpoint already opened. */
    public static LoadedEncoder loadEncoder(Checkpoint checkpoint) {
        LanguageModel built = build(checkpoint);
        if (!(built instanceof EncoderModel model)) {
            throw new ZotuneException(checkpoint.source() + ": a " + checkpoint.config().family()
                    + " decoder (causal language model), not an encoder; use zotune perplexity or zotune generate");
        }
        return new LoadedEncoder(checkpoint, model, Architectures.arrange(model, checkpoint));
    }

    /** As {@link #load}, for a model of any kind (the caller checks {@link LanguageModel#kind()}). */
    public static LoadedLanguageModel loadAny(Path path) {
        Checkpoint checkpoint = open(path);
        LanguageModel model = build(checkpoint);
        return new LoadedLanguageModel(checkpoint, model, Architectures.arrange(model, checkpoint));
    }

    private static LanguageModel build(Checkpoint checkpoint) {
        try {
            return Architectures.createModel(checkpoint.config());
        } catch (IllegalArgumentException e) {
            throw new ZotuneException(checkpoint.source() + ": unsupported model: " + e.getMessage(), e);
        }
    }

    /**
     * Opens the checkpoint without arranging it: a folder (or its config.json / .safetensors file) is Hugging
     * Face, a {@code .bin} file llama2.c.
     */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            return HfCheckpoint.open(path);
        }
        if (!Files.exists(path)) {
            throw new ZotuneException(path + ": no such file or directory");
        }
        String file = path.getFileName().toString();
        if (file.endsWith(".bin")) {
            return Llama2cCheckpoint.open(path);
        }
        if (file.endsWith(".safetensors") || file.equals("config.json")) {
            return HfCheckpoint.open(path);
        }
        throw new ZotuneException(path + ": not a model (expected a Hugging Face folder with config.json and "
                + "safetensors, or a llama2.c .bin file)");
    }
}
