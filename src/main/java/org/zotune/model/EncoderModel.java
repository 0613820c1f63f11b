package org.zotune.model;

import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/**
 * A bidirectional encoder (BERT, RoBERTa): its last hidden states for sentence embeddings and, when the checkpoint
 * has the masked-LM head, the logits at chosen positions. {@link #forward} is the MLM logits at every position.
 */
public interface EncoderModel extends LanguageModel {

    @Override
    default Kind kind() {
        return Kind.MASKED;
    }

    /** Whether the model has the masked-LM head (a ...ForMaskedLM checkpoint), not only the body. */
    boolean hasMlmHead();

    /**
     * The last hidden states [batch·seq, hidden] in the compute dtype.
     *
     * @param tokenTypes [batch·seq] token type (segment) ids, or null for type 0 everywhere
     */
    Tensor hiddenStates(Ops ops, WeightSource weights, Batch batch, int[] tokenTypes);

    /** Whether the checkpoint has BERT's pooler (BertModel's dense + tanh on the first token). */
    default boolean hasPooler() {
        return false;
    }

    /**
     * The pooler's output [batch, hidden]: tanh(dense(h)) of each sequence's first token, {@code hidden} being
     * {@link #hiddenStates} of sequences of length {@code seq}.
     */
    default Tensor pooled(Ops ops, WeightSource weights, Tensor hidden, int seq) {
        throw new org.zotune.ZotuneException(config().family() + " has no pooler");
    }

    /** The MLM head's logits [rows.length, vocab] at rows {@code rows} of {@code hidden} (the flat b·seq + t). */
    Tensor mlmLogits(Ops ops, WeightSource weights, Tensor hidden, int[] rows);
}
