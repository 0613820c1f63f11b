package org.zotune.model.tokenizer;

/** Text to token ids and back, exactly as the model's Hugging Face tokenizer does with its defaults. */
public interface Tokenizer {
    /** Encodes with the tokenizer's default special tokens (e.g. Llama's BOS). */
    int[] encode(String text);

    /**
     * Encodes a pair of texts with the tokenizer's pair template; by default the first text's encoding followed by
     * the second's without its leading special token, if it starts with the same one ({@code [CLS] a [SEP] b [SEP]});
     * an empty second text is no second text (as transformers encodes {@code tok(a, "")}).
     */
    default int[] encodePair(String first, String second) {
        if (second.isEmpty()) {
            return encode(first);
        }
        int[] ids = encode(first);
        int[] b = encode(second);
        int skip = b.length > 0 && ids.length > 0 && b[0] == ids[0] ? 1 : 0;
        int[] joined = java.util.Arrays.copyOf(ids, ids.length + b.length - skip);
        System.arraycopy(b, skip, joined, ids.length, b.length - skip);
        return joined;
    }

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
