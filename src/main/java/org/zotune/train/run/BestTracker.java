package org.zotune.train.run;

import org.zotune.train.Checkpoints;
import org.zotune.train.TrainConfig;

/**
 * Best-on-dev bookkeeping: the best dev metric so far and its step (lower is better for loss, higher for accuracy
 * and F1), saving the best weights when it improves, and early stopping after {@code patience} evaluations
 * without a better one. Its state is the checkpoint's {@link Checkpoints.Progress}, so a resumed run continues it.
 */
public final class BestTracker {
    /** Saves the best weights (and evaluates them on test) at step t. */
    @FunctionalInterface
    public interface OnBest {
        void save(long t);
    }

    private final TrainConfig.Metric metric;
    private final int patience;
    private Checkpoints.Progress progress;

    /**
     * @param patience evaluations without a better metric that stop the run (0: never)
     * @param start    the bookkeeping so far (fresh, or from the checkpoint)
     */
    public BestTracker(TrainConfig.Metric metric, int patience, Checkpoints.Progress start) {
        this.metric = metric;
        this.patience = patience;
        this.progress = start;
    }

    /** A fresh run's bookkeeping: no best yet; {@code initialDev} the dev metric before training (NaN: none). */
    public static Checkpoints.Progress fresh(double initialDev) {
        return new Checkpoints.Progress(Double.NaN, -1, 0, initialDev);
    }

    public Checkpoints.Progress progress() {
        return progress;
    }

    /** Whether early stopping has ended the run (a resumed run that had stopped takes no more steps). */
    public boolean stopped() {
        return patience > 0 && progress.evalsWithoutBetter() >= patience;
    }

    /**
     * Records the dev metric {@code value} of step t; on a new best calls {@code onBest}.
     *
     * @param last whether t is the run's last step (early stopping then has nothing left to save)
     * @return true when early stopping ends the run here
     */
    public boolean record(long t, double value, boolean last, OnBest onBest) {
        boolean better = Double.isNaN(progress.bestValue()) || (metric == TrainConfig.Metric.LOSS
                ? value < progress.bestValue() : value > progress.bestValue());
        if (better) {
            progress = new Checkpoints.Progress(value, t, 0, progress.initialDev());
            onBest.save(t);
            return false;
        }
        progress = new Checkpoints.Progress(progress.bestValue(), progress.bestStep(),
                progress.evalsWithoutBetter() + 1, progress.initialDev());
        return patience > 0 && !last && progress.evalsWithoutBetter() >= patience;
    }
}
