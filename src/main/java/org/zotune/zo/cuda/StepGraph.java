package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.cuda.CudaOps;

/**
 * The captured ZO step: one CUDA graph per step shape, its persistent int inputs (what the model's forward creates
 * with {@code ops.ints}, re-derived per batch by {@link InputRecorder}, and the device losses' inputs, for every
 * micro-batch) and the activation scope whose memory every replay reuses. Replays with the next step's inputs
 * written into the bound tensors; re-captures when the shape (the micro-batches' dimensions, the losses' launch
 * constants, the inputs' lengths) changes. The forward passes run on {@link #ops()}, which hands out the bound
 * inputs while a graph is bound.
 */
final class StepGraph implements AutoCloseable {
    private final CudaOps ops;
    private final BoundInputOps boundOps;
    private Ops.Scope scope;
    private CudaOps.Graph graph;
    private List<Integer> shape;
    private List<IntTensor> inputs;

    StepGraph(CudaOps ops) {
        this.ops = ops;
        this.boundOps = new BoundInputOps(ops);
    }

    /** The ops the step's forward passes run on. */
    BoundInputOps ops() {
        return boundOps;
    }

    /**
     * Runs the step through the graph: captures it first (after {@code warm} has made a pass's allocations twice,
     * eagerly) unless a graph of this shape exists, writes this step's int inputs into the bound tensors, replays.
     *
     * @param stepShape what the captured launches bake in besides the inputs' lengths (compared with equals)
     * @param values    the step's int inputs, bound in this order
     * @param warm      one pass on θ against the bound inputs (nothing else touched)
     * @param body      the step's device work against the bound inputs
     */
    void replay(List<Integer> stepShape, List<int[]> values, Consumer<List<IntTensor>> warm,
                Consumer<List<IntTensor>> body) {
        ensure(stepShape, values, warm, body);
        for (int k = 0; k < values.size(); k++) {
            ops.write(inputs.get(k), values.get(k));
        }
        graph.replay();
    }

    private void ensure(List<Integer> stepShape, List<int[]> values, Consumer<List<IntTensor>> warm,
                        Consumer<List<IntTensor>> body) {
        if (matches(stepShape, values)) {
            return;
        }
        close();
        scope = ops.scope();
        boolean ok = false;
        try {
            List<IntTensor> b = new ArrayList<>();
            for (int[] v : values) {
                b.add(ops.ints(v));
            }
            inputs = b;
            boundOps.bind(inputs);
            // cudaMalloc is refused while a stream captures, so the activation arena must not grow inside the
            // capture: make the two passes' allocations once eagerly (on θ itself, nothing else touched), then
            // release them; the captured passes make the same allocations from the same mark into existing chunks
            try (Ops.Scope w = ops.scope()) {
                try (Ops.Scope first = ops.scope()) {
                    warm.accept(b);
                }
                warm.accept(b);
            }
            graph = ops.captureGraph(() -> body.accept(b));
            shape = List.copyOf(stepShape);
            ok = true;
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    /** Whether a graph for this step shape and these inputs' lengths exists (a replay would not capture). */
    boolean matches(List<Integer> stepShape, List<int[]> values) {
        return graph != null && stepShape.equals(shape) && sameLengths(values, inputs);
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

    /** Drops the graph, its bound tensors and its activation scope (re-captured on the next replay). */
    @Override
    public void close() {
        if (graph != null) {
            graph.close();
            graph = null;
        }
        if (scope != null) {
            Ops.Scope sc = scope;
            scope = null;
            sc.close();
        }
        inputs = null;
        shape = null;
        boundOps.bind(null);
    }
}
