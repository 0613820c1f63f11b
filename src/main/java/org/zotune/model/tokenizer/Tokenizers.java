package org.zotune.model.tokenizer;

import java.nio.file.Path;

/** Finds and loads the tokenizer for a model. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * Loads {@code explicit} if given, else looks beside/inside {@code modelPath}: {@code tokenizer.json},
     * {@code vocab.json} + {@code merges.txt}, or a llama2.c {@code tokenizer.bin} / {@code tok*.bin}.
     *
     * @throws org.zotune.ZotuneException when none is found or the file is malformed
     */
    public static Tokenizer forModel(Path modelPath, Path explicit) {
        throw new UnsupportedOperationException("TODO: tokenizer lookup");
    }
}
