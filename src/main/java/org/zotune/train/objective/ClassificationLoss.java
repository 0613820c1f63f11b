package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * Prompt classification / multiple choice (ALGORITHMS.md §6): s_c = mean log p(c's tokens | prompt) per candidate c
 * ({@link OptionScores}); loss = mean over the batch's examples of the cross-entropy of softmax(s) against the gold
 * candidate.
 */
public final class ClassificationLoss implements AdditiveObjective {
    @Override
    public String name() {
        return "classification";
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return (float) OptionScores.classificationLoss(OptionScores.score(ops, model, weights, batch), batch);
    }

    /** [Σ per-example cross-entropy, examples]. */
    @Override
    public double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        double mean = OptionScores.classificationLoss(OptionScores.score(ops, model, weights, batch), batch);
        return new double[] {mean * batch.examples(), batch.examples()};
    }

    @Override
    public Optional<CandidateChoices> candidateChoices(LanguageModel model, PromptBatch batch) {
        return Optional.of(CandidateChoices.of(model, batch, CandidateChoices.Metric.CROSS_ENTROPY));
    }
}
