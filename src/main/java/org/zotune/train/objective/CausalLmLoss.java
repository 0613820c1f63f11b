package org.zotune.train.objective;

import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.CausalLM;

/**
 * Causal-LM loss: the mean token cross-entropy over target tokens only — the completion (or, for a candidate batch,
 * the gold candidate's answer); prompt, padding and other candidates have target -1. One forward pass and one
 * {@link Ops#crossEntropy} over the whole batch.
 */
public final class CausalLmLoss implements Objective {
    @Override
    public String name() {
        return "lm";
    }

    @Override
    public float loss(Ops ops, CausalLM model, WeightSource weights, PromptBatch batch) {
        try (Ops.Scope scope = ops.scope()) {
            Tensor logits = model.forward(ops, weights, batch.batch());
            float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(batch.goldTargets())));
            if (ce[1] <= 0) {
                throw new ZotuneException("the batch has no target token (every token is prompt or padding)");
            }
            return (float) ((double) ce[0] / ce[1]);
        }
    }
}
