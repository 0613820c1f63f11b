package org.zotune.model;

import java.util.Arrays;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * A decoder with a key/value cache forward per sequence ({@link #forward(Ops, WeightSource, Batch, int[])}): the
 * plain forward is start 0 and a common start is the same start for every sequence. GPT-2, OPT and Llama.
 */
public abstract class CachingDecoder implements CausalLM {
    @Override
    public final boolean cachesKeysValues() {
        return true;
    }

    @Override
    public final Tensor forward(Ops ops, WeightSource w, Batch batch) {
        return forward(ops, w, batch, 0);
    }

    @Override
    public final Tensor forward(Ops ops, WeightSource w, Batch batch, int start) {
        int[] starts = new int[batch.batch()];
        Arrays.fill(starts, start);
        return forward(ops, w, batch, starts);
    }

    @Override
    public abstract Tensor forward(Ops ops, WeightSource w, Batch batch, int[] starts);
}
