package org.zotune.zo.optim;

import org.zotune.ZotuneException;

/**
 * The non-finite-step rule every ZO step shares (ALGORITHMS.md §2): a step whose ℓ± or g is NaN or ±inf skips its
 * update and is counted; after {@code maxBadSteps} such steps in a row the run stops with a {@link ZotuneException}
 * (θ and the optimiser state are then those of the last good step). A good step resets the run of bad ones.
 */
public final class BadStepGuard {
    private final int maxBadSteps;
    private long skipped;
    private int badInARow;

    public BadStepGuard(int maxBadSteps) {
        if (maxBadSteps < 1) {
            throw new ZotuneException("zo step: maxBadSteps must be >= 1, got " + maxBadSteps);
        }
        this.maxBadSteps = maxBadSteps;
    }

    /** True when any ℓ±_k or g_k of the q samples is NaN or ±inf. */
    public static boolean nonFinite(float[] lossPlus, float[] lossMinus, float[] g) {
        boolean bad = false;
        for (int k = 0; k < g.length; k++) {
            bad |= !Float.isFinite(lossPlus[k]) || !Float.isFinite(lossMinus[k]) || !Float.isFinite(g[k]);
        }
        return bad;
    }

    /**
     * Records whether step {@code step} was bad; {@code lossPlus}, {@code lossMinus}: sample 0's losses, for the
     * message. Throws after {@code maxBadSteps} bad steps in a row.
     */
    public void record(long step, boolean bad, float lossPlus, float lossMinus) {
        if (!bad) {
            badInARow = 0;
            return;
        }
        skipped++;
        badInARow++;
        if (badInARow >= maxBadSteps) {
            throw new ZotuneException("zo step " + step + ": the loss was NaN or infinite in " + badInARow
                    + " steps in a row (last: l+ = " + lossPlus + ", l- = " + lossMinus + "); parameters are unchanged"
                    + " since the last good step; lower the learning rate or eps, or check the data");
        }
    }

    /** Counts a skipped step without judging it (replay of a recorded skip). */
    public void countSkipped() {
        skipped++;
    }

    /** Sets the counters of a resumed run. */
    public void restore(long skippedSteps, int badRow) {
        this.skipped = skippedSteps;
        this.badInARow = badRow;
    }

    /** Steps skipped so far. */
    public long skipped() {
        return skipped;
    }

    /** Bad steps in a row at the end of the last step recorded. */
    public int badInARow() {
        return badInARow;
    }
}
