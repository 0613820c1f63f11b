package org.zotune.train.objective;

import java.util.Locale;
import org.zotune.ZotuneException;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;

/**
 * The causal shift, which belongs to the causal objectives (and perplexity's scoring), not to batches or engines: a
 * causal LM's logits at position t predict token t+1, so the token at position t + 1 is scored by the logits at t
 * and the last position of a row scores nothing. A masked-LM objective scores each masked position's own token and
 * builds its targets without this class.
 */
public final class NextTokenTargets {
    private NextTokenTargets() {
    }

    /**
     * Every real next token, as Hugging Face computes the loss with {@code labels = input_ids} and -100 at masked
     * positions: target[b, t] = ids[b, t+1] if that token and position t are real, else -1; the last position of
     * each row has no target. Requiring a real source position differs from HF only with left padding, where HF
     * also scores the first real token from a padding position that sees no key (a value that depends on how the
     * attention implementation treats a fully masked row).
     */
    public static int[] of(Batch batch) {
        int seq = batch.seq();
        int[] ids = batch.ids();
        int[] mask = batch.mask();
        int[] targets = new int[ids.length];
        for (int b = 0; b < batch.batch(); b++) {
            for (int t = 0; t < seq; t++) {
                int i = b * seq + t;
                targets[i] = (t + 1 < seq && mask[i] != 0 && mask[i + 1] != 0) ? ids[i + 1] : -1;
            }
        }
        return targets;
    }

    /**
     * The targets that score {@code labels} ([rows·seq], the token to score at each position, -1 elsewhere, as
     * {@link org.zotune.data.batch.PromptBatch#labels}) with a causal LM: target[r, t] = labels[r, t+1], -1 at the
     * last position (a label at position 0 has no earlier position to predict it).
     */
    public static int[] shift(int[] labels, int seq) {
        if (seq <= 0 || labels.length % seq != 0) {
            throw new IllegalArgumentException(labels.length + " labels are not rows of " + seq);
        }
        int[] targets = new int[labels.length];
        for (int i = 0; i < labels.length; i++) {
            targets[i] = (i + 1) % seq != 0 ? labels[i + 1] : -1;
        }
        return targets;
    }

    /**
     * The one-line refusal of a model whose logits do not predict the next token, by {@code what} scores next tokens
     * (e.g. "objective lm").
     */
    public static void requireCausal(LanguageModel model, String what) {
        if (model.kind() != LanguageModel.Kind.CAUSAL) {
            throw new ZotuneException(what + " scores next tokens and needs a causal language model; this model is "
                    + model.kind().name().toLowerCase(Locale.ROOT) + " (its logits predict their own positions)");
        }
    }
}
