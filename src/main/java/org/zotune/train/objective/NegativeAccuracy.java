package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/** −accuracy of the batch's predictions (argmax of the candidates' scores): a non-differentiable ZO objective. */
public final class NegativeAccuracy implements AdditiveObjective {
    @Override
    public String name() {
        return "accuracy";
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        OptionScores.Scored s = OptionScores.score(ops, model, weights, batch);
        return (float) -Metrics.accuracy(s.predictions(), batch.gold());
    }

    /** [−(right predictions), examples]. */
    @Override
    public double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        OptionScores.Scored s = OptionScores.score(ops, model, weights, batch);
        double right = Metrics.accuracy(s.predictions(), batch.gold()) * batch.examples();
        return new double[] {-Math.rint(right), batch.examples()};
    }

    @Override
    public Optional<CandidateChoices> candidateChoices(LanguageModel model, PromptBatch batch) {
        return Optional.of(CandidateChoices.of(model, batch, CandidateChoices.Metric.NEGATIVE_ACCURACY));
    }
}
