package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;

/**
 * A training objective: a float32 scalar computed from one forward pass of {@code model} over {@code batch} with
 * the parameters {@code weights} gives (plain θ, or θ ± εu under a ZO perturbation strategy). Written against
 * {@link Ops} only, so it runs on any backend. ZO optimisation needs only the value, so objectives need not be
 * differentiable (ALGORITHMS.md §6). The objective owns what it scores: a batch carries the answer tokens as labels
 * ({@link PromptBatch#labels}), and the objective decides which logits score them and which models it can score (a
 * causal-only objective refuses a masked LM in one line).
 */
public interface Objective {
    String name();

    float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch);

    /**
     * The targets of the model's logits ([rows·seq], -1 = not scored) when this objective's loss on {@code batch}
     * is exactly the mean token cross-entropy over them: one {@link Ops#crossEntropy} of the forward pass's logits
     * against these targets, giving (Σ, count), and loss = Σ / count. An engine may then compute that loss itself
     * (the CUDA engine does it inside its captured step) instead of calling {@link #loss}. Empty for any other
     * objective (the default). Refuses, as {@link #loss} would, a model or a batch it cannot score.
     */
    default Optional<int[]> tokenTargets(LanguageModel model, PromptBatch batch) {
        return Optional.empty();
    }

    /**
     * For a masked-LM prompt objective, the mask rows, label tokens and gold labels its loss reads
     * ({@link MaskedChoices}), so that an engine may compute that loss itself (the captured CUDA step); empty for any
     * other objective (the default). Refuses, as {@link #loss} would, a model or a batch it cannot score.
     */
    default Optional<MaskedChoices> maskedChoices(LanguageModel model, PromptBatch batch) {
        return Optional.empty();
    }

    /**
     * For a candidate-scoring objective (classification, multiple choice, −accuracy, −F1), what its loss reads
     * ({@link CandidateChoices}), so that an engine may compute that loss itself (the captured CUDA step); empty for
     * any other objective (the default). Refuses, as {@link #loss} would, a model or a batch it cannot score.
     */
    default Optional<CandidateChoices> candidateChoices(LanguageModel model, PromptBatch batch) {
        return Optional.empty();
    }

    /**
     * For an encoder objective that pools hidden states (head, similarity), what its loss reads
     * ({@link PooledChoices}), so that an engine may compute that loss itself (the captured CUDA step); empty for any
     * other objective (the default). Refuses, as {@link #loss} would, a model or a batch it cannot score.
     */
    default Optional<PooledChoices> pooledChoices(LanguageModel model, PromptBatch batch) {
        return Optional.empty();
    }

    /** The objective named {@code lm}, {@code classification}, {@code accuracy} (−accuracy) or {@code f1} (−F1). */
    static Objective named(String name) {
        return switch (name) {
            case "lm" -> new CausalLmLoss();
            case "classification" -> new ClassificationLoss();
            case "accuracy" -> new NegativeAccuracy();
            case "f1" -> new NegativeF1();
            case "mlm" -> throw new IllegalArgumentException("objective mlm is built from its template's label tokens "
                    + "and the tokenizer's mask: new MaskedLmPrompt(...)");
            default -> throw new org.zotune.ZotuneException("unknown objective '" + name
                    + "' (known: lm, classification, accuracy, f1)");
        };
    }
}
