package org.zotune.data.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.zotune.model.Batch;
import org.zotune.parallel.Shards;

/** Length buckets: the padded lengths, and a padded batch against the same batch padded to its longest row. */
class LengthBucketsTest {

    private static EncodedExample example(int x, int... lengths) {
        int[][] rows = new int[lengths.length][];
        int[] starts = new int[lengths.length];
        for (int c = 0; c < lengths.length; c++) {
            rows[c] = new int[lengths[c]];
            for (int t = 0; t < lengths[c]; t++) {
                rows[c][t] = 100 + 10 * x + t; // distinct ids, none equal to the pad id
            }
            starts[c] = lengths[c] / 2;
        }
        return new EncodedExample("e" + x, rows, starts, lengths.length - 1);
    }

    @Test
    void lengthsRoundUpToTheMultipleAndStopAtTheLimit() {
        LengthBuckets b = new LengthBuckets(16, 40);
        int[][] cases = {{1, 16}, {15, 16}, {16, 16}, {17, 32}, {32, 32}, {33, 40}, {40, 40}, {41, 41}, {100, 100}};
        for (int[] c : cases) {
            assertEquals(c[1], b.length(c[0]), "longest row " + c[0]);
        }
        for (int n = 1; n < 300; n++) {
            assertEquals(n, LengthBuckets.NONE.length(n), "no buckets: the longest row");
        }
        assertEquals(16, LengthBuckets.autoMultiple(32));
        assertEquals(16, LengthBuckets.autoMultiple(128));
        assertEquals(32, LengthBuckets.autoMultiple(129));
        assertEquals(32, LengthBuckets.autoMultiple(256));
        assertEquals(64, LengthBuckets.autoMultiple(512));
        for (int max = 2; max <= 4096; max++) { // auto: at most 8 lengths up to max_length, whatever the rows
            LengthBuckets auto = new LengthBuckets(LengthBuckets.autoMultiple(max), max);
            Set<Integer> seen = new TreeSet<>();
            for (int n = 1; n <= max; n++) {
                int l = auto.length(n);
                if (l < n || l > max) {
                    throw new AssertionError("max_length " + max + ": row of " + n + " padded to " + l);
                }
                seen.add(l);
            }
            if (seen.size() > 8) {
                throw new AssertionError("max_length " + max + ": " + seen.size() + " lengths " + seen);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new LengthBuckets(0, 10));
    }

    @Test
    void aPaddedBatchIsTheLongestRowBatchWithMaskedUnlabelledColumns() {
        List<EncodedExample> ex = List.of(example(0, 5, 7), example(1, 3, 9), example(2, 4, 2));
        PromptBatch plain = PromptBatch.of(ex, 0);
        assertEquals(9, plain.batch().seq());
        PromptBatch padded = new LengthBuckets(8, 64).pad(plain, 0);
        Batch p = padded.batch();
        Batch q = plain.batch();
        assertEquals(16, p.seq());
        assertEquals(q.batch(), p.batch());
        for (int r = 0; r < q.batch(); r++) {
            for (int t = 0; t < p.seq(); t++) {
                int i = r * p.seq() + t;
                if (t < q.seq()) {
                    int j = r * q.seq() + t;
                    assertEquals(q.ids()[j], p.ids()[i], "row " + r + " position " + t);
                    assertEquals(q.mask()[j], p.mask()[i], "row " + r + " position " + t);
                    assertEquals(plain.labels()[j], padded.labels()[i], "row " + r + " position " + t);
                } else {
                    assertEquals(0, p.ids()[i]);
                    assertEquals(0, p.mask()[i], "padding is masked");
                    assertEquals(-1, padded.labels()[i], "padding is no label");
                }
            }
        }
        assertArrayEquals(plain.exampleOfRow(), padded.exampleOfRow());
        assertArrayEquals(plain.firstRow(), padded.firstRow());
        assertArrayEquals(plain.candidates(), padded.candidates());
        assertArrayEquals(plain.gold(), padded.gold());
        // the gold rows' labels (the LM loss's) padded the same way
        int[] g = padded.goldLabels();
        int[] h = plain.goldLabels();
        for (int r = 0; r < q.batch(); r++) {
            for (int t = 0; t < q.seq(); t++) {
                assertEquals(h[r * q.seq() + t], g[r * p.seq() + t]);
            }
        }
        assertSame(padded, new LengthBuckets(8, 64).pad(padded, 0), "a batch in its bucket stays as it is");
        assertSame(plain, LengthBuckets.NONE.pad(plain, 0));
        assertEquals(12, new LengthBuckets(8, 12).pad(plain, 0).batch().seq(), "never beyond the limit");
        assertEquals(9, new LengthBuckets(8, 6).pad(plain, 0).batch().seq(), "never shorter than a row");
    }

    @Test
    void shardsKeepTheirOwnRowsBucket() {
        List<EncodedExample> ex = new ArrayList<>();
        ex.add(example(0, 3, 4));
        ex.add(example(1, 5, 2));
        ex.add(example(2, 30, 6));
        ex.add(example(3, 7, 7));
        LengthBuckets b = new LengthBuckets(16, 64);
        PromptBatch batch = b.pad(PromptBatch.of(ex, 0), 0);
        assertEquals(32, batch.batch().seq());
        PromptBatch first = Shards.shard(batch, 0, 2, b); // examples 0, 1: longest row 5
        PromptBatch second = Shards.shard(batch, 1, 2, b); // examples 2, 3: longest row 30
        assertEquals(16, first.batch().seq());
        assertEquals(32, second.batch().seq());
        assertEquals(5, Shards.shard(batch, 0, 2).batch().seq(), "without buckets: the shard's longest row");
        // the bucketed shard is the plain shard padded to its bucket
        PromptBatch plainFirst = Shards.shard(PromptBatch.of(ex, 0), 0, 2);
        PromptBatch again = b.pad(plainFirst, 0);
        assertArrayEquals(again.batch().ids(), first.batch().ids());
        assertArrayEquals(again.batch().mask(), first.batch().mask());
        assertArrayEquals(again.labels(), first.labels());
    }
}
