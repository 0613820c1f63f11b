package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.zotune.ZotuneException;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.cuda.CudaOps;

/**
 * The captured ZO step: one CUDA graph per step shape, at most {@link #capacity()} of them (the least recently
 * replayed is dropped first), each with its persistent int inputs (what the model's forward creates with
 * {@code ops.ints}, re-derived per batch by {@link InputRecorder}, and the device losses' inputs, for every
 * micro-batch). A step replays the graph of its shape with its inputs written into that graph's bound tensors, or
 * captures one when none exists (the micro-batches' dimensions, the losses' launch constants, the inputs' lengths
 * differ from every graph held). The forward passes run on {@link #ops()}, which hands out the bound inputs while a
 * graph is being captured.
 *
 * <p>Memory: every graph's activations and inputs live in one activation region ({@link CudaOps.Region}) that this
 * object owns, each graph from the region's start: the graphs alias one another's memory. That is safe because the
 * graphs replay one at a time on the ops' one stream and nothing in the region outlives a replay (a replay writes
 * every activation before reading it; its inputs are written just before it, in stream order), and it keeps the
 * memory of several shapes at that of the largest, as one graph needed. Eager work between replays (evaluations,
 * the eager step) allocates from the ops' main arena, never from the region. Dropping a graph frees what is its
 * alone: the instantiated graph and the pinned host memory of its constants; the region is freed by
 * {@link #close()}.
 */
final class StepGraph implements AutoCloseable {
    /** {@code -Dzotune.train.graphs=N}: the captured step's graphs held at once (default 8). */
    static final String CAPACITY_PROPERTY = "zotune.train.graphs";

    /**
     * What tells graphs apart: the step shape (what the captured launches bake in besides the inputs' lengths), the
     * inputs' lengths, and in a data-parallel step a digest of every rank's shape (0 on one GPU), so that the ranks
     * hold, capture and drop their graphs together.
     */
    record Key(List<Integer> shape, List<Integer> lengths, long ranks) {
    }

    private record Captured(CudaOps.Graph graph, List<IntTensor> inputs) {
    }

    private final CudaOps ops;
    private final BoundInputOps boundOps;
    private int capacity;
    private CudaOps.Region region;
    private final LinkedHashMap<Key, Captured> graphs = new LinkedHashMap<>(16, 0.75f, true); // least recent first
    private long captures;
    private long replays;

    StepGraph(CudaOps ops) {
        this(ops, Integer.getInteger(CAPACITY_PROPERTY, 8));
    }

    StepGraph(CudaOps ops, int capacity) {
        this.ops = ops;
        this.boundOps = new BoundInputOps(ops);
        capacity(capacity);
    }

    /** The ops the step's forward passes run on. */
    BoundInputOps ops() {
        return boundOps;
    }

    /** The most graphs held at once. */
    int capacity() {
        return capacity;
    }

    /** Sets the most graphs held at once, dropping the least recently replayed beyond it. */
    void capacity(int n) {
        if (n < 1) {
            throw new ZotuneException("-D" + CAPACITY_PROPERTY + ": the captured step holds at least one graph, got "
                    + n);
        }
        capacity = n;
        evictTo(n);
    }

    /** The key of a step with this shape and these inputs ({@code ranks}: 0 on one GPU). */
    static Key key(List<Integer> stepShape, List<int[]> values, long ranks) {
        List<Integer> lengths = new ArrayList<>(values.size());
        for (int[] v : values) {
            lengths.add(v.length);
        }
        return new Key(List.copyOf(stepShape), List.copyOf(lengths), ranks);
    }

    /** A 64-bit digest of a rank's step shape and input lengths, the same in every process (FNV-1a over the ints). */
    static long digest(List<Integer> stepShape, List<int[]> values) {
        long h = 0xcbf29ce484222325L;
        for (int x : stepShape) {
            h = mix(h, x);
        }
        h = mix(h, -1);
        for (int[] v : values) {
            h = mix(h, v.length);
        }
        return h;
    }

    /** A digest of the keys held, least recent first, by their ranks' part (equal on every rank of a step). */
    long heldDigest() {
        long h = 0xcbf29ce484222325L;
        for (Key k : graphs.keySet()) {
            h = mix(mix(h, (int) k.ranks()), (int) (k.ranks() >>> 32));
        }
        return mix(h, graphs.size());
    }

    private static long mix(long h, int x) {
        for (int b = 0; b < 4; b++) {
            h ^= (x >>> (8 * b)) & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    /**
     * Runs the step through the graph of {@code key}: captures it first (after {@code warm} has made a pass's
     * allocations twice, eagerly; the least recently replayed graph is dropped when the step holds
     * {@link #capacity()}) unless it exists, writes this step's int inputs into its bound tensors, replays.
     *
     * @param key    the step's key ({@link #key})
     * @param values the step's int inputs, bound in this order
     * @param warm   one pass on θ against the bound inputs (nothing else touched)
     * @param body   the step's device work against the bound inputs
     */
    void replay(Key key, List<int[]> values, Consumer<List<IntTensor>> warm, Consumer<List<IntTensor>> body) {
        Captured c = graphs.get(key); // a hit makes it the most recent
        if (c == null) {
            c = capture(key, values, warm, body);
        }
        for (int k = 0; k < values.size(); k++) {
            ops.write(c.inputs().get(k), values.get(k));
        }
        c.graph().replay();
        replays++;
    }

    private Captured capture(Key key, List<int[]> values, Consumer<List<IntTensor>> warm,
                             Consumer<List<IntTensor>> body) {
        evictTo(capacity - 1);
        if (region == null) {
            region = ops.region();
        }
        try (Ops.Scope in = ops.enter(region)) {
            List<IntTensor> b = new ArrayList<>();
            for (int[] v : values) {
                b.add(ops.ints(v));
            }
            boundOps.bind(b);
            try {
                // cudaMalloc is refused while a stream captures, so the region must not grow inside the capture: make
                // the two passes' allocations once eagerly (on θ itself, nothing else touched), then release them;
                // the captured passes make the same allocations from the same mark into existing chunks
                try (Ops.Scope w = ops.scope()) {
                    try (Ops.Scope first = ops.scope()) {
                        warm.accept(b);
                    }
                    warm.accept(b);
                }
                Captured c = new Captured(ops.captureGraph(() -> body.accept(b)), b);
                graphs.put(key, c);
                captures++;
                return c;
            } finally {
                boundOps.bind(null);
            }
        }
    }

    /** Whether a graph for {@code key} is held (a replay would not capture). */
    boolean has(Key key) {
        return graphs.containsKey(key);
    }

    /** Graphs held now. */
    int size() {
        return graphs.size();
    }

    /** Graphs captured so far (each capture after a drop counts again). */
    long captures() {
        return captures;
    }

    /** Replays so far (a captured graph's first run included). */
    long replays() {
        return replays;
    }

    /** Device memory of the activation region the graphs share (0 before the first capture). */
    long regionBytes() {
        return region == null ? 0 : region.reservedBytes();
    }

    /** Whether the recorded ints {@code a} fit the bound tensors {@code b} one for one (same count, same lengths). */
    static boolean sameLengths(List<int[]> a, List<IntTensor> b) {
        if (b == null || a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i).length != b.get(i).length()) {
                return false;
            }
        }
        return true;
    }

    /** Drops the least recently replayed graphs until at most {@code n} are held. */
    private void evictTo(int n) {
        Iterator<Map.Entry<Key, Captured>> it = graphs.entrySet().iterator();
        while (graphs.size() > Math.max(0, n) && it.hasNext()) {
            Captured c = it.next().getValue();
            it.remove();
            c.graph().close(); // waits for a replay in flight, then frees the graph and its pinned constants
        }
    }

    /** Drops every graph (captured anew on the next replay); the region stays for them. */
    void clear() {
        evictTo(0);
    }

    /** Drops every graph and frees the activation region. */
    @Override
    public void close() {
        try {
            clear();
        } finally {
            boundOps.bind(null);
            if (region != null) {
                CudaOps.Region r = region;
                region = null;
                r.close();
            }
        }
    }
}
