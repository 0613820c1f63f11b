package org.zotune.dfo;

/**
 * Where a candidate loss reads the logits: per candidate row its answer positions (those with a target), k per row
 * (the most of any row; a row with fewer is filled with its first position under target −1, which the token loss
 * skips and the row sum counts as nothing). The population's decoders compute the LM head on these rows only
 * (rows·k instead of rows·seq: at GPT-2 large's shape 1280 rows instead of 81 920, whose logits would pass 2^31
 * elements); each row's (Σ token losses, count) is then the whole row's.
 *
 * @param positions [rows·k] flat positions r·seq + t, row r's at [r·k, (r + 1)·k)
 * @param targets   [rows·k] their targets, −1 for a filler
 * @param perRow    k
 */
record AnswerRows(int[] positions, int[] targets, int perRow) {

    /** From a candidate batch's targets [rows·seq] (−1 where no answer token is scored). */
    static AnswerRows of(int[] targets, int seq) {
        if (seq <= 0 || targets.length % seq != 0) {
            throw new IllegalArgumentException(targets.length + " targets in rows of " + seq);
        }
        int rows = targets.length / seq;
        int k = 1;
        for (int r = 0; r < rows; r++) {
            int n = 0;
            for (int t = 0; t < seq; t++) {
                n += targets[r * seq + t] >= 0 ? 1 : 0;
            }
            k = Math.max(k, n);
        }
        int[] positions = new int[Math.multiplyExact(rows, k)];
        int[] tg = new int[positions.length];
        for (int r = 0; r < rows; r++) {
            int j = r * k;
            for (int t = 0; t < seq; t++) {
                if (targets[r * seq + t] >= 0) {
                    positions[j] = r * seq + t;
                    tg[j++] = targets[r * seq + t];
                }
            }
            for (; j < (r + 1) * k; j++) {
                positions[j] = r * seq;
                tg[j] = -1;
            }
        }
        return new AnswerRows(positions, tg, k);
    }
}
