package org.zotune.model;

/** A decoder-only language model: its logits at position t predict token t+1. */
public interface CausalLM extends LanguageModel {
    @Override
    default Kind kind() {
        return Kind.CAUSAL;
    }
}
