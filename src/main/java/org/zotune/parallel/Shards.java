package org.zotune.parallel;

import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;

/**
 * Splits a batch over data-parallel workers by examples (an example's candidate rows stay together): worker k of n
 * gets a contiguous run of examples, the first {@code examples % n} workers one more than the rest, so the shards
 * in rank order are the batch. Each shard keeps only the columns its own rows use (right padding beyond its longest
 * row, or beyond its rows' length bucket, is dropped; right padding changes no real token's result).
 */
public final class Shards {
    private Shards() {
    }

    /** The first example of shard {@code rank} of {@code workers} over {@code examples}; rank = workers gives the end. */
    public static int start(int examples, int workers, int rank) {
        int base = examples / workers;
        int extra = examples % workers;
        return rank * base + Math.min(rank, extra);
    }

    /** Shard {@code rank} of {@code workers} of {@code batch}; fails in one line when a worker would get no example. */
    public static PromptBatch shard(PromptBatch batch, int rank, int workers) {
        return shard(batch, rank, workers, LengthBuckets.NONE);
    }

    /**
     * As {@link #shard(PromptBatch, int, int)}, the shard keeping the columns up to its own rows' bucket
     * ({@code buckets}; never more than the batch has), so that its shape repeats as the whole batch's does.
     */
    public static PromptBatch shard(PromptBatch batch, int rank, int workers, LengthBuckets buckets) {
        int examples = batch.examples();
        if (examples < workers) {
            throw new ZotuneException("a micro-batch of " + examples + " examples cannot be split over " + workers
                    + " workers (each needs at least one): raise batch_size or lower workers");
        }
        if (workers == 1) {
            return batch;
        }
        int x0 = start(examples, workers, rank);
        int x1 = start(examples, workers, rank + 1);
        int r0 = batch.firstRow()[x0];
        int r1 = x1 == examples ? batch.rows() : batch.firstRow()[x1];
        Batch b = batch.batch();
        int seq = b.seq();
        int len = 1;
        for (int r = r0; r < r1; r++) {
            for (int t = seq - 1; t >= len; t--) {
                if (b.mask()[r * seq + t] != 0) {
                    len = t + 1;
                    break;
                }
            }
        }
        len = Math.min(seq, buckets.length(len));
        int rows = r1 - r0;
        int[] ids = new int[rows * len];
        int[] mask = new int[rows * len];
        int[] labels = new int[rows * len];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(b.ids(), (r0 + r) * seq, ids, r * len, len);
            System.arraycopy(b.mask(), (r0 + r) * seq, mask, r * len, len);
            System.arraycopy(batch.labels(), (r0 + r) * seq, labels, r * len, len);
        }
        int[] exampleOfRow = new int[rows];
        for (int r = 0; r < rows; r++) {
            exampleOfRow[r] = batch.exampleOfRow()[r0 + r] - x0;
        }
        int[] firstRow = Arrays.copyOfRange(batch.firstRow(), x0, x1);
        for (int i = 0; i < firstRow.length; i++) {
            firstRow[i] -= r0;
        }
        return new PromptBatch(new Batch(rows, len, ids, mask), labels, exampleOfRow, firstRow,
                Arrays.copyOfRange(batch.candidates(), x0, x1), Arrays.copyOfRange(batch.gold(), x0, x1));
    }
}
