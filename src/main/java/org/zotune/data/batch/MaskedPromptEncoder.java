package org.zotune.data.batch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.prompt.MaskedPrompt;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.model.tokenizer.Tokenizer;

/**
 * Tokenises masked-LM prompts: one row per example, the text before the mask, the model's mask token, the text after,
 * encoded as one string with the tokenizer's default special tokens ({@code [CLS] … [SEP]}, {@code <s> … </s>}; the
 * mask token's own rules apply, e.g. RoBERTa's {@code <mask>} absorbs the space before it). The row holds exactly one
 * mask token; {@link EncodedExample#answerStart} is its position and {@link EncodedExample#gold} the label index.
 *
 * <p><b>Truncation</b> (to {@code maxLength} tokens): the first and the last token (the special tokens) and the mask
 * stay; tokens are dropped one at a time from whichever side of the mask has more of them, at that side's far end
 * (so "{sentence} It was &lt;mask&gt;." loses the sentence's start, "&lt;mask&gt;: {sentence}" its end).
 *
 * <p><b>Label words</b> ({@link #labelTokens}): each word is encoded without special tokens after a space, as LM-BFF
 * does ({@code tokenize(' ' + word)}): byte-level BPE gets the leading-space form ("Ġgreat"), WordPiece drops the
 * space. A word must be one token, unless the caller allows scoring the first of its tokens.
 */
public final class MaskedPromptEncoder {
    private final Tokenizer tokenizer;
    private final String maskToken;
    private final int maskId;
    private final int padId;
    private final int maxLength;

    public MaskedPromptEncoder(Tokenizer tokenizer, String maskToken, int maskId, int padId, int maxLength) {
        if (maxLength < 3) {
            throw new ZotuneException("max length must be at least 3 tokens for a masked-LM prompt (two special tokens "
                    + "and the mask), got " + maxLength);
        }
        this.tokenizer = tokenizer;
        this.maskToken = maskToken;
        this.maskId = maskId;
        this.padId = padId;
        this.maxLength = maxLength;
    }

    /**
     * The encoder for a Hugging Face tokenizer with a {@code [MASK]} or {@code <mask>} token.
     *
     * @param padId the model's padding id (config.json's pad_token_id)
     */
    public static MaskedPromptEncoder of(Tokenizer tokenizer, int padId, int maxLength) {
        if (tokenizer instanceof HfTokenizer hf) {
            for (String m : MaskedTemplate.MASK_PLACEHOLDERS) {
                int id = hf.addedTokenId(m);
                if (id >= 0) {
                    return new MaskedPromptEncoder(tokenizer, m, id, padId, maxLength);
                }
            }
            throw new ZotuneException(hf.source() + ": the tokenizer has no mask token (<mask> or [MASK]); a "
                    + "masked-LM prompt needs one");
        }
        throw new ZotuneException("a masked-LM prompt needs the model's Hugging Face tokenizer (tokenizer.json with a "
                + "mask token)");
    }

    public int maskId() {
        return maskId;
    }

    public String maskToken() {
        return maskToken;
    }

    public int padId() {
        return padId;
    }

    public int maxLength() {
        return maxLength;
    }

    /** Checks the template against the data set and encodes every example. */
    public List<EncodedExample> encode(Dataset data, MaskedTemplate template) {
        template.check(data);
        List<EncodedExample> out = new ArrayList<>(data.size());
        for (Example e : data.examples()) {
            out.add(encode(template.render(e)));
        }
        return out;
    }

    public EncodedExample encode(MaskedPrompt p) {
        int[] ids = tokenizer.encode(p.before() + maskToken + p.after());
        int at = -1;
        int masks = 0;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == maskId) {
                at = i;
                masks++;
            }
        }
        if (masks != 1) {
            throw new ZotuneException(p.source() + ": the prompt holds " + masks + " mask tokens " + maskToken
                    + ", needs exactly one" + (masks > 1 ? " (the example's text contains " + maskToken + ")" : ""));
        }
        if (ids.length > maxLength) {
            int left = at - 1;
            int right = ids.length - 2 - at;
            for (int d = ids.length - maxLength; d > 0; d--) {
                if (left >= right) {
                    left--;
                } else {
                    right--;
                }
            }
            int[] row = new int[maxLength];
            row[0] = ids[0];
            System.arraycopy(ids, at - left, row, 1, left + 1); // the kept end of the left side, then the mask
            System.arraycopy(ids, at + 1, row, left + 2, right); // the kept start of the right side
            row[maxLength - 1] = ids[ids.length - 1];
            ids = row;
            at = left + 1;
        }
        return new EncodedExample(p.source(), new int[][] {ids}, new int[] {at}, p.gold());
    }

    /**
     * The token id of each label word, in the template's label order (see the class comment).
     *
     * @param firstTokenAllowed score a word of several tokens by its first token instead of refusing it
     */
    public int[] labelTokens(List<String> words, boolean firstTokenAllowed) {
        int[] out = new int[words.size()];
        for (int c = 0; c < out.length; c++) {
            String w = words.get(c).strip();
            int[] ids = tokenizer.encodeNoSpecial(" " + w);
            if (ids.length == 0) {
                throw new ZotuneException("verbalizer word '" + w + "' encodes to no token");
            }
            if (ids.length > 1 && !firstTokenAllowed) {
                throw new ZotuneException("verbalizer word '" + w + "' is " + ids.length + " tokens " + Arrays.toString(ids)
                        + " for this tokenizer, a masked-LM prompt scores one token per label: choose a one-token "
                        + "word, or set data.verbalizer_first_token: true to score its first token");
            }
            out[c] = ids[0];
            for (int o = 0; o < c; o++) {
                if (out[o] == out[c]) {
                    throw new ZotuneException("verbalizer words '" + words.get(o).strip() + "' and '" + w
                            + "' are scored by the same token " + out[c] + "; choose words whose first tokens differ");
                }
            }
        }
        return out;
    }
}
