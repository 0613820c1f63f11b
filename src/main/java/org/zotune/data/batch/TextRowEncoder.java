package org.zotune.data.batch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.prompt.TextTemplate;
import org.zotune.model.tokenizer.Tokenizer;

/**
 * Tokenises examples for an encoder objective that embeds them (label similarity, the classification head): one row
 * per example, the text with the tokenizer's default special tokens ({@code [CLS] … [SEP]}); a pair is joined by the
 * tokenizer's pair template ({@link Tokenizer#encodePair}: BERT's {@code [CLS] a [SEP] b [SEP]}, RoBERTa's
 * {@code <s> a </s></s> b </s>}; token type 0 throughout). {@link EncodedExample#answerStart} is 0 (nothing is
 * scored per token), {@link EncodedExample#gold} the label index.
 *
 * <p><b>Truncation</b> (to {@code maxLength} tokens): the end of the text is cut and the row's final special token
 * kept, as a tokenizer truncating "longest first" does for one text.
 */
public final class TextRowEncoder {
    private final Tokenizer tokenizer;
    private final int maxLength;

    public TextRowEncoder(Tokenizer tokenizer, int maxLength) {
        if (maxLength < 2) {
            throw new ZotuneException("max length must be at least 2 tokens for an encoder objective, got "
                    + maxLength);
        }
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    /** Checks the template against the data set and encodes every example. */
    public List<EncodedExample> encode(Dataset data, TextTemplate template) {
        template.check(data);
        List<EncodedExample> out = new ArrayList<>(data.size());
        for (Example e : data.examples()) {
            out.add(encode(e.source(), template.render(data, e), e.label()));
        }
        return out;
    }

    /** One example of one text or a pair. */
    public EncodedExample encode(String source, List<String> texts, int gold) {
        // a pair as the tokenizer's pair template joins it (RoBERTa: <s> a </s></s> b </s>)
        int[] ids = texts.size() > 1 ? tokenizer.encodePair(texts.get(0), texts.get(1))
                : tokenizer.encode(texts.get(0));
        if (ids.length == 0) {
            throw new ZotuneException(source + ": the text encodes to no token");
        }
        return new EncodedExample(source, new int[][] {cut(ids, maxLength)}, new int[] {0}, gold);
    }

    /**
     * {@code ids} (special tokens included) cut to {@code maxLength}: the first maxLength - 1 and the final special
     * token; as they are when no longer.
     */
    public static int[] cut(int[] ids, int maxLength) {
        if (ids.length <= maxLength) {
            return ids;
        }
        int[] out = Arrays.copyOf(ids, maxLength);
        out[maxLength - 1] = ids[ids.length - 1];
        return out;
    }

    /** A label description's tokens (special tokens included, as the examples have them). */
    public int[] description(String label, String text) {
        int[] ids = tokenizer.encode(text);
        if (ids.length == 0) {
            throw new ZotuneException("the description of label '" + label + "' encodes to no token");
        }
        return ids.length > maxLength ? Arrays.copyOf(ids, maxLength) : ids;
    }
}
