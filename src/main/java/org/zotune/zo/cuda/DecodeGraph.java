package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.KvCache;

/**
 * Generation's decode step as one CUDA graph: the forward of B tokens (one per sequence) through a batched
 * {@link KvCache} at full capacity, captured at the first step and replayed for every token after it. Replays need
 * fixed shapes and addresses, and the cache provides both: every attention reads its whole blocks and decides on the
 * device which rows a sequence sees, and stores the new rows where the positions say
 * ({@link org.zotune.backend.KvPrefix}, {@link Ops#storeKeysValues(Tensor, int, Tensor, int, Tensor, IntTensor,
 * org.zotune.backend.AttentionSpec, Tensor, Tensor, int, int)}). Before each replay the step's int inputs (ids,
 * mask, positions: what the model's forward derives from the batch and starts, recorded by a dry run) are written
 * into the tensors the graph froze. The graph ends with each row's argmax, so that greedy decoding reads back B ints
 * ({@link #argmax}); sampling reads the logits [B, V] ({@link #logits}) and chooses on the host, as the eager step
 * does. Owns the graph and the activation scope its replays reuse.
 */
public final class DecodeGraph implements Generator.DecodeStep {
    private final CudaOps ops;
    private final BoundInputOps bound;
    private final CausalLM model;
    private final WeightSource weights;
    private final WeightSource source;
    private Ops.Scope scope;
    private CudaOps.Graph graph;
    private List<IntTensor> inputs;
    private Tensor logits;
    private IntTensor argmax;
    private int batchSize = -1;

    /** The decode step of {@code model} over {@code weights} through {@code cache} (at full capacity). */
    public DecodeGraph(CudaOps ops, CausalLM model, WeightSource weights, KvCache cache) {
        if (!cache.fullCapacity()) {
            throw new IllegalArgumentException("a captured decode step needs a key/value cache at full capacity");
        }
        this.ops = ops;
        this.bound = new BoundInputOps(ops);
        this.model = model;
        this.weights = weights;
        this.source = cache.over(weights);
    }

    /**
     * Greedy or sampled generation of {@code prompts} as {@link Generator#generate(Ops, CausalLM, WeightSource,
     * int[][], int, Generator.Sampling, int, boolean)} (the same tokens as each prompt alone), the prompts in one
     * eager forward, every decode step a replay of one captured graph.
     */
    public static int[][] generate(CudaOps ops, CausalLM model, WeightSource weights, int[][] prompts,
                                   int maxNewTokens, Generator.Sampling sampling, int eosId) {
        return Generator.generate(ops, model, weights, prompts, maxNewTokens, sampling, eosId, true, true,
                cache -> new DecodeGraph(ops, model, weights, cache));
    }

    @Override
    public float[][] logits(Batch batch, int[] starts) {
        replay(batch, starts);
        float[] all = ops.toHost(logits);
        int v = all.length / batch.batch();
        float[][] out = new float[batch.batch()][];
        for (int b = 0; b < out.length; b++) {
            out[b] = Arrays.copyOfRange(all, b * v, (b + 1) * v);
        }
        return out;
    }

    /** The replay's own argmax of each row: B ints read back instead of B rows of logits. */
    @Override
    public int[] argmax(Batch batch, int[] starts) {
        replay(batch, starts);
        return ops.toHost(argmax);
    }

    /** Writes the step's inputs into the graph's (capturing it first if needed) and replays it. */
    private void replay(Batch batch, int[] starts) {
        if (batch.seq() != 1) {
            throw new IllegalArgumentException("a decode step takes one token per sequence, got " + batch.seq());
        }
        List<int[]> values = InputRecorder.record(model, batch, starts, weights, ops.computeType());
        ensure(batch, starts, values);
        for (int k = 0; k < values.size(); k++) {
            ops.write(inputs.get(k), values.get(k));
        }
        graph.replay();
    }

    private void ensure(Batch batch, int[] starts, List<int[]> values) {
        if (graph != null && batch.batch() == batchSize && StepGraph.sameLengths(values, inputs)) {
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
            bound.bind(inputs);
            // cudaMalloc is refused while a stream captures, so the activation arena must not grow inside the
            // capture: make the pass's allocations twice eagerly first, as StepGraph does. Each eager pass stores
            // this step's rows into the cache, exactly the rows the replay stores again.
            try (Ops.Scope w = ops.scope()) {
                try (Ops.Scope first = ops.scope()) {
                    bound.rewind();
                    ops.argmaxRows(model.forward(bound, source, batch, starts));
                }
                bound.rewind();
                ops.argmaxRows(model.forward(bound, source, batch, starts));
            }
            bound.rewind();
            Tensor[] out = new Tensor[1];
            IntTensor[] next = new IntTensor[1];
            graph = ops.captureGraph(() -> {
                out[0] = model.forward(bound, source, batch, starts);
                next[0] = ops.argmaxRows(out[0]);
            });
            logits = out[0];
            argmax = next[0];
            batchSize = batch.batch();
            ok = true;
        } finally {
            if (!ok) {
                close();
            }
        }
    }

    /** Drops the graph, its bound inputs and its activation scope. */
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
        bound.bind(null);
        inputs = null;
        logits = null;
        argmax = null;
        batchSize = -1;
    }
}
