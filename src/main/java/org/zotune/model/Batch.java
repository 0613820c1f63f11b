package org.zotune.model;

import java.util.Arrays;

/**
 * A padded batch of token sequences: {@code ids} and {@code mask} are [batch, seq] row-major;
 * {@code mask} is 1 for real tokens and 0 for padding (either side).
 */
public record Batch(int batch, int seq, int[] ids, int[] mask) {

    public Batch {
        if (batch <= 0 || seq <= 0) {
            throw new IllegalArgumentException("empty batch " + batch + "x" + seq);
        }
        if (ids.length != batch * seq || mask.length != batch * seq) {
            throw new IllegalArgumentException("batch " + batch + "x" + seq + " needs " + batch * seq
                    + " ids and mask values, got " + ids.length + " and " + mask.length);
        }
    }

    /** One unpadded sequence. */
    public static Batch of(int... ids) {
        int[] mask = new int[ids.length];
        Arrays.fill(mask, 1);
        return new Batch(1, ids.length, ids.clone(), mask);
    }

    /** Right-pads sequences to the longest with {@code padId}. */
    public static Batch rightPadded(int[][] sequences, int padId) {
        int seq = 0;
        for (int[] s : sequences) {
            seq = Math.max(seq, s.length);
        }
        int b = sequences.length;
        int[] ids = new int[b * seq];
        int[] mask = new int[b * seq];
        Arrays.fill(ids, padId);
        for (int i = 0; i < b; i++) {
            System.arraycopy(sequences[i], 0, ids, i * seq, sequences[i].length);
            Arrays.fill(mask, i * seq, i * seq + sequences[i].length, 1);
        }
        return new Batch(b, seq, ids, mask);
    }

    public int tokens() {
        return batch * seq;
    }

    /** Positions 0..seq-1 in every row (GPT-2 and Llama without explicit position ids). */
    public int[] arangePositions() {
        int[] pos = new int[ids.length];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = i % seq;
        }
        return pos;
    }

    /** Positions counted over real tokens only (OPT: cumsum(mask)·mask − 1; padding gets -1 → 0 after offset). */
    public int[] maskedCumsumPositions() {
        int[] pos = new int[ids.length];
        for (int b = 0; b < batch; b++) {
            int c = 0;
            for (int t = 0; t < seq; t++) {
                int i = b * seq + t;
                c += mask[i];
                pos[i] = mask[i] != 0 ? c - 1 : -1;
            }
        }
        return pos;
    }
}
