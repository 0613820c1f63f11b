package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * −F1 of the batch's predictions: binary F1 (positive class = candidate 1) when examples have 2 candidates, macro F1
 * otherwise ({@link Metrics#f1}). Non-differentiable; ZO needs only its value.
 */
public final class NegativeF1 implements Objective {
    @Override
    public String name() {
        return "f1";
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        OptionScores.Scored s = OptionScores.score(ops, model, weights, batch);
        int classes = 0;
        for (int c : batch.candidates()) {
            classes = Math.max(classes, c);
        }
        return (float) -Metrics.f1(s.predictions(), batch.gold(), classes);
    }

    @Override
    public Optional<CandidateChoices> candidateChoices(LanguageModel model, PromptBatch batch) {
        return Optional.of(CandidateChoices.of(model, batch, CandidateChoices.Metric.NEGATIVE_F1));
    }
}
