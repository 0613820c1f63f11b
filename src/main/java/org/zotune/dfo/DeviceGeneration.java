package org.zotune.dfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;
import org.zotune.zo.cuda.ZoKernels;

/**
 * A generation of a {@link BatchedPopulation} on CUDA with its losses reduced on the device (ALGORITHMS.md §7): (a)
 * one host→device copy of the generation's packed factors ({@link GenerationFactors}) into a device buffer owned here,
 * (b) the forward over the repeated batch with every update reading its factors from that buffer, and each member's
 * loss reduced by the objective's device kernels into λ (value, count) pairs ({@link Reduction}), (c) one
 * device→host copy of those λ pairs. Step (b) is one captured CUDA graph, replayed while the generation's
 * {@link GenerationFactors#key} stays the same: the first generation of a key runs (b) uncaptured, the second
 * captures it (two warm passes, as the ZO step's graph, so that the activation arena does not grow while capturing)
 * and replays; a new key frees the graph (one graph at a time: a layer's search never returns to an earlier key in the
 * {@code layers} schedule, and the {@code rounds} schedule changes the key every generation, so it runs uncaptured
 * with the same device reductions). The graph's activations live in a scope of the ops kept open while it exists,
 * as the ZO step's; its int inputs (the batch's ids, mask, positions, the losses' targets) are device buffers of the
 * key's, uploaded by the uncaptured passes ({@link FixedInts}). Owns its buffers, its kernels and the graph (close
 * it, before the ops). Not thread-safe.
 */
final class DeviceGeneration implements AutoCloseable {
    /**
     * A forward over the repeated batch with {@code weights} and each member's loss written as a float32 (value,
     * count) pair at {@code out + 8·i}, enqueued on the ops' stream, nothing read back (it is captured). The forward
     * and every int input run on {@code ops} (the CUDA ops, whose {@code ints} are this generation's fixed device
     * inputs); {@code cuda} is the same backend for what only CUDA has (token losses, scratch, its stream).
     */
    @FunctionalInterface
    interface Reduction {
        void run(Ops ops, CudaOps cuda, ZoKernels kernels, WeightSource weights, long out);
    }

    private final CudaOps ops;
    private final WeightSource base;
    private final boolean capture;
    private final ZoKernels kernels;
    private final FixedInts inputs;
    private DeviceBuffer factors;
    private PinnedBuffer staged;
    private DeviceBuffer pairs;
    private PinnedBuffer read;
    private List<Integer> lastKey;
    private List<Integer> graphKey;
    private Ops.Scope graphScope;
    private CudaOps.Graph graph;
    private int captures;
    private boolean closed;

    /**
     * @param base    the frozen weights the updates are added over
     * @param capture whether generations of a repeated key replay a captured graph (else every one runs uncaptured)
     */
    DeviceGeneration(CudaOps ops, WeightSource base, boolean capture) {
        this.ops = ops;
        this.base = base;
        this.capture = capture;
        this.kernels = new ZoKernels(ops.device().multiprocessors() * 8);
        this.inputs = new FixedInts(ops);
    }

    /** Graphs captured so far (a test's view of the re-capture rule). */
    int captures() {
        return captures;
    }

    /** Whether the last generation replayed a captured graph. */
    boolean replayed() {
        return graph != null;
    }

    /**
     * Runs one generation: the λ members' (value, count) pairs, member i's at [2i, 2i + 1].
     *
     * @param reduction the forward and per-member reductions for this generation's λ and batch (the same for a key)
     */
    float[] pairs(GenerationFactors g, int lambda, Reduction reduction) {
        if (closed) {
            throw new IllegalStateException("the population's device generation is closed");
        }
        DType type = ops.computeType();
        long eb = type.bytes();
        ensure(g.packed().length, lambda);
        CudaStream s = ops.stream();
        stage(g.packed(), type);
        factors.copyFromHost(staged.pointer(), 0, eb * g.packed().length, s);
        List<GenerationFactors.Slot> slots = g.slots();
        WeightSource w = SharedLayers.weights(base, g, g.key().get(2), i -> CudaTensors.view(factors.address()
                + eb * slots.get(i).aOffset(), slots.get(i).rank(), slots.get(i).in(), type),
                i -> CudaTensors.view(factors.address() + eb * slots.get(i).bOffset(), slots.get(i).out(),
                        slots.get(i).rank(), type));
        long out = pairs.address();
        Runnable body = () -> {
            inputs.rewind();
            reduction.run(inputs, ops, kernels, w, out);
        };
        if (graph != null && g.key().equals(graphKey)) {
            graph.replay();
        } else {
            closeGraph(); // a new key: the graph of the old one is not replayed again
            if (!g.key().equals(lastKey)) {
                inputs.clear(); // the old key's inputs (no graph reads them now)
            }
            if (capture && g.key().equals(lastKey)) {
                captureGraph(body);
                graphKey = g.key();
                graph.replay();
            } else {
                try (Ops.Scope sc = ops.scope()) {
                    body.run();
                }
            }
        }
        lastKey = g.key();
        pairs.copyToHost(0, read.pointer(), 8L * lambda, s);
        s.synchronize();
        float[] result = new float[2 * lambda];
        read.slice(0, 8 * lambda).asFloatBuffer().get(result);
        return result;
    }

    /**
     * The packed factors into the pinned buffer in the compute type: float32 as they are, bf16 / f16 rounded once
     * (as {@link org.zotune.backend.Ops#createParameters} rounds the eager generation's factors).
     */
    private void stage(float[] packed, DType type) {
        if (type == DType.F32) {
            staged.slice(0, 4 * packed.length).asFloatBuffer().put(packed);
            return;
        }
        java.nio.ShortBuffer b = staged.slice(0, 2 * packed.length).asShortBuffer();
        for (float v : packed) {
            b.put(type == DType.BF16 ? DType.floatToBf16(v) : DType.floatToF16(v));
        }
    }

    /** Buffers for {@code floats} factors and λ pairs; a buffer that moves drops the graph that read it. */
    private void ensure(int floats, int lambda) {
        long fb = ops.computeType().bytes() * (long) Math.max(1, floats);
        if (factors == null || factors.bytes() < fb) {
            closeGraph();
            freeFactors();
            staged = PinnedBuffer.allocate(fb);
            factors = DeviceBuffer.allocate(fb);
        }
        long pb = 8L * lambda;
        if (pairs == null || pairs.bytes() < pb) {
            closeGraph();
            freePairs();
            read = PinnedBuffer.allocate(pb);
            pairs = DeviceBuffer.allocate(pb);
        }
    }

    private void captureGraph(Runnable body) {
        graphScope = ops.scope();
        boolean ok = false;
        try {
            // cudaMalloc is refused while capturing: make the pass's arena allocations eagerly first (twice, from
            // the same mark, as the ZO step's graph), then capture the same allocations into existing chunks
            try (Ops.Scope warm = ops.scope()) {
                try (Ops.Scope first = ops.scope()) {
                    body.run();
                }
                body.run();
            }
            graph = ops.captureGraph(body);
            captures++;
            ok = true;
        } finally {
            if (!ok) {
                closeGraph();
            }
        }
    }

    private void closeGraph() {
        try {
            if (graph != null) {
                CudaOps.Graph g = graph;
                graph = null;
                g.close();
            }
        } finally {
            graphKey = null;
            if (graphScope != null) {
                Ops.Scope sc = graphScope;
                graphScope = null;
                sc.close();
            }
        }
    }

    private void freeFactors() {
        if (factors != null) {
            factors.close();
            factors = null;
        }
        if (staged != null) {
            staged.close();
            staged = null;
        }
    }

    private void freePairs() {
        if (pairs != null) {
            pairs.close();
            pairs = null;
        }
        if (read != null) {
            read.close();
            read = null;
        }
    }

    /** Waits for the stream, then frees the graph, the buffers and the kernels. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ops.synchronize();
        try {
            closeGraph();
        } finally {
            freeFactors();
            freePairs();
            inputs.clear();
            kernels.close();
        }
    }

    /**
     * The CUDA ops as a generation's forward sees them: the k-th {@code ints} call of a pass returns the k-th device
     * buffer of this key, uploaded by the uncaptured passes (again only when its values change), so that a captured
     * pass copies no host values (a graph's host inputs are capped by -Dzotune.cuda.captureHostMiB, which a large
     * training set repeated λ times would exceed) and its replays read the buffers in place.
     */
    private static final class FixedInts extends ForwardingOps {
        /** One int input: its values, their pinned copy (the source of its upload) and the device buffer. */
        private record Input(int[] values, PinnedBuffer host, DeviceBuffer device, IntTensor view) {
        }

        private final CudaOps cuda;
        private final List<Input> inputs = new ArrayList<>();
        private int next;

        FixedInts(CudaOps cuda) {
            super(cuda);
            this.cuda = cuda;
        }

        /** A pass starts: its first ints() call gets the first input again. */
        void rewind() {
            next = 0;
        }

        @Override
        public IntTensor ints(int[] values) {
            boolean capturing = cuda.stream().isCapturing();
            Input in = next < inputs.size() ? inputs.get(next) : null;
            if (in == null || in.values().length != values.length) {
                if (capturing) {
                    throw new IllegalStateException("a captured DFO generation created int input " + next + " of "
                            + values.length + " values that its uncaptured passes did not");
                }
                in = upload(values);
                if (next < inputs.size()) {
                    free(inputs.set(next, in));
                } else {
                    inputs.add(in);
                }
            } else if (!Arrays.equals(in.values(), values)) {
                if (capturing) {
                    throw new IllegalStateException("a captured DFO generation's int input " + next + " changed");
                }
                cuda.synchronize(); // the pinned copy may still be the source of a copy in flight
                in.host().slice(0, 4 * values.length).asIntBuffer().put(values);
                in.device().copyFromHost(in.host().pointer(), 0, 4L * values.length, cuda.stream());
                in = new Input(values.clone(), in.host(), in.device(), in.view());
                inputs.set(next, in);
            }
            next++;
            return in.view();
        }

        private Input upload(int[] values) {
            long bytes = 4L * Math.max(1, values.length);
            PinnedBuffer host = PinnedBuffer.allocate(bytes);
            DeviceBuffer device = null;
            try {
                device = DeviceBuffer.allocate(bytes);
                if (values.length > 0) {
                    host.slice(0, 4 * values.length).asIntBuffer().put(values);
                    device.copyFromHost(host.pointer(), 0, 4L * values.length, cuda.stream());
                }
                return new Input(values.clone(), host, device, CudaTensors.intView(device.address(), values.length));
            } catch (RuntimeException | Error e) {
                if (device != null) {
                    device.close();
                }
                host.close();
                throw e;
            }
        }

        /** Frees every input (after the stream has passed their uploads and no graph reads them). */
        void clear() {
            if (!inputs.isEmpty()) {
                cuda.synchronize();
            }
            for (Input in : inputs) {
                free(in);
            }
            inputs.clear();
            next = 0;
        }

        private void free(Input in) {
            cuda.synchronize();
            in.device().close();
            in.host().close();
        }
    }
}
