package org.zotune.model;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * Generation's key/value cache for a batch of sequences: each attention layer's keys (rotated, as attention sees
 * them) and values of the tokens so far, so that a new token costs one position. Sequence b owns a block of
 * p + capacity rows (p: the rows of a prefix adapter the weight source already has, copied in front of every block
 * once); its token at position i sits at row p + i of its block. The cache reaches the model through the weight source
 * ({@link #over}): the blocks are the attention's per-sequence {@link KvPrefix} (sequence b's queries see the first
 * p + start_b rows of its block, unmasked, not rotated again; the new tokens' own keys follow them causally, so the
 * sums run in the order a full pass takes), and {@link WeightSource#keysValues} writes the new tokens' rows after each
 * attention ({@link Ops#storeKeysValues(Tensor, int, Tensor, int, Tensor, IntTensor, AttentionSpec, Tensor, Tensor,
 * int, int)}, the rows following from the positions). Call {@link CausalLM#forward(Ops, WeightSource, Batch, int[])}
 * with starts = {@link #lengths()} (each sequence's first token real: right padding), then {@link #advance(int[])} by
 * each sequence's real tokens. A sequence that is done is {@link #retire retired}: it may then be fed anything at
 * start 0 (a batch keeps its shape) and its rows are no longer kept.
 *
 * <p>With {@code fullCapacity}, every prefix shows the whole block (p + capacity rows, visibility decided from the
 * positions), so that a forward's shapes do not change from token to token: what a captured graph needs. Otherwise
 * it shows p + the longest cached length, the cheaper eager form; the results are the same.
 * Owns one buffer per attention layer, allocated at its first use.
 */
public final class KvCache implements AutoCloseable {
    private final Ops ops;
    private final int sequences;
    private final int capacity;
    private final boolean fullCapacity;
    private final Map<Integer, Layer> layers = new HashMap<>();
    private final int[] lengths;
    private final boolean[] retired;

    /** One attention's rows: per sequence [prefix | tokens], p + capacity rows of Hkv·D. */
    private record Layer(Parameters buffer, Tensor keys, Tensor values, int prefixRows) {
    }

    /** A cache for one sequence of up to {@code capacity} tokens (prompt and new tokens) on {@code ops}. */
    public KvCache(Ops ops, int capacity) {
        this(ops, 1, capacity, false);
    }

    /** A cache for {@code sequences} sequences of up to {@code capacity} tokens each. */
    public KvCache(Ops ops, int sequences, int capacity, boolean fullCapacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("a key/value cache needs a capacity > 0, got " + capacity);
        }
        if (sequences <= 0) {
            throw new IllegalArgumentException("a key/value cache needs at least one sequence, got " + sequences);
        }
        this.ops = ops;
        this.sequences = sequences;
        this.capacity = capacity;
        this.fullCapacity = fullCapacity;
        this.lengths = new int[sequences];
        this.retired = new boolean[sequences];
    }

    /** Tokens cached so far (one sequence). */
    public int length() {
        requireOne();
        return lengths[0];
    }

    /** Tokens cached so far, per sequence: the starts of the next forward. */
    public int[] lengths() {
        return lengths.clone();
    }

    /** Whether every prefix shows its whole block (fixed shapes from step to step, as a captured graph needs). */
    public boolean fullCapacity() {
        return fullCapacity;
    }

    /** Sequences held. */
    public int sequences() {
        return sequences;
    }

    /** Counts {@code tokens} more tokens as cached (one sequence), once a forward over them has stored their rows. */
    public void advance(int tokens) {
        requireOne();
        advance(new int[] {tokens});
    }

    /** Counts {@code tokens[b]} more tokens of sequence b as cached (0 for a retired one). */
    public void advance(int[] tokens) {
        if (tokens.length != sequences) {
            throw new IllegalArgumentException(tokens.length + " counts for a key/value cache of " + sequences
                    + " sequences");
        }
        for (int b = 0; b < sequences; b++) {
            if (tokens[b] < 0 || lengths[b] + tokens[b] > capacity || retired[b] && tokens[b] != 0) {
                throw new IllegalArgumentException("key/value cache of " + capacity + " tokens cannot hold "
                        + lengths[b] + " + " + tokens[b] + (sequences > 1 ? " (sequence " + b + ")" : "")
                        + (retired[b] ? ": it is retired" : ""));
            }
        }
        for (int b = 0; b < sequences; b++) {
            lengths[b] += tokens[b];
        }
    }

    /** Sequence b is done: from now on it is fed at start 0 and nothing it stores is kept. */
    public void retire(int b) {
        retired[b] = true;
    }

    /** Whether sequence b is retired. */
    public boolean retired(int b) {
        return retired[b];
    }

    private void requireOne() {
        if (sequences != 1) {
            throw new IllegalStateException("a key/value cache of " + sequences + " sequences has a length each");
        }
    }

    /** {@code base}'s weights, with this cache's rows as every attention's prefix and its stores. */
    public WeightSource over(WeightSource base) {
        return new WeightSource() {
            @Override
            public Tensor weight(int index) {
                return base.weight(index);
            }

            @Override
            public KvPrefix kvPrefix(int attention) {
                Layer l = layers.get(attention);
                if (l == null) {
                    return base.kvPrefix(attention); // nothing cached yet: the source's own prefix, if any
                }
                int stride = l.prefixRows + capacity;
                int longest = 0;
                for (int b = 0; b < sequences; b++) {
                    longest = Math.max(longest, retired[b] ? 0 : lengths[b]);
                }
                int rows = fullCapacity ? stride : l.prefixRows + longest;
                return rows == 0 ? null : KvPrefix.perSequence(l.keys, l.values, stride, rows, l.prefixRows);
            }

            @Override
            public void keysValues(Ops o, int attention, Tensor k, int kCol, Tensor v, int vCol, Tensor bias,
                                   IntTensor positions, AttentionSpec spec) {
                if (spec.batch() != sequences) {
                    throw new IllegalArgumentException("a key/value cache of " + sequences
                            + " sequences got a batch of " + spec.batch());
                }
                for (int b = 0; b < sequences; b++) {
                    if (!retired[b] && lengths[b] + spec.seq() > capacity) {
                        throw new IllegalArgumentException("key/value cache of " + capacity + " tokens cannot hold "
                                + lengths[b] + " + " + spec.seq() + (sequences > 1 ? " (sequence " + b + ")" : ""));
                    }
                }
                Layer l = layers.computeIfAbsent(attention, a -> allocate(base.kvPrefix(a), spec));
                o.storeKeysValues(k, kCol, v, vCol, bias, positions, spec, l.keys, l.values,
                        l.prefixRows + capacity, l.prefixRows);
            }

            @Override
            public void addOutputDelta(Ops o, int weight, Tensor x, Tensor y) {
                base.addOutputDelta(o, weight, x, y);
            }

            @Override
            public void observeLayerInput(Ops o, int layer, Tensor x) {
                base.observeLayerInput(o, layer, x);
            }
        };
    }

    private Layer allocate(KvPrefix prefix, AttentionSpec spec) {
        int width = spec.numKvHeads() * spec.headDim();
        int p = prefix == null ? 0 : prefix.length();
        if (prefix != null && prefix.perSequence()) {
            throw new IllegalArgumentException("a key/value cache goes over a shared prefix only");
        }
        if (prefix != null && prefix.keys().cols() != width) {
            throw new IllegalArgumentException("prefix [" + p + ", " + prefix.keys().cols() + "] does not match "
                    + width + " key/value columns");
        }
        int stride = p + capacity;
        int rows = Math.multiplyExact(stride, sequences);
        // zeros, cleared on the device: rows not yet written are read (with weight 0) by a full-capacity prefix
        Parameters buffer = ops.createZeroParameters(new int[][] {{rows, width}, {rows, width}}, ops.computeType());
        try {
            List<Tensor> views = buffer.views();
            Tensor keys = views.get(0);
            Tensor values = views.get(1);
            for (int b = 0; p > 0 && b < sequences; b++) {
                ops.copy(ops.rows(keys, b * stride, b * stride + p), prefix.keys());
                ops.copy(ops.rows(values, b * stride, b * stride + p), prefix.values());
            }
            return new Layer(buffer, keys, values, p);
        } catch (RuntimeException e) {
            buffer.close();
            throw e;
        }
    }

    @Override
    public void close() {
        for (Layer l : layers.values()) {
            l.buffer.close();
        }
        layers.clear();
    }
}
