package org.zotune.train.objective;

/**
 * What a masked-LM prompt's loss reads, for an engine that computes it itself (the captured CUDA step, later): the MLM
 * head's logits at {@code rows} (flat b·seq + t, one mask per example), restricted to the columns {@code tokens} (one
 * per label), give s[x][c] = logits[rows[x], tokens[c]]; loss = mean over x of −log softmax(s[x])[gold[x]].
 *
 * @param rows   per example, the flat position of its mask token
 * @param tokens per label, the verbalizer word's token id
 * @param gold   per example, the gold label's index
 */
public record MaskedChoices(int[] rows, int[] tokens, int[] gold) {
}
