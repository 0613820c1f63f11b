package org.zotune.cli;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.function.Function;
import org.zotune.model.tokenizer.Tokenizer;

/**
 * Streams generated text. Tokens do not decode one by one (SentencePiece drops a leading space at the
 * start of a text, byte-level BPE splits UTF-8 characters across tokens), so each step decodes the whole
 * sequence, prompt included, and prints what was added since the last step; a trailing U+FFFD (an
 * incomplete UTF-8 sequence) is held back until the next token completes it.
 */
final class TokenPrinter {
    private final Function<int[], String> decoder;
    private final PrintWriter out;
    private int[] ids;
    private int length;
    private String printed;

    /** Prints the prompt as the tokenizer decodes it. */
    TokenPrinter(Tokenizer tokenizer, int[] prompt, PrintWriter out) {
        this(tokenizer::decode, prompt, out);
    }

    /** Prints the prompt as {@code decoder} turns it into text. */
    TokenPrinter(Function<int[], String> decoder, int[] prompt, PrintWriter out) {
        this.decoder = decoder;
        this.out = out;
        this.ids = Arrays.copyOf(prompt, Math.max(16, prompt.length * 2));
        this.length = prompt.length;
        this.printed = "";
        emit(false);
    }

    void accept(int token) {
        if (length == ids.length) {
            ids = Arrays.copyOf(ids, ids.length * 2);
        }
        ids[length++] = token;
        emit(false);
    }

    /** Prints whatever was held back, then a newline. */
    void finish() {
        emit(true);
        out.println();
        out.flush();
    }

    private void emit(boolean force) {
        String text = decoder.apply(Arrays.copyOf(ids, length));
        if (!force) {
            int end = text.length();
            while (end > 0 && text.charAt(end - 1) == '\uFFFD') {
                end--;
            }
            text = text.substring(0, end);
        }
        // normally text extends what was printed; if a decoder rewrote earlier text, print from where they differ
        int common = 0;
        int limit = Math.min(text.length(), printed.length());
        while (common < limit && text.charAt(common) == printed.charAt(common)) {
            common++;
        }
        if (text.length() > common) {
            out.print(text.substring(common));
            out.flush();
            printed = text;
        }
    }
}
