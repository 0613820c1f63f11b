package org.zotune.train.objective;

import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * An objective whose loss on a batch is a function of sums over the batch's examples (or tokens), so that the batch
 * can be split over data-parallel workers (ALGORITHMS.md §10): each worker computes {@link #sums} on its shard, the
 * workers add their sums, and every worker forms the same loss with {@link #fromSums}. The default shape is
 * {@code [Σ loss, count]}, loss = Σ / count: token cross-entropy sums and token counts for {@code lm}, per-example
 * sums and example counts for the classification objectives.
 */
public interface AdditiveObjective extends Objective {
    /** The sums over {@code batch}; for disjoint parts of a batch they add up to the whole batch's. */
    double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch);

    /** The loss of a whole batch from its sums. */
    default float fromSums(double[] sums) {
        if (!(sums[1] > 0)) {
            throw new org.zotune.ZotuneException("objective " + name() + ": nothing to score in the batch (count "
                    + sums[1] + ")");
        }
        return (float) (sums[0] / sums[1]);
    }
}
