package org.zotune.data.batch;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.Batch;

/**
 * A forward-pass batch of encoded examples: every candidate row of every example, right-padded, plus per-token
 * labels that say which tokens are the answers to score. Labels are positions in the rows, not targets of a model's
 * logits: which logits score a label is the objective's decision (a causal LM's logits at t - 1, see
 * {@code org.zotune.train.objective.NextTokenTargets}; a masked LM's at t itself).
 *
 * @param batch         the padded token rows (mask 1 on real tokens)
 * @param labels        [batch·seq]: at position t of row r, the token there when it is an answer token (the
 *                      completion, the candidate's answer; every token of a language-model chunk), else -1 (prompt,
 *                      padding), unshifted like Hugging Face's {@code labels}
 * @param exampleOfRow  the example each row belongs to
 * @param firstRow      per example, its first row (its candidates are rows firstRow .. firstRow + candidates - 1)
 * @param candidates    per example, its number of candidates (rows)
 * @param gold          per example, the right candidate's index, -1 if unknown
 */
public record PromptBatch(Batch batch, int[] labels, int[] exampleOfRow, int[] firstRow, int[] candidates,
        int[] gold) {

    public static PromptBatch of(List<EncodedExample> examples, int padId) {
        if (examples.isEmpty()) {
            throw new ZotuneException("an empty batch (no examples)");
        }
        int rowsTotal = 0;
        for (EncodedExample e : examples) {
            rowsTotal += e.candidates();
        }
        int[][] rows = new int[rowsTotal][];
        int[] starts = new int[rowsTotal];
        int[] exampleOfRow = new int[rowsTotal];
        int[] firstRow = new int[examples.size()];
        int[] candidates = new int[examples.size()];
        int[] gold = new int[examples.size()];
        int r = 0;
        for (int x = 0; x < examples.size(); x++) {
            EncodedExample e = examples.get(x);
            firstRow[x] = r;
            candidates[x] = e.candidates();
            gold[x] = e.gold();
            for (int c = 0; c < e.candidates(); c++) {
                rows[r] = e.rows()[c];
                starts[r] = e.answerStart()[c];
                exampleOfRow[r] = x;
                r++;
            }
        }
        Batch batch = Batch.rightPadded(rows, padId);
        int seq = batch.seq();
        int[] labels = new int[batch.tokens()];
        java.util.Arrays.fill(labels, -1);
        for (int i = 0; i < rowsTotal; i++) {
            for (int t = starts[i]; t < rows[i].length; t++) {
                labels[i * seq + t] = rows[i][t];
            }
        }
        return new PromptBatch(batch, labels, exampleOfRow, firstRow, candidates, gold);
    }

    /** Fixed-length language-model chunks (e.g. from a text corpus): every token is a label. */
    public static PromptBatch ofChunks(List<int[]> chunks, int padId) {
        List<EncodedExample> ex = new java.util.ArrayList<>(chunks.size());
        for (int[] c : chunks) {
            ex.add(new EncodedExample("chunk", new int[][] {c}, new int[] {0}, 0));
        }
        return of(ex, padId);
    }

    /**
     * This batch right-padded with {@code padId} to {@code seq} columns ({@link LengthBuckets}): the new positions
     * have mask 0 and label -1, so every real token, label and loss stays where it was.
     */
    public PromptBatch padTo(int seq, int padId) {
        int from = batch.seq();
        if (seq < from) {
            throw new IllegalArgumentException("padding a batch of " + from + " columns to " + seq);
        }
        if (seq == from) {
            return this;
        }
        int rows = batch.batch();
        int[] ids = new int[rows * seq];
        int[] mask = new int[rows * seq];
        int[] lab = new int[rows * seq];
        java.util.Arrays.fill(ids, padId);
        java.util.Arrays.fill(lab, -1);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(batch.ids(), r * from, ids, r * seq, from);
            System.arraycopy(batch.mask(), r * from, mask, r * seq, from);
            System.arraycopy(labels, r * from, lab, r * seq, from);
        }
        return new PromptBatch(new Batch(rows, seq, ids, mask), lab, exampleOfRow, firstRow, candidates, gold);
    }

    public int examples() {
        return firstRow.length;
    }

    public int rows() {
        return batch.batch();
    }

    /** The labels with every row but each example's gold row masked out (-1): what the LM loss scores. */
    public int[] goldLabels() {
        int seq = batch.seq();
        int[] out = labels.clone();
        for (int r = 0; r < rows(); r++) {
            int x = exampleOfRow[r];
            if (gold[x] < 0) {
                throw new ZotuneException("example " + x + " of the batch has no gold answer");
            }
            if (r - firstRow[x] != gold[x]) {
                java.util.Arrays.fill(out, r * seq, (r + 1) * seq, -1);
            }
        }
        return out;
    }
}
