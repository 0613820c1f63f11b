package org.zotune.backend;

/**
 * Extra keys and values prepended to one attention layer's own (prefix tuning, ALGORITHMS.md §9; generation's
 * key/value cache). They are taken as they are: keys after rotary, as a key cache holds them, so RoPE is not applied
 * to them again. Two layouts:
 * <ul>
 * <li>shared ({@code stride} 0): p rows seen by every query of every sequence (causal or not), never masked;</li>
 * <li>per sequence ({@code stride} R &gt; 0, a batched key/value cache): sequence b's rows are b·R + [0, p) of
 * {@code keys} / {@code values} [B·R, Hkv·D], and its row j is visible to its queries iff
 * j &lt; {@code fixedRows} + positions[b·T] (the position of the call's first token of that sequence: the tokens it
 * has cached, plus the fixed rows of a prefix adapter in front of them). Rows past that are stale or unwritten: they
 * are never read into a result, so p may be R (a fixed shape, as a captured graph needs) or less.</li>
 * </ul>
 *
 * @param keys      [p, Hkv·D] shared, or [B·R, Hkv·D] per sequence; heads side by side as the key projection lays
 *                  them out
 * @param values    as keys
 * @param stride    0 (shared) or R, the rows each sequence owns
 * @param length    p, the prefix rows each query's score row holds (visible or not)
 * @param fixedRows per sequence: the rows before its cached tokens, always visible (0 when shared)
 */
public record KvPrefix(Tensor keys, Tensor values, int stride, int length, int fixedRows) {
    public KvPrefix {
        if (keys.rows() != values.rows() || keys.cols() != values.cols()) {
            throw new IllegalArgumentException("prefix keys [" + keys.rows() + ", " + keys.cols() + "] and values ["
                    + values.rows() + ", " + values.cols() + "] differ in shape");
        }
        if (stride == 0 ? length != keys.rows() || fixedRows != 0
                : stride < 0 || length < 0 || length > stride || fixedRows < 0 || fixedRows > stride
                || keys.rows() % stride != 0) {
            throw new IllegalArgumentException("prefix of " + keys.rows() + " rows: stride " + stride + ", length "
                    + length + ", fixed rows " + fixedRows + " do not fit");
        }
    }

    /** A shared prefix: every row seen by every query. */
    public KvPrefix(Tensor keys, Tensor values) {
        this(keys, values, 0, keys.rows(), 0);
    }

    /**
     * A per-sequence prefix: {@code sequences} blocks of {@code stride} rows, each query row reading the first
     * {@code length} of its sequence's block, those before {@code fixedRows} + its sequence's first position visible.
     */
    public static KvPrefix perSequence(Tensor keys, Tensor values, int stride, int length, int fixedRows) {
        if (stride <= 0) {
            throw new IllegalArgumentException("a per-sequence prefix needs a stride > 0, got " + stride);
        }
        return new KvPrefix(keys, values, stride, length, fixedRows);
    }

    /** Whether sequences own blocks of rows (a batched key/value cache) rather than share them. */
    public boolean perSequence() {
        return stride > 0;
    }

    /** The sequences a per-sequence prefix holds blocks for (1 when shared). */
    public int sequences() {
        return stride == 0 ? 1 : keys.rows() / stride;
    }
}
