package org.zotune.model.tokenizer;

/** Text to token ids and back, exactly as the model's Hugging Face tokenizer does with its defaults. */
public interface Tokenizer {
    /** Encodes with the tokenizer's default special tokens (e.g. Llama's BOS). */
    int[] encode(String text);

    /** Encodes without adding special tokens. */
    int[] encodeNoSpecial(String text);

    /** Decodes ids to text (special tokens skipped). */
    String decode(int[] ids);

    int vocabSize();

    /** Beginning-of-sequence id, or -1. */
    int bosId();

    /** End-of-sequence id, or -1. */
    int eosId();
}
