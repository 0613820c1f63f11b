package org.zotune.model;

import java.nio.file.Path;

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
        throw new UnsupportedOperationException("TODO: model loading");
    }
}
