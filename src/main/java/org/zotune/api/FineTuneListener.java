package org.zotune.api;

/**
 * Receives a run's steps and evaluations as they happen, on the thread that runs the fine-tune. Returning
 * {@link Decision#STOP} ends the run after the current step, with a checkpoint (so it can be resumed) and the
 * final weights exported; the result's {@code stopped} is then {@code "listener"}. A listener that throws ends the
 * run with that exception.
 */
public interface FineTuneListener {
    /** Whether the run goes on. */
    enum Decision {
        /** Go on to the next step. */
        CONTINUE,
        /** End the run after the current step, with a checkpoint. */
        STOP
    }

    /** After each step. */
    default Decision onStep(StepMetrics step) {
        return Decision.CONTINUE;
    }

    /**
     * After each evaluation (dev before training and every eval_every steps; test on the best weights). A new best's
     * best/ folder is written in the background with that step's checkpoint, so it may not be on disk yet here; it
     * is by the time the fine-tune returns.
     */
    default Decision onEvaluation(Evaluation evaluation) {
        return Decision.CONTINUE;
    }

    /** A listener that lets the run go to its end. */
    FineTuneListener NONE = new FineTuneListener() {
    };
}
