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
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Generation's key/value cache for one sequence: each attention layer's keys (rotated, as attention sees them) and
 * values of the tokens so far, so that a new token costs one position. It reaches the model through the weight source
 * ({@link #over}): the cached rows are the attention's {@link KvPrefix} (seen by every new query, unmasked, not
 * rotated again; the new tokens' own keys follow them causally, so the sums run in the order a full pass takes), and
 * {@link WeightSource#keysValues} writes the new tokens' rows after each attention ({@link Ops#storeKeysValues}). A
 * source that already has a prefix (a prefix adapter) has it copied in front of the tokens once. Call
 * {@link CausalLM#forward(Ops, WeightSource, Batch, int)} with start = {@link #length()}, then {@link #advance}.
 * Owns one buffer per attention layer, allocated at its first use.
 */
public final class KvCache implements AutoCloseable {
    private final Ops ops;
    private final int capacity;
    private final Map<Integer, Layer> layers = new HashMap<>();
    private int length;

    /** One attention's rows: [prefix | tokens], capacity rows of Hkv·D. */
    private record Layer(Parameters buffer, Tensor keys, Tensor values, int prefixRows) {
    }

    /** A cache for up to {@code capacity} tokens (prompt and new tokens) on {@code ops}. */
    public KvCache(Ops ops, int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("a key/value cache needs a capacity > 0, got " + capacity);
        }
        this.ops = ops;
        this.capacity = capacity;
    }

    /** Tokens cached so far. */
    public int length() {
        return length;
    }

    /** Counts {@code tokens} more tokens as cached, once a forward over them has stored their rows. */
    public void advance(int tokens) {
        if (tokens < 0 || length + tokens > capacity) {
            throw new IllegalArgumentException("key/value cache of " + capacity + " tokens cannot hold " + length
                    + " + " + tokens);
        }
        length += tokens;
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
                int rows = l.prefixRows + length;
                return rows == 0 ? null
                        : new KvPrefix(ops.rows(l.keys, 0, rows), ops.rows(l.values, 0, rows));
            }

            @Override
            public void keysValues(Ops o, int attention, Tensor k, int kCol, Tensor v, int vCol, Tensor bias,
                                   IntTensor positions, AttentionSpec spec) {
                if (spec.batch() != 1) {
                    throw new IllegalArgumentException("a key/value cache holds one sequence, got a batch of "
                            + spec.batch());
                }
                if (length + spec.seq() > capacity) {
                    throw new IllegalArgumentException("key/value cache of " + capacity + " tokens cannot hold "
                            + length + " + " + spec.seq());
                }
                Layer l = layers.computeIfAbsent(attention, a -> allocate(base.kvPrefix(a), spec));
                o.storeKeysValues(k, kCol, v, vCol, bias, positions, spec, l.keys, l.values,
                        l.prefixRows + length);
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
        if (prefix != null && prefix.keys().cols() != width) {
            throw new IllegalArgumentException("prefix [" + p + ", " + prefix.keys().cols() + "] does not match "
                    + width + " key/value columns");
        }
        int rows = p + capacity;
        float[] zeros = new float[Math.multiplyExact(rows, width)];
        DType dtype = ops.computeType();
        Parameters buffer = ops.createParameters(List.of(HostTensor.ofFloats("keys", zeros, rows, width),
                HostTensor.ofFloats("values", zeros, rows, width)), dtype);
        try {
            List<Tensor> views = buffer.views();
            Tensor keys = views.get(0);
            Tensor values = views.get(1);
            if (p > 0) {
                ops.copy(ops.rows(keys, 0, p), prefix.keys());
                ops.copy(ops.rows(values, 0, p), prefix.values());
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
