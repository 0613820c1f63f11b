package org.zotune.train;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.IntConsumer;

/**
 * The progress of an evaluation that no progress bar shows, as lines on a log at most every {@link #everySeconds}
 * ("eval dev: 80 of 872 examples, 10.1 s, 8 examples/s"; none after the last batch): `zotune eval`, and a run's
 * evaluations outside its bar (train's at step 0 and after the last step, DFO's). MiniLM scores the 872 SST-2
 * sentences in about 100 s on two CPU cores.
 */
public final class EvalProgressLines {
    /** Seconds between two lines (tests set 0: a line after every batch but the last). */
    public static volatile double everySeconds = 10;

    private final PrintWriter log;
    private final String label;
    private final long started = System.nanoTime();
    private long last = started;

    /** Lines starting with {@code label} ("eval", "eval dev") on {@code log}. */
    public EvalProgressLines(PrintWriter log, String label) {
        this.log = log;
        this.label = label;
    }

    /**
     * The listener of an evaluation of {@code total} examples (the progress an
     * {@link org.zotune.train.objective.Evaluator} tells).
     */
    public static IntConsumer of(PrintWriter log, String label, int total) {
        EvalProgressLines lines = new EvalProgressLines(log, label);
        return done -> lines.scored(done, total);
    }

    /** Told after each batch: {@code done} of {@code total} examples scored. */
    public void scored(int done, int total) {
        long now = System.nanoTime();
        if (done < total && (now - last) / 1e9 >= everySeconds) {
            last = now;
            double s = (now - started) / 1e9;
            log.printf(Locale.ROOT, "%s: %d of %d examples, %.1f s, %.0f examples/s%n", label, done, total, s,
                    done / s);
            log.flush();
        }
    }
}
