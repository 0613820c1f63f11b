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
import org.zotune.train.config.Data;
import org.zotune.train.objective.HeadOptions;
import org.zotune.train.objective.Objective;
import org.zotune.train.objective.SimilarityOptions;

/**
 * What a run trains on, read the same way for every method (the ZO {@link Trainer}, the {@link DfoTrainer}) and by
 * {@code zotune eval} on an encoder ({@code Model.evaluate}, so that it scores as a run's evaluations do): the kind of
 * model its objective needs, its data encoded for that objective, and the objective itself. In two parts, so that bad
 * data keys are refused before the model is read ({@link #plan}) and the rest after ({@link #read}).
 */
public final class RunInputs {
    private RunInputs() {
    }

    /**
     * The keys of a run config that choose the objective and encode the data: a run's ({@link #of(TrainConfig)}), or
     * zotune eval's options bound onto the same records.
     *
     * @param objective  key objective
     * @param data       key data
     * @param similarity key similarity (objective similarity's options)
     * @param head       key head (objective head's options)
     * @param maxLength  key max_length
     * @param seed       key seed (data.seed when absent)
     */
    public record Keys(TrainConfig.ObjectiveKind objective, Data data, SimilarityOptions similarity, HeadOptions head,
            int maxLength, long seed) {

        static Keys of(TrainConfig c) {
            return new Keys(c.objectiveKind(), c.data(), c.similarity(), c.head(), c.maxLength(), c.seed());
        }

        boolean embeds() {
            return objective == TrainConfig.ObjectiveKind.SIMILARITY || objective == TrainConfig.ObjectiveKind.HEAD;
        }
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
    public record Read(TrainData data, Objective objective, List<String> labels) {
    }

    static Plan plan(TrainConfig config) {
        return plan(Keys.of(config));
    }

    static Plan plan(Keys keys) {
        boolean masked = keys.objective() == TrainConfig.ObjectiveKind.MLM;
        boolean embeds = keys.embeds();
        return new Plan(masked, embeds, masked ? TrainData.maskedTemplate(keys.data()) : null,
                embeds ? TrainData.textTemplate(keys.data()) : null);
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
        if (!plan.masked() && !plan.embeds()) {
            TrainData data = TrainData.load(config.data(), tokenizer, config.maxLength(), config.seed());
            return new Read(data, Objective.named(config.objective()), null);
        }
        return readEncoder(Keys.of(config), plan, loaded.config(), tokenizer, false);
    }

    /**
     * An encoder objective's data (key data's train files) encoded as a run encodes it, and the objective as a run
     * builds it (for zotune eval: the same classes score the same way).
     *
     * @param keys      objective mlm, similarity or head, with its options
     * @param model     the encoder's config (its padding id)
     * @param tokenizer the encoder's tokenizer
     */
    public static Read readEncoder(Keys keys, org.zotune.model.ModelConfig model, Tokenizer tokenizer) {
        return readEncoder(keys, model, tokenizer, null);
    }

    /**
     * As {@link #readEncoder(Keys, org.zotune.model.ModelConfig, Tokenizer)} over {@code given} (in memory, read as
     * the training set: texts to classify) instead of the files of {@code keys.data()}, when given.
     */
    public static Read readEncoder(Keys keys, org.zotune.model.ModelConfig model, Tokenizer tokenizer,
            org.zotune.data.Dataset given) {
        Plan plan = plan(keys);
        if (!plan.masked() && !plan.embeds()) {
            throw new IllegalArgumentException("objective " + keys.objective() + " is not an encoder objective");
        }
        return readEncoder(keys, plan, model, tokenizer, true, given);
    }

    /**
     * The fields a single text fills under {@code keys}' template: the masked-LM template's placeholders, a text
     * pattern's, or none (a built-in name or none: the text as it is).
     */
    public static java.util.Set<String> textFields(Keys keys) {
        Plan plan = plan(keys);
        return plan.masked() ? plan.maskedTemplate().fieldNames() : plan.textTemplate().fieldNames();
    }

    /** The labels the objective of {@code keys} scores without data: mlm's verbalizer, similarity's descriptions. */
    public static List<String> describedLabels(Keys keys) {
        Plan plan = plan(keys);
        if (plan.masked()) {
            return List.copyOf(plan.maskedTemplate().verbalizer().keySet());
        }
        return EncoderObjectives.describedLabels(keys, List.of());
    }

    /**
     * @param everyDescribed objective similarity scores every label that has a description, mlm every label of the
     *                       verbalizer, those the data lacks after the data's own (zotune eval of a file with some of
     *                       the classes: the others still compete); false: the data's labels alone (a run)
     */
    private static Read readEncoder(Keys keys, Plan plan, org.zotune.model.ModelConfig model, Tokenizer tokenizer,
            boolean everyDescribed) {
        return readEncoder(keys, plan, model, tokenizer, everyDescribed, null);
    }

    private static Read readEncoder(Keys keys, Plan plan, org.zotune.model.ModelConfig model, Tokenizer tokenizer,
            boolean everyDescribed, org.zotune.data.Dataset given) {
        int pad = Math.max(0, model.padTokenId());
        if (plan.masked()) {
            MaskedPromptEncoder encoder = MaskedPromptEncoder.of(tokenizer, pad, keys.maxLength());
            MaskedTemplate template = everyDescribed ? plan.maskedTemplate().scoringEveryLabel()
                    : plan.maskedTemplate();
            TrainData data = TrainData.loadMasked(keys.data(), encoder, template, keys.seed(), given);
            return new Read(data, new MaskedLmPrompt(encoder.maskId(), encoder.labelTokens(template.words(),
                    keys.data().verbalizerFirstToken())), everyDescribed ? template.labels() : null);
        }
        TextRowEncoder encoder = new TextRowEncoder(tokenizer, keys.maxLength());
        TrainData data = TrainData.loadEncoded(keys.data(), encoder, plan.textTemplate(), pad, keys.seed(), given);
        List<String> labels = everyDescribed ? EncoderObjectives.describedLabels(keys, data.labels())
                : data.labels();
        return new Read(data, EncoderObjectives.objective(keys, encoder, labels, pad), labels);
    }
}
