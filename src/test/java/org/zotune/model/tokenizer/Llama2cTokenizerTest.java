package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;

class Llama2cTokenizerTest {
    @TempDir
    Path tmp;

    private static Llama2cTokenizer llama2() {
        return Llama2cTokenizer.load(TestData.file("tokenizers/llama2-32k/tokenizer.bin"));
    }

    /**
     * Expected ids from llama2.c's test.c (karpathy/llama2.c), which took them from Meta's Llama 2
     * SentencePiece tokenizer: the prompts of Meta's example_text_completion.py.
     */
    @Test
    void encodesLikeLlama2SentencePiece() {
        Llama2cTokenizer t = llama2();
        assertEquals(32000, t.vocabSize());
        assertArrayEquals(new int[] {1}, t.encode(""));
        assertArrayEquals(new int[] {1, 306, 4658, 278, 6593, 310, 2834, 338},
                t.encode("I believe the meaning of life is"));
        assertArrayEquals(new int[] {1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871},
                t.encode("Simply put, the theory of relativity states that "));
        assertArrayEquals(new int[] {1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901,
                13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871},
                t.encode("A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n"
                        + "        I just "));
        assertArrayEquals(new int[] {1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149,
                301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13,
                4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149},
                t.encode("Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint"
                        + " => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>"));
    }

    @Test
    void decodeInvertsEncode() {
        Llama2cTokenizer t = llama2();
        for (String s : new String[] {"I believe the meaning of life is", "menthe poivrée\n  x",
                "emoji 🦙 and 日本語", "  two leading spaces"}) {
            int[] ids = t.encode(s);
            assertEquals(1, ids[0]);
            assertEquals(s, t.decode(ids));
            assertEquals(s, t.decode(t.encodeNoSpecial(s)));
            assertArrayEquals(Arrays.copyOfRange(ids, 1, ids.length), t.encodeNoSpecial(s));
        }
        // newline is a byte-fallback piece <0x0A> (id 13 = 0x0A + 3)
        assertEquals("\n", t.decode(new int[] {13}));
        assertEquals(1, t.bosId());
        assertEquals(2, t.eosId());
        assertEquals("a", t.decode(new int[] {1, 263, 2}), "BOS/EOS skipped, dummy-prefix space dropped");
    }

    @Test
    void stories260KVocabulary() {
        Llama2cTokenizer t = Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
        assertEquals(512, t.vocabSize());
        String s = "Once upon a time, there was a little girl named Lily.\nShe said, \"Hi!\"";
        assertEquals(s, t.decode(t.encode(s)));
    }

    // ---- a hand-made vocabulary whose merges are worked out by hand ----

    private Path writeVocab(String[] extra, float[] extraScores) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeInt(out, 16);
        writeToken(out, 0f, "<unk>");
        writeToken(out, 0f, "\n<s>\n");
        writeToken(out, 0f, "\n</s>\n");
        for (int b = 0; b < 256; b++) {
            writeToken(out, 0f, String.format("<0x%02X>", b)); // ids 3..258
        }
        for (int i = 0; i < extra.length; i++) {
            writeToken(out, extraScores[i], extra[i]);
        }
        Path p = tmp.resolve("vocab.bin");
        Files.write(p, out.toByteArray());
        return p;
    }

    private static void writeInt(ByteArrayOutputStream out, int v) {
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private static void writeToken(ByteArrayOutputStream out, float score, String piece) {
        byte[] b = piece.getBytes(StandardCharsets.UTF_8);
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(score).array());
        writeInt(out, b.length);
        out.writeBytes(b);
    }

    @Test
    void mergesBestScoreFirstLeftmostOnTies() throws IOException {
        // ids: 259 " ", 260 "a", 261 "b", 262 "c", 263 " a" (5), 264 "ab" (10), 265 " ab" (1), 266 "bc" (10)
        Llama2cTokenizer t = Llama2cTokenizer.load(writeVocab(
                new String[] {" ", "a", "b", "c", " a", "ab", " ab", "bc"},
                new float[] {0, 0, 0, 0, 5, 10, 1, 10}));
        // " a b c": "ab" and "bc" tie at 10, the leftmost wins: " ab c"; then " ab" (1): [" ab", "c"]
        assertArrayEquals(new int[] {265, 262}, t.encodeNoSpecial("abc"));
        assertArrayEquals(new int[] {1, 265, 262}, t.encode("abc"));
        // "ca": " c" is not in the vocabulary, "ca" neither: no merge
        assertArrayEquals(new int[] {259, 262, 260}, t.encodeNoSpecial("ca"));
        // "é" (C3 A9) is not a piece: byte fallback, id = byte + 3
        assertArrayEquals(new int[] {259, 0xC3 + 3, 0xA9 + 3}, t.encodeNoSpecial("é"));
        assertEquals("é", t.decode(t.encode("é")));
        assertEquals("abc", t.decode(new int[] {265, 262}));
        assertEquals("c ab", t.decode(new int[] {262, 265}), "only the first piece loses its space");
    }

    // ---- bad input ----

    private Path bytes(byte[] b) throws IOException {
        Path p = tmp.resolve("bad.bin");
        Files.write(p, b);
        return p;
    }

    private static void assertOneLine(ZotuneException e, String... fragments) {
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    @Test
    void rejectsBadFiles() throws IOException {
        Path good = writeVocab(new String[] {" "}, new float[] {0});
        byte[] all = Files.readAllBytes(good);

        ZotuneException e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(bytes(new byte[2])));
        assertOneLine(e, "bad.bin", "truncated");

        byte[] zeroMax = all.clone();
        ByteBuffer.wrap(zeroMax).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0);
        e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(bytes(zeroMax)));
        assertOneLine(e, "bad.bin", "max_token_length");

        byte[] cut = Arrays.copyOf(all, all.length - 1); // last piece " " loses its byte
        e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(bytes(cut)));
        assertOneLine(e, "bad.bin", "token 259", "truncated");

        byte[] negLen = all.clone(); // token 0: score at 4, length at 8
        ByteBuffer.wrap(negLen).order(ByteOrder.LITTLE_ENDIAN).putInt(8, -5);
        e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(bytes(negLen)));
        assertOneLine(e, "bad.bin", "token 0", "length -5");

        byte[] tooLong = all.clone();
        ByteBuffer.wrap(tooLong).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 17);
        e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(bytes(tooLong)));
        assertOneLine(e, "bad.bin", "token 0", "length 17");

        e = assertThrows(ZotuneException.class, () -> Llama2cTokenizer.load(tmp.resolve("absent.bin")));
        assertOneLine(e, "absent.bin");
    }

    @Test
    void rejectsIdsOutOfRange() throws IOException {
        Llama2cTokenizer t = Llama2cTokenizer.load(writeVocab(new String[] {" "}, new float[] {0}));
        ZotuneException e = assertThrows(ZotuneException.class, () -> t.decode(new int[] {5, 260}));
        assertOneLine(e, "vocab.bin", "260");
        e = assertThrows(ZotuneException.class, () -> t.decode(new int[] {-1}));
        assertOneLine(e, "-1");
    }

    /**
     * The heap-ordered merge gives exactly the ids of run.c's quadratic loop, written out here from run.c's
     * description over a vocabulary read independently of the class: on real text (Austen, non-ASCII included) and
     * on random strings built to contain many equal-score ties, for the 512-token and the 32k vocabularies.
     */
    @Test
    void mergesInRunCsOrder() throws IOException {
        String austen;
        try (var in = Llama2cTokenizerTest.class.getResourceAsStream("/org/zotune/data/janeausten/train.txt")) {
            austen = new String(in.readAllBytes(), StandardCharsets.UTF_8).substring(0, 3000);
        }
        Random r = new Random(5);
        String alphabet = "ab ab  aaa bbb\n\té€😀ñ";
        List<String> texts = new ArrayList<>(List.of(austen, "", " ", "a", "menthe poivrée 😀 x"));
        for (int i = 0; i < 30; i++) {
            StringBuilder b = new StringBuilder();
            int len = r.nextInt(200);
            for (int k = 0; k < len; k++) {
                b.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0,
                        r.nextInt(alphabet.codePointCount(0, alphabet.length())))));
            }
            texts.add(b.toString());
        }
        for (Path vocab : new Path[] {TestData.file("models/stories260K/tok512.bin"),
                TestData.file("tokenizers/llama2-32k/tokenizer.bin")}) {
            Llama2cTokenizer t = Llama2cTokenizer.load(vocab);
            RunC reference = new RunC(Files.readAllBytes(vocab));
            for (String text : texts) {
                assertArrayEquals(reference.encode(text), t.encode(text), vocab.getFileName() + ": " + text);
            }
        }
    }

    /** run.c's encoder, O(n²): a fresh reading of the vocabulary file and of the merge loop. */
    private static final class RunC {
        final List<byte[]> pieces = new ArrayList<>();
        final List<Float> scores = new ArrayList<>();
        final Map<String, Integer> ids = new HashMap<>();

        RunC(byte[] file) {
            ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
            b.getInt(); // max token length
            while (b.hasRemaining()) {
                float score = b.getFloat();
                byte[] piece = new byte[b.getInt()];
                b.get(piece);
                ids.putIfAbsent(new String(piece, StandardCharsets.ISO_8859_1), pieces.size());
                pieces.add(piece);
                scores.add(score);
            }
        }

        int id(byte[] bytes) {
            return ids.getOrDefault(new String(bytes, StandardCharsets.ISO_8859_1), -1);
        }

        void add(List<Integer> out, byte[] bytes) {
            int id = id(bytes);
            if (id >= 0) {
                out.add(id);
            } else {
                for (byte x : bytes) {
                    out.add((x & 0xff) + 3);
                }
            }
        }

        int[] encode(String text) {
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            List<Integer> t = new ArrayList<>();
            if (utf8.length > 0) {
                add(t, new byte[] {' '});
            }
            for (int i = 0; i < utf8.length; ) {
                int end = i + 1;
                while (end < utf8.length && (utf8[end] & 0xC0) == 0x80 && end - i < 4) {
                    end++;
                }
                add(t, Arrays.copyOfRange(utf8, i, end));
                i = end;
            }
            while (true) {
                float best = -1e10f;
                int bestId = -1;
                int at = -1;
                for (int k = 0; k + 1 < t.size(); k++) {
                    byte[] a = pieces.get(t.get(k));
                    byte[] c = pieces.get(t.get(k + 1));
                    byte[] ab = new byte[a.length + c.length];
                    System.arraycopy(a, 0, ab, 0, a.length);
                    System.arraycopy(c, 0, ab, a.length, c.length);
                    int id = id(ab);
                    if (id >= 0 && scores.get(id) > best) {
                        best = scores.get(id);
                        bestId = id;
                        at = k;
                    }
                }
                if (bestId < 0) {
                    break;
                }
                t.set(at, bestId);
                t.remove(at + 1);
            }
            int[] out = new int[t.size() + 1];
            out[0] = 1; // BOS
            for (int k = 0; k < t.size(); k++) {
                out[k + 1] = t.get(k);
            }
            return out;
        }
    }
}
