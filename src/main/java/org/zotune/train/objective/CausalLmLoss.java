package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * Causal-LM loss: the mean token cross-entropy over target tokens only — the completion (or, for a candidate batch,
 * the gold candidate's answer), each predicted from the position before it ({@link NextTokenTargets#shift}); prompt,
 * padding and other candidates have target -1. One forward pass and one {@link Ops#crossEntropy} over the whole
 * batch, so an engine may compute it itself from {@link #tokenTargets}.
 */
public final class CausalLmLoss implements AdditiveObjective {
    private static final String NO_TARGET = "the batch has no target token (every token is prompt or padding)";

    @Override
    public String name() {
        return "lm";
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        NextTokenTargets.requireCausal(model, "objective lm");
        try (Ops.Scope scope = ops.scope()) {
            Tensor logits = model.forward(ops, weights, batch.batch());
            float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(targets(model, batch))));
            if (ce[1] <= 0) {
                throw new ZotuneException(NO_TARGET);
            }
            return (float) ((double) ce[0] / ce[1]);
        }
    }

    /** [Σ token cross-entropy, target tokens]. */
    @Override
    public double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        NextTokenTargets.requireCausal(model, "objective lm");
        try (Ops.Scope scope = ops.scope()) {
            Tensor logits = model.forward(ops, weights, batch.batch());
            float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(targets(model, batch))));
            return new double[] {ce[0], ce[1]};
        }
    }

    @Override
    public Optional<int[]> tokenTargets(LanguageModel model, PromptBatch batch) {
        int[] targets = targets(model, batch);
        for (int v : targets) {
            if (v >= 0) {
                return Optional.of(targets);
            }
        }
        throw new ZotuneException(NO_TARGET);
    }

    /**
     * The targets of one rank's shard of a data-parallel batch: as {@link #tokenTargets}, but a shard may have no
     * target token (its (Σ, count) pair is then (0, 0) and the ranks' sum still counts every target of the batch).
     */
    public int[] shardTargets(LanguageModel model, PromptBatch shard) {
        return targets(model, shard);
    }

    /** The gold rows' answer tokens, each the target of the position before it; -1 everywhere else. */
    static int[] targets(LanguageModel model, PromptBatch batch) {
        NextTokenTargets.requireCausal(model, "objective lm");
        return NextTokenTargets.shift(batch.goldLabels(), batch.batch().seq());
    }
}
