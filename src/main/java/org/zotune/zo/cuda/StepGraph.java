package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Batch;

/**
 * The captured ZO step: one CUDA graph per batch shape, its persistent int inputs (what the model's forward creates
 * with {@code ops.ints}, re-derived per batch by {@link InputRecorder}) and cross-entropy targets, and the
 * activation scope whose memory every replay reuses. Replays with the next batch's inputs written into the bound
 * tensors; re-captures when the shape changes. The forward passes run on {@link #ops()}, which hands out the bound
 * inputs while a graph is bound.
 */
final class StepGraph implements AutoCloseable {
    private final CudaOps ops;
    private final BoundInputOps boundOps;
    private Ops.Scope scope;
    private CudaOps.Graph graph;
    private int batchSize;
    private int seq;
    private List<IntTensor> inputs;
    private IntTensor targets;

    StepGraph(CudaOps ops) {
        this.ops = ops;
        this.boundOps = new BoundInputOps(ops);
    }

    /** The ops the step's forward passes run on. */
    BoundInputOps ops() {
        return boundOps;
    }

    /**
     * Runs the step on {@code batch} through the graph: captures it first (after {@code warm} has made a pass's
     * allocations twice, eagerly) unless a graph of this shape exists, writes this batch's inputs and targets into
     * the bound tensors, replays.
     *
     * @param values the batch's int inputs as {@link InputRecorder} recorded them
     * @param warm   one forward pass and loss on θ against the bound targets (nothing else touched)
     * @param body   the step's device work against the bound targets
     */
    void replay(Batch batch, List<int[]> values, int[] targetValues, Consumer<IntTensor> warm,
                Consumer<IntTensor> body) {
        ensure(batch, values, targetValues, warm, body);
        for (int k = 0; k < values.size(); k++) {
            ops.write(inputs.get(k), values.get(k));
        }
        ops.write(targets, targetValues);
        graph.replay();
    }

    private void ensure(Batch batch, List<int[]> values, int[] targetValues, Consumer<IntTensor> warm,
                        Consumer<IntTensor> body) {
        if (graph != null && batch.batch() == batchSize && batch.seq() == seq
                && sameLengths(values, inputs) && targets.length() == targetValues.length) {
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
            targets = ops.ints(targetValues);
            boundOps.bind(inputs);
            // cudaMalloc is refused while a stream captures, so the activation arena must not grow inside the
            // capture: make the two passes' allocations once eagerly (on θ itself, nothing else touched), then
            // release them; the captured passes make the same allocations from the same mark into existing chunks
            try (Ops.Scope w = ops.scope()) {
                try (Ops.Scope first = ops.scope()) {
                    warm.accept(targets);
                }
                warm.accept(targets);
            }
            IntTensor t = targets;
            graph = ops.captureGraph(() -> body.accept(t));
            batchSize = batch.batch();
            seq = batch.seq();
            ok = true;
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    private static boolean sameLengths(List<int[]> a, List<IntTensor> b) {
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
        targets = null;
        boundOps.bind(null);
    }
}
