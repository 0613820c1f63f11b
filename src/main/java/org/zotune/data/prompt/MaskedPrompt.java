package org.zotune.data.prompt;

/**
 * An example turned into a masked-LM prompt: the text around the one mask token. The encoder joins them with the
 * model's own mask token ({@code [MASK]} or {@code <mask>}), so one template serves BERT and RoBERTa.
 *
 * @param source the example's {@code file:line}
 * @param before the text before the mask
 * @param after  the text after the mask
 * @param gold   the index of the right label (in the data set's label order), or -1 when unknown
 */
public record MaskedPrompt(String source, String before, String after, int gold) {
}
