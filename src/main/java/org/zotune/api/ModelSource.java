package org.zotune.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;

/**
 * Where a model's weights and tokenizer come from: a Hugging Face folder (config.json + safetensors), a llama2.c
 * {@code .bin} file, or the bundled stories260K. Immutable and thread-safe; nothing is read until a model opens.
 *
 * @param spelling  how the config key {@code model} names it: a path, or {@code bundled}
 * @param tokenizer an explicit tokenizer file, or null for the model's own
 */
public record ModelSource(String spelling, Path tokenizer) {
    /** The config key {@code model}'s name of the bundled model. */
    public static final String BUNDLED = "bundled";

    /** A source named by {@code spelling}, with an explicit tokenizer file or null. */
    public ModelSource {
        Objects.requireNonNull(spelling, "spelling");
    }

    /** llama2.c's stories260K (MIT, by Andrej Karpathy) with its 512-token tokenizer, shipped inside the jar. */
    public static ModelSource bundled() {
        return new ModelSource(BUNDLED, null);
    }

    /** A Hugging Face folder or a llama2.c {@code .bin}; {@code bundled} names the bundled model. */
    public static ModelSource of(String pathOrBundled) {
        return new ModelSource(pathOrBundled, null);
    }

    /** A Hugging Face folder or a llama2.c {@code .bin} file. */
    public static ModelSource of(Path path) {
        return new ModelSource(path.toString(), null);
    }

    /** The same weights with this tokenizer file instead of the model's own. */
    public ModelSource withTokenizer(Path file) {
        return new ModelSource(spelling, file);
    }

    /** Whether this is the bundled stories260K. */
    public boolean isBundled() {
        return spelling.equals(BUNDLED);
    }

    /** The bundled model's licence attribution (one line), or null for any other model. */
    public String attribution() {
        return isBundled() ? BundledModel.get().attribution() : null;
    }

    /** The checked model and tokenizer paths (the bundled files are extracted to a temporary folder once). */
    Resolved resolve() {
        Path tok = tokenizer == null ? null : requireExisting(tokenizer, "tokenizer");
        if (isBundled()) {
            BundledModel b = BundledModel.get();
            return new Resolved(b.model(), tok == null ? b.tokenizer() : tok);
        }
        return new Resolved(requireExisting(Path.of(spelling), "model"), tok);
    }

    record Resolved(Path model, Path tokenizer) {
    }

    /** One line unless {@code path} exists; {@code what} names it ("model", "tokenizer", ...). */
    static Path requireExisting(Path path, String what) {
        if (!Files.exists(path)) {
            throw new ZotuneException(what + " " + path + " does not exist");
        }
        return path;
    }
}
