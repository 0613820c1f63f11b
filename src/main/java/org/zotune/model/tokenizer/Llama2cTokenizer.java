package org.zotune.model.tokenizer;

import java.nio.file.Path;

/**
 * Placeholder so this branch compiles: the llama2.c {@code tokenizer.bin} reader is written on another branch
 * and replaces this file at merge.
 */
public final class Llama2cTokenizer {
    private Llama2cTokenizer() {
    }

    public static Tokenizer load(Path file) {
        throw new UnsupportedOperationException("llama2.c tokenizer.bin reader not in this branch: " + file);
    }
}
