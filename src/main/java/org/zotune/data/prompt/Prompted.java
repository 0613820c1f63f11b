package org.zotune.data.prompt;

import java.util.List;

/**
 * An example turned into text for a decoder LM: the prompt alone and, for each candidate answer, the full text
 * (prompt followed by that candidate). The candidate's tokens are those the full text's encoding adds after the part
 * it shares with the prompt's encoding (see {@link org.zotune.data.batch.PromptEncoder}).
 *
 * @param source     the example's {@code file:line}
 * @param prompt     the text before the answer
 * @param candidates one full text per candidate, in label / option order
 * @param gold       the index of the right candidate, or -1 when unknown
 */
public record Prompted(String source, String prompt, List<String> candidates, int gold) {
    public Prompted {
        candidates = List.copyOf(candidates);
    }
}
