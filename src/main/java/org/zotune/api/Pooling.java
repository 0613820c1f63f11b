package org.zotune.api;

/** How an encoder's last hidden states become one sentence embedding ({@link Model#embed}). */
public enum Pooling {
    /** The mean over the real (unpadded) tokens, special tokens included: sentence-transformers' pooling. */
    MEAN,
    /** The first token's ([CLS] for BERT, {@code <s>} for RoBERTa). */
    CLS
}
