package org.zotune.model.tokenizer;

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
import java.util.PriorityQueue;
import org.zotune.ZotuneException;

/**
 * A SentencePiece vocabulary in llama2.c's {@code tokenizer.bin} format: int32 max_token_length, then per
 * token a float32 merge score, an int32 byte length and the piece's bytes (SentencePiece's "▁" already
 * written as a space; byte-fallback pieces spelled {@code <0xXX>}).
 *
 * <p>Encoding follows llama2.c's {@code run.c}: optional BOS, a dummy-prefix space before non-empty text,
 * one token per UTF-8 character (its byte-fallback tokens, id = byte + 3, when the character is not in the
 * vocabulary), then repeatedly merge the adjacent pair whose concatenation is in the vocabulary with the
 * highest score (the leftmost on ties). Decoding skips BOS, EOS and unknown (ids 0..2), turns
 * {@code <0xXX>} pieces into raw bytes, drops the leading space of the first piece (the dummy prefix, as
 * Hugging Face's Llama tokenizer and run.c after BOS do) and reads the bytes as UTF-8.
 */
public final class Llama2cTokenizer implements Tokenizer {
    private static final int UNK = 0;
    private static final int BOS = 1;
    private static final int EOS = 2;
    /** Pieces longer than this are not a plausible tokenizer file. */
    private static final int MAX_PIECE_BYTES = 1 << 16;

    private final Path source;
    private final byte[][] pieces;
    private final float[] scores;
    private final Map<String, Integer> ids;
    private final int[] byteValue; // -1, or the byte a <0xXX> piece stands for

    private Llama2cTokenizer(Path source, byte[][] pieces, float[] scores) {
        this.source = source;
        this.pieces = pieces;
        this.scores = scores;
        this.ids = new HashMap<>();
        this.byteValue = new int[pieces.length];
        for (int i = 0; i < pieces.length; i++) {
            // keys are the bytes read as ISO-8859-1: a lossless byte-string key
            ids.putIfAbsent(new String(pieces[i], StandardCharsets.ISO_8859_1), i);
            byteValue[i] = parseBytePiece(pieces[i]);
        }
    }

    public static Llama2cTokenizer load(Path tokBin) {
        byte[] all;
        try {
            all = Files.readAllBytes(tokBin);
        } catch (IOException e) {
            throw new ZotuneException(tokBin + ": cannot read tokenizer: " + e.getMessage(), e);
        }
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 4) {
            throw new ZotuneException(tokBin + ": truncated llama2.c tokenizer header (" + all.length
                    + " bytes, need 4)");
        }
        int maxLen = b.getInt();
        if (maxLen <= 0 || maxLen > MAX_PIECE_BYTES) {
            throw new ZotuneException(tokBin + ": header field max_token_length = " + maxLen
                    + " is not in 1.." + MAX_PIECE_BYTES);
        }
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (b.hasRemaining()) {
            int id = pieces.size();
            if (b.remaining() < 8) {
                throw new ZotuneException(tokBin + ": token " + id + " is truncated (score and length need 8 bytes, "
                        + b.remaining() + " left)");
            }
            float score = b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > maxLen) {
                throw new ZotuneException(tokBin + ": token " + id + " has length " + len
                        + " (max_token_length is " + maxLen + ")");
            }
            if (b.remaining() < len) {
                throw new ZotuneException(tokBin + ": token " + id + " is truncated (" + len + " bytes, "
                        + b.remaining() + " left)");
            }
            if (Float.isNaN(score)) {
                throw new ZotuneException(tokBin + ": token " + id + " has a NaN score");
            }
            byte[] piece = new byte[len];
            b.get(piece);
            pieces.add(piece);
            scores.add(score);
        }
        if (pieces.size() <= EOS) {
            throw new ZotuneException(tokBin + ": the vocabulary has " + pieces.size()
                    + " tokens; llama2.c needs at least <unk>, <s>, </s>");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new Llama2cTokenizer(tokBin, pieces.toArray(new byte[0][]), s);
    }

    private static int parseBytePiece(byte[] p) {
        if (p.length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') {
            return -1;
        }
        int hi = Character.digit(p[3], 16);
        int lo = Character.digit(p[4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    @Override
    public int[] encode(String text) {
        return encode(text, true);
    }

    @Override
    public int[] encodeNoSpecial(String text) {
        return encode(text, false);
    }

    private int lookup(byte[] bytes, int from, int to) {
        Integer id = ids.get(new String(bytes, from, to - from, StandardCharsets.ISO_8859_1));
        return id == null ? -1 : id;
    }

    private int[] encode(String text, boolean bos) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        List<Integer> tokens = new ArrayList<>();
        if (bos) {
            tokens.add(BOS);
        }
        List<Integer> body = new ArrayList<>();
        if (utf8.length > 0) {
            addPiece(body, new byte[] {' '}, 0, 1); // SentencePiece's dummy prefix
        }
        int i = 0;
        while (i < utf8.length) {
            int end = i + 1;
            // a UTF-8 character: the lead byte and its continuation bytes, at most 4 bytes as run.c takes
            while (end < utf8.length && (utf8[end] & 0xC0) == 0x80 && end - i < 4) {
                end++;
            }
            addPiece(body, utf8, i, end);
            i = end;
        }
        mergePairs(body);
        tokens.addAll(body);
        int[] out = new int[tokens.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = tokens.get(k);
        }
        return out;
    }

    /** The piece's id, or its bytes as byte-fallback tokens (id = byte + 3) when it is not in the vocabulary. */
    private void addPiece(List<Integer> out, byte[] bytes, int from, int to) {
        int id = lookup(bytes, from, to);
        if (id >= 0) {
            out.add(id);
            return;
        }
        for (int k = from; k < to; k++) {
            int fallback = (bytes[k] & 0xff) + 3;
            checkId(fallback);
            out.add(fallback);
        }
    }

    /**
     * run.c's merge loop (the best-scoring adjacent pair, the leftmost on ties, until none is in the vocabulary) in
     * O(n log n) instead of run.c's O(n²) rescans, which took 6.6 s for 20,000 characters: the tokens form a linked
     * list that keeps their original order, every adjacent pair in the vocabulary waits in a heap ordered by score,
     * then by the original index of its left token (= leftmost), and a pair whose tokens changed since it was
     * queued is dropped when it comes up. The merges happen in run.c's order, so the result is the same.
     */
    private void mergePairs(List<Integer> tokens) {
        int n = tokens.size();
        if (n < 2) {
            return;
        }
        int[] id = new int[n];
        int[] next = new int[n];
        int[] prev = new int[n];
        int[] version = new int[n];
        boolean[] alive = new boolean[n];
        for (int k = 0; k < n; k++) {
            id[k] = tokens.get(k);
            next[k] = k + 1 < n ? k + 1 : -1;
            prev[k] = k - 1;
            alive[k] = true;
        }
        // a queued pair: {left, right, merged id, left's version, right's version}
        PriorityQueue<int[]> heap = new PriorityQueue<>((x, y) -> {
            int c = Float.compare(scores[y[2]], scores[x[2]]);
            return c != 0 ? c : Integer.compare(x[0], y[0]);
        });
        for (int k = 0; k + 1 < n; k++) {
            queuePair(heap, id, version, k, k + 1);
        }
        while (!heap.isEmpty()) {
            int[] c = heap.poll();
            int l = c[0];
            int r = c[1];
            if (!alive[l] || !alive[r] || next[l] != r || version[l] != c[3] || version[r] != c[4]) {
                continue; // stale: one of its tokens was merged since
            }
            id[l] = c[2];
            version[l]++;
            alive[r] = false;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            if (prev[l] >= 0) {
                queuePair(heap, id, version, prev[l], l);
            }
            if (next[l] >= 0) {
                queuePair(heap, id, version, l, next[l]);
            }
        }
        tokens.clear();
        for (int k = 0; k >= 0; k = next[k]) {
            tokens.add(id[k]);
        }
    }

    private void queuePair(PriorityQueue<int[]> heap, int[] id, int[] version, int l, int r) {
        byte[] a = pieces[id[l]];
        byte[] b = pieces[id[r]];
        byte[] ab = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, ab, a.length, b.length);
        int merged = lookup(ab, 0, ab.length);
        if (merged >= 0) {
            heap.add(new int[] {l, r, merged, version[l], version[r]});
        }
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean first = true;
        for (int id : ids) {
            checkId(id);
            if (id == UNK || id == BOS || id == EOS) {
                continue;
            }
            if (byteValue[id] >= 0) {
                out.write(byteValue[id]);
            } else {
                byte[] p = pieces[id];
                int skip = first && p.length > 0 && p[0] == ' ' ? 1 : 0;
                out.write(p, skip, p.length - skip);
            }
            first = false;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The raw piece of one token, as stored (for debugging and streaming output). */
    public String piece(int id) {
        checkId(id);
        return new String(pieces[id], StandardCharsets.UTF_8);
    }

    public float score(int id) {
        checkId(id);
        return scores[id];
    }

    private void checkId(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new ZotuneException(source + ": token id " + id + " is out of range (vocabulary size "
                    + pieces.length + ")");
        }
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int bosId() {
        return BOS;
    }

    @Override
    public int eosId() {
        return EOS;
    }
}
