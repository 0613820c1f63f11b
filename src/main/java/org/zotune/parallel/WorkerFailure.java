package org.zotune.parallel;

import org.zotune.ZotuneException;

/** A data-parallel worker failed or stopped answering; {@link #rank()} names it. */
public final class WorkerFailure extends ZotuneException {
    private final int rank;

    public WorkerFailure(int rank, String message) {
        super(message);
        this.rank = rank;
    }

    /** The worker that failed or did not arrive. */
    public int rank() {
        return rank;
    }
}
