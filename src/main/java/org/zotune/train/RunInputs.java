package org.zotune.train;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.data.prompt.TextTemplate;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.train.objective.MaskedLmPrompt;
import org.zotune.train.objective.Objective;

/**
 * What a run trains on, read the same way for every method (the ZO {@link Trainer}, the {@link DfoTrainer}): the
 * kind of model its objective needs, its data encoded for that objective, and the objective itself. In two parts, so
 * that bad data keys are refused before the model is read ({@link #plan}) and the rest after ({@link #read}).
 */
final class RunInputs {
    private RunInputs() {
    }

    /**
     * The objective's family and its template, read from the config alone.
     *
     * @param masked         objective mlm (a masked-LM prompt)
     * @param embeds         an encoder objective that pools hidden states (similarity, head)
     * @param maskedTemplate objective mlm's template, else null
     * @param textTemplate   an embedding objective's template, else null
     */
    record Plan(boolean masked, boolean embeds, MaskedTemplate maskedTemplate, TextTemplate textTemplate) {
    }

    /**
     * The data and objective of a run.
     *
     * @param labels an embedding objective's labels in class order (the head's rows), else null
     */
    record Read(TrainData data, Objective objective, List<String> labels) {
    }

    static Plan plan(TrainConfig config) {
        boolean masked = config.objectiveKind() == TrainConfig.ObjectiveKind.MLM;
        boolean embeds = EncoderObjectives.embeds(config);
        return new Plan(masked, embeds, masked ? TrainData.maskedTemplate(config.data()) : null,
                embeds ? TrainData.textTemplate(config.data()) : null);
    }

    /**
     * Objective mlm trains an encoder with its MLM head, similarity and head an encoder, every other objective scores
     * next tokens and needs a decoder: one line naming the model and what to use instead.
     */
    static void requireKind(TrainConfig config, Plan plan, LoadedLanguageModel loaded) {
        LanguageModel.Kind kind = loaded.model().kind();
        if (plan.embeds()) {
            if (kind != LanguageModel.Kind.MASKED || !(loaded.model() instanceof EncoderModel)) {
                throw new ZotuneException(loaded.checkpoint().source() + ": objective '" + config.objective()
                        + "' pools an encoder's hidden states and needs an encoder (BERT, RoBERTa); this is a "
                        + loaded.config().family() + " decoder: train it with objective lm, classification, "
                        + "accuracy or f1");
            }
            EncoderObjectives.requireModel(config, (EncoderModel) loaded.model(),
                    loaded.checkpoint().source().toString());
            return;
        }
        if (plan.masked() && kind != LanguageModel.Kind.MASKED) {
            throw new ZotuneException(loaded.checkpoint().source() + ": objective mlm needs an encoder with a "
                    + "masked-LM head (BERT, RoBERTa); this is a " + loaded.config().family() + " decoder (causal "
                    + "language model): train it with objective lm, classification, accuracy or f1");
        }
        if (plan.masked() && loaded.model() instanceof EncoderModel e && !e.hasMlmHead()) {
            throw new ZotuneException(loaded.checkpoint().source() + ": objective mlm scores the masked-LM head, and "
                    + "this " + loaded.config().family() + " checkpoint has none (a bare encoder, e.g. a "
                    + "sentence-embedding model)");
        }
        if (!plan.masked() && kind != LanguageModel.Kind.CAUSAL) {
            throw new ZotuneException(loaded.checkpoint().source() + ": objective '" + config.objective() + "' scores "
                    + "next tokens and needs a causal language model; this is a " + loaded.config().family()
                    + " encoder (masked language model): train it with objective mlm and a masked-LM template, or with "
                    + "similarity or head");
        }
    }

    /** The run's data encoded for its objective, and the objective. */
    static Read read(TrainConfig config, Plan plan, LoadedLanguageModel loaded, Tokenizer tokenizer) {
        int pad = Math.max(0, loaded.config().padTokenId());
        if (plan.masked()) {
            MaskedPromptEncoder encoder = MaskedPromptEncoder.of(tokenizer, pad, config.maxLength());
            TrainData data = TrainData.loadMasked(config.data(), encoder, plan.maskedTemplate(), config.seed());
            return new Read(data, new MaskedLmPrompt(encoder.maskId(), encoder.labelTokens(
                    plan.maskedTemplate().words(), config.data().verbalizerFirstToken())), null);
        }
        if (plan.embeds()) {
            TextRowEncoder encoder = new TextRowEncoder(tokenizer, config.maxLength());
            TrainData.Encoded e = TrainData.loadEncoded(config.data(), encoder, plan.textTemplate(), pad,
                    config.seed());
            return new Read(e.data(), EncoderObjectives.objective(config, encoder, e.labels(), pad), e.labels());
        }
        TrainData data = TrainData.load(config.data(), tokenizer, config.maxLength(), config.seed());
        return new Read(data, Objective.named(config.objective()), null);
    }
}
