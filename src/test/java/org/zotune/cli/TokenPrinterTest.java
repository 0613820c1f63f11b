package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.zotune.model.tokenizer.Tokenizer;

class TokenPrinterTest {

    /**
     * A toy tokenizer with the two properties that make one-token-at-a-time decoding wrong: the
     * SentencePiece rule that drops the space at the start of a text, and byte tokens that split a UTF-8
     * character (decoded with U+FFFD until complete, as Java and Hugging Face do).
     */
    static final class ToyTokenizer implements Tokenizer {
        static final byte[][] PIECES = {
            new byte[0],                                  // 0: BOS (special, decodes to nothing)
            " Once".getBytes(StandardCharsets.UTF_8),     // 1
            " upon".getBytes(StandardCharsets.UTF_8),     // 2
            " a".getBytes(StandardCharsets.UTF_8),        // 3
            " caf".getBytes(StandardCharsets.UTF_8),      // 4
            {(byte) 0xC3},                                // 5: first byte of é
            {(byte) 0xA9},                                // 6: second byte of é
            "!".getBytes(StandardCharsets.UTF_8),         // 7
        };

        @Override
        public String decode(int[] ids) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int id : ids) {
                b.writeBytes(PIECES[id]);
            }
            String s = new String(b.toByteArray(), StandardCharsets.UTF_8);
            return s.startsWith(" ") ? s.substring(1) : s;
        }

        @Override
        public int[] encode(String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int[] encodeNoSpecial(String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int vocabSize() {
            return PIECES.length;
        }

        @Override
        public int bosId() {
            return 0;
        }

        @Override
        public int eosId() {
            return -1;
        }
    }

    private static String stream(int[] prompt, int... generated) {
        StringWriter s = new StringWriter();
        TokenPrinter p = new TokenPrinter(new ToyTokenizer(), prompt, new PrintWriter(s));
        for (int t : generated) {
            p.accept(t);
        }
        p.finish();
        return s.toString();
    }

    @Test
    void streamsWhatTheWholeSequenceDecodesTo() {
        String out = stream(new int[] {0}, 1, 2, 3, 4, 5, 6, 7);
        assertEquals("Once upon a café!" + System.lineSeparator(), out);
        assertFalse(out.contains("\uFFFD"));
    }

    @Test
    void printsThePromptFirst() {
        assertEquals("Once upon a caf!" + System.lineSeparator(), stream(new int[] {0, 1, 2}, 3, 4, 7));
    }

    @Test
    void anIncompleteCharacterAtTheEndIsStillPrinted() {
        // generation stopped inside a character: show the replacement character rather than drop it
        assertEquals("Once caf\uFFFD" + System.lineSeparator(), stream(new int[] {0}, 1, 4, 5));
    }
}
