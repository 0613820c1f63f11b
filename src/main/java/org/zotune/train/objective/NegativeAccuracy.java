package org.zotune.train.objective;

import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/** −accuracy of the batch's predictions (argmax of the candidates' scores): a non-differentiable ZO objective. */
public final class NegativeAccuracy implements Objective {
    @Override
    public String name() {
        return "accuracy";
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        OptionScores.Scored s = OptionScores.score(ops, model, weights, batch);
        return (float) -Metrics.accuracy(s.predictions(), batch.gold());
    }
}
