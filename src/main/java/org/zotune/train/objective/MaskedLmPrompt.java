package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;

/**
 * The masked-LM prompt (ALGORITHMS.md §6; LM-BFF, MeZO's RoBERTa experiments): each example is one row holding one
 * mask token ({@link org.zotune.data.batch.MaskedPromptEncoder}); the MLM head's logits at the mask, restricted to
 * one verbalizer token per label, are the scores s; loss = mean cross-entropy of softmax(s) against the gold label;
 * prediction = argmax s. The objective owns its targets: the mask id and the label tokens
 * ({@link #maskedChoices}); one forward of the body, the MLM head on the mask rows only.
 */
public final class MaskedLmPrompt implements AdditiveObjective, ChoiceScorer {
    private final int maskId;
    private final int[] labelTokens;

    /**
     * @param maskId      the tokenizer's mask token
     * @param labelTokens per label (in the data set's label order), its verbalizer token
     */
    public MaskedLmPrompt(int maskId, int[] labelTokens) {
        if (labelTokens.length < 2) {
            throw new ZotuneException("a masked-LM prompt needs at least 2 labels, got " + labelTokens.length);
        }
        this.maskId = maskId;
        this.labelTokens = labelTokens.clone();
    }

    @Override
    public String name() {
        return "mlm";
    }

    public int[] labelTokens() {
        return labelTokens.clone();
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return (float) ChoiceScorer.crossEntropy(choiceScores(ops, model, weights, batch), batch.gold());
    }

    /** [Σ per-example cross-entropy, examples]. */
    @Override
    public double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return crossEntropySums(ops, model, weights, batch);
    }

    @Override
    public double[][] choiceScores(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        EncoderModel encoder = requireMlm(model);
        MaskedChoices c = choices(model, batch, false);
        int vocab = model.config().vocabSize();
        float[] logits;
        try (Ops.Scope scope = ops.scope()) {
            Tensor hidden = encoder.hiddenStates(ops, weights, batch.batch(), null);
            logits = ops.toHost(encoder.mlmLogits(ops, weights, hidden, c.rows()));
        }
        double[][] s = new double[c.rows().length][labelTokens.length];
        for (int x = 0; x < s.length; x++) {
            for (int l = 0; l < labelTokens.length; l++) {
                s[x][l] = logits[x * vocab + labelTokens[l]];
            }
        }
        return s;
    }

    @Override
    public Optional<MaskedChoices> maskedChoices(LanguageModel model, PromptBatch batch) {
        requireMlm(model);
        return Optional.of(choices(model, batch, true));
    }

    private MaskedChoices choices(LanguageModel model, PromptBatch batch, boolean needGold) {
        int seq = batch.batch().seq();
        int[] ids = batch.batch().ids();
        int[] mask = batch.batch().mask();
        int[] rows = new int[batch.examples()];
        for (int x = 0; x < rows.length; x++) {
            if (batch.candidates()[x] != 1) {
                throw new ZotuneException("objective mlm scores one row per example; example " + x + " has "
                        + batch.candidates()[x] + " candidate rows (a decoder prompt, not a masked-LM prompt)");
            }
            int r = batch.firstRow()[x];
            int at = -1;
            for (int t = 0; t < seq; t++) {
                int i = r * seq + t;
                if (mask[i] != 0 && ids[i] == maskId) {
                    if (at >= 0) {
                        throw new ZotuneException("objective mlm: example " + x + " holds more than one mask token");
                    }
                    at = i;
                }
            }
            if (at < 0) {
                throw new ZotuneException("objective mlm: example " + x + " holds no mask token (id " + maskId + ")");
            }
            rows[x] = at;
        }
        int[] gold = batch.gold().clone();
        for (int x = 0; x < gold.length; x++) {
            if (gold[x] >= labelTokens.length || (needGold && gold[x] < 0)) {
                throw new ZotuneException("objective mlm: example " + x + " has gold label " + gold[x] + ", not one of "
                        + labelTokens.length + " labels");
            }
        }
        return new MaskedChoices(rows, labelTokens.clone(), gold);
    }

    private static EncoderModel requireMlm(LanguageModel model) {
        if (!(model instanceof EncoderModel e) || model.kind() != LanguageModel.Kind.MASKED) {
            throw new ZotuneException("objective mlm scores a masked-LM head and needs an encoder (BERT, RoBERTa); "
                    + "this model is a " + model.config().family() + " decoder");
        }
        if (!e.hasMlmHead()) {
            throw new ZotuneException("objective mlm scores the masked-LM head, and this " + model.config().family()
                    + " checkpoint has none (a bare encoder, e.g. a sentence-embedding model)");
        }
        return e;
    }
}
