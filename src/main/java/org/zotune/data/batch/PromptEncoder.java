package org.zotune.data.batch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.prompt.PromptTemplate;
import org.zotune.data.prompt.Prompted;
import org.zotune.model.tokenizer.Tokenizer;

/**
 * Tokenises prompts and their candidate answers with the model's tokenizer.
 *
 * <p><b>Answer tokens.</b> The prompt and each full text (prompt + candidate) are encoded on their own with
 * {@link Tokenizer#encode} (default special tokens, e.g. Llama's BOS). The candidate's tokens are those of the full
 * text after its longest common prefix with the prompt's tokens; encoding the full text (rather than concatenating
 * separately encoded pieces) gives the tokens the model sees in running text, as MeZO does. A candidate that adds
 * no token is an error.
 *
 * <p><b>Truncation</b> (to {@code maxLength} tokens per row). Prompts are cut from the left, keeping a leading BOS:
 * the end of the prompt (the template's question, "It was") and the answer always stay. All rows of an example lose
 * the same number of prompt tokens, enough for the longest row to fit. For candidates (classification, multiple
 * choice) an answer that cannot fit even with the whole prompt cut away is an error naming the example. For
 * language-model text ({@link #encodeLanguageModel}) the prompt is cut first, then the completion is cut at its
 * end.
 *
 * <p>A first answer token at position 0 (no BOS, empty prompt) has no preceding position to predict it from, so a
 * causal objective does not score it (it is still a label of the {@link PromptBatch}).
 */
public final class PromptEncoder {
    private final Tokenizer tokenizer;
    private final int maxLength;

    public PromptEncoder(Tokenizer tokenizer, int maxLength) {
        if (maxLength < 2) {
            throw new ZotuneException("max length must be at least 2 tokens, got " + maxLength);
        }
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    public int maxLength() {
        return maxLength;
    }

    /** The id padding positions get (never attended to nor scored): EOS if the tokenizer has one, else 0. */
    public int padId() {
        return Math.max(0, tokenizer.eosId());
    }

    /** Checks the template against the data set and encodes every example. */
    public List<EncodedExample> encode(Dataset data, PromptTemplate template) {
        template.check(data);
        List<EncodedExample> out = new ArrayList<>(data.size());
        for (Example e : data.examples()) {
            out.add(encode(template.render(e)));
        }
        return out;
    }

    /** Encodes one prompt and its candidates (truncating the prompt, never an answer). */
    public EncodedExample encode(Prompted p) {
        return encode(p, false);
    }

    /**
     * Encodes a language-model example: {@code prompt} + {@code completion} (loss on the completion) or {@code text}
     * (loss on every token).
     */
    public EncodedExample encodeLanguageModel(Example e) {
        String prompt;
        String full;
        if (e.fields().containsKey("completion")) {
            prompt = e.field("prompt");
            full = prompt + e.field("completion");
        } else {
            prompt = "";
            full = e.field("text");
        }
        return encode(new Prompted(e.source(), prompt, List.of(full), 0), true);
    }

    /** Encodes every example of a language-model data set. */
    public List<EncodedExample> encodeLanguageModel(Dataset data) {
        if (data.kind() != Dataset.Kind.LANGUAGE_MODEL) {
            throw new ZotuneException(data.name() + ": a " + data.kind() + " data set needs a prompt template, not "
                    + "language-model encoding");
        }
        List<EncodedExample> out = new ArrayList<>(data.size());
        for (Example e : data.examples()) {
            out.add(encodeLanguageModel(e));
        }
        return out;
    }

    private EncodedExample encode(Prompted p, boolean cutAnswer) {
        int[] ctx = tokenizer.encode(p.prompt());
        int n = p.candidates().size();
        if (n == 0) {
            throw new ZotuneException(p.source() + ": no candidates to score");
        }
        int[][] full = new int[n][];
        int[] lcp = new int[n];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            full[i] = tokenizer.encode(p.candidates().get(i));
            lcp[i] = commonPrefix(ctx, full[i]);
            if (lcp[i] == full[i].length) {
                throw new ZotuneException(p.source() + ": candidate " + i + " (\"" + oneLine(p.candidates().get(i))
                        + "\") adds no token after the prompt");
            }
            longest = Math.max(longest, full[i].length);
        }
        int bos = tokenizer.bosId();
        int[][] rows = new int[n][];
        int[] start = new int[n];
        int drop = Math.max(0, longest - maxLength);
        for (int i = 0; i < n; i++) {
            int[] f = full[i];
            int head = bos >= 0 && f.length > 0 && f[0] == bos ? 1 : 0;
            int droppable = Math.max(0, lcp[i] - head);
            int d = Math.min(drop, droppable);
            if (d < drop && !cutAnswer) {
                throw new ZotuneException(p.source() + ": candidate " + i + " is " + (f.length - lcp[i])
                        + " tokens; with " + head + " leading token(s) kept it cannot fit the maximum length of "
                        + maxLength + " tokens");
            }
            int[] row = new int[f.length - d];
            System.arraycopy(f, 0, row, 0, head);
            System.arraycopy(f, head + d, row, head, f.length - head - d);
            if (row.length > maxLength) {
                row = Arrays.copyOf(row, maxLength); // only for language-model text: cut the completion's end
            }
            rows[i] = row;
            start[i] = lcp[i] - d;
            if (start[i] >= row.length || (start[i] == 0 && row.length < 2)) {
                throw new ZotuneException(p.source() + ": the prompt fills the maximum length of " + maxLength
                        + " tokens; no completion token is left to score");
            }
        }
        return new EncodedExample(p.source(), rows, start, p.gold());
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    private static String oneLine(String s) {
        String t = s.replace("\n", "\\n");
        return t.length() > 60 ? "…" + t.substring(t.length() - 60) : t;
    }
}
