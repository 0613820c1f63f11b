package org.zotune.data.batch;

/**
 * Which padded length a batch gets (key pad_multiple): its longest row rounded up to a multiple of
 * {@code multiple}, never beyond {@code limit} (max_length, and the model's positions) unless a row itself is
 * longer. A run then sees few distinct batch shapes, so the CUDA engine's captured step (one graph per shape)
 * replays instead of capturing anew; the extra columns are padding (mask 0, no label), which no loss scores and no
 * attention reads as a key. {@link #NONE} pads to the longest row.
 *
 * @param multiple the bucket width (1: no buckets)
 * @param limit    the longest padded length a bucket may reach
 */
public record LengthBuckets(int multiple, int limit) {
    /** Pads each batch to its longest row. */
    public static final LengthBuckets NONE = new LengthBuckets(1, Integer.MAX_VALUE);

    public LengthBuckets {
        if (multiple < 1 || limit < 1) {
            throw new IllegalArgumentException("length buckets: multiple " + multiple + ", limit " + limit);
        }
    }

    /**
     * The bucket width key pad_multiple's auto takes on the CUDA engine: a multiple of 16 with at most 8 buckets up
     * to max_length (16 for max_length ≤ 128, 32 up to 256, ...), so every length fits the step's 8 graphs.
     */
    public static int autoMultiple(int maxLength) {
        int eighth = (maxLength + 7) / 8;
        return Math.max(16, (eighth + 15) / 16 * 16);
    }

    /** The padded length of a batch whose longest row has {@code longest} tokens. */
    public int length(int longest) {
        if (multiple == 1 || longest >= limit) {
            return longest;
        }
        long up = ((long) longest + multiple - 1) / multiple * multiple;
        return (int) Math.min(up, limit);
    }

    /** {@code batch} right-padded with {@code padId} to its bucket (the same batch when it is there already). */
    public PromptBatch pad(PromptBatch batch, int padId) {
        int seq = batch.batch().seq();
        int longest = longestRow(batch.batch().mask(), batch.rows(), seq);
        int target = Math.max(seq, length(longest));
        return target == seq ? batch : batch.padTo(target, padId);
    }

    /** The index past the last real token of the longest row (mask 1 anywhere in it), at least 1. */
    static int longestRow(int[] mask, int rows, int seq) {
        int len = 1;
        for (int r = 0; r < rows; r++) {
            for (int t = seq - 1; t >= len; t--) {
                if (mask[r * seq + t] != 0) {
                    len = t + 1;
                    break;
                }
            }
        }
        return len;
    }
}
