package org.zotune.api;

/**
 * Told how far an evaluation ({@link Model#evaluate(DataSet, int, int, long, EncoderObjective, boolean, EvalProgress)})
 * has got: after each batch, the examples scored so far and how many there are in all. Called on the evaluating
 * thread; a slow listener slows the evaluation.
 */
@FunctionalInterface
public interface EvalProgress {
    /** A listener that ignores every update. */
    EvalProgress NONE = (done, total) -> {
    };

    /** {@code done} of {@code total} examples scored ({@code done} rises to {@code total}). */
    void scored(int done, int total);
}
