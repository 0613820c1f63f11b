package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;

/** Shards by examples: in rank order they are the batch, candidates stay together, padding is trimmed. */
class ShardsTest {

    private static PromptBatch batch(int examples) {
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < examples; x++) {
            int cands = 1 + x % 3; // 1, 2, 3 candidates
            int[][] rows = new int[cands][];
            int[] starts = new int[cands];
            for (int c = 0; c < cands; c++) {
                int len = 2 + (x * 7 + c * 3) % 6;
                rows[c] = new int[len];
                for (int t = 0; t < len; t++) {
                    rows[c][t] = 10 + x * 100 + c * 10 + t;
                }
                starts[c] = len / 2;
            }
            ex.add(new EncodedExample("x" + x, rows, starts, cands - 1));
        }
        return PromptBatch.of(ex, 0);
    }

    @Test
    void shardSizesDifferByAtMostOneAndCoverTheExamples() {
        assertEquals(0, Shards.start(10, 3, 0));
        assertEquals(4, Shards.start(10, 3, 1));
        assertEquals(7, Shards.start(10, 3, 2));
        assertEquals(10, Shards.start(10, 3, 3));
    }

    @Test
    void theShardsInRankOrderAreTheBatch() {
        PromptBatch b = batch(7);
        for (int n = 1; n <= 7; n++) {
            int row = 0;
            int example = 0;
            for (int k = 0; k < n; k++) {
                PromptBatch s = Shards.shard(b, k, n);
                for (int x = 0; x < s.examples(); x++, example++) {
                    assertEquals(b.candidates()[example], s.candidates()[x]);
                    assertEquals(b.gold()[example], s.gold()[x]);
                }
                int seq = s.batch().seq();
                int longest = 0;
                for (int r = 0; r < s.rows(); r++, row++) {
                    int bseq = b.batch().seq();
                    int len = 0;
                    for (int t = 0; t < bseq; t++) {
                        len += b.batch().mask()[row * bseq + t];
                    }
                    longest = Math.max(longest, len);
                    for (int t = 0; t < bseq; t++) {
                        int id = t < seq ? s.batch().ids()[r * seq + t] : 0;
                        int m = t < seq ? s.batch().mask()[r * seq + t] : 0;
                        int l = t < seq ? s.labels()[r * seq + t] : -1;
                        assertEquals(b.batch().mask()[row * bseq + t], m, "mask row " + row + " t " + t);
                        if (m == 1) {
                            assertEquals(b.batch().ids()[row * bseq + t], id);
                        }
                        assertEquals(b.labels()[row * bseq + t], l);
                    }
                    assertEquals(s.firstRow()[s.exampleOfRow()[r]] + (row - b.firstRow()[b.exampleOfRow()[row]]), r);
                }
                assertEquals(longest, seq, "a shard keeps only its own longest row's columns");
            }
            assertEquals(b.examples(), example);
            assertEquals(b.rows(), row);
        }
        assertArrayEquals(b.batch().ids(), Shards.shard(b, 0, 1).batch().ids());
    }

    @Test
    void fewerExamplesThanWorkersIsOneLine() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> Shards.shard(batch(2), 0, 3));
        assertEquals("a micro-batch of 2 examples cannot be split over 3 workers (each needs at least one): raise "
                + "batch_size or lower workers", e.getMessage());
    }
}
