package org.zotune.data.batch;

/**
 * One example as token rows: one row per candidate answer (one row for language-model text).
 *
 * @param source      the example's {@code file:line}
 * @param rows        token ids per candidate, prompt then answer, already truncated to the maximum length
 * @param answerStart per row, the index of the first answer token (the tokens scored / trained on are
 *                    rows[i][answerStart[i] ..])
 * @param gold        the right candidate's index, -1 if unknown
 */
public record EncodedExample(String source, int[][] rows, int[] answerStart, int gold) {

    public int candidates() {
        return rows.length;
    }
}
