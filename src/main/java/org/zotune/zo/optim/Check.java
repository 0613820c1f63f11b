package org.zotune.zo.optim;

import org.zotune.ZotuneException;

/** Validation helpers: one-line ZotuneExceptions that name the offending field. */
final class Check {
    private Check() {
    }

    static void finiteNonNegative(String owner, String field, double v) {
        if (!Double.isFinite(v) || v < 0) {
            throw new ZotuneException(owner + ": " + field + " must be a finite number >= 0, got " + v);
        }
    }

    static void finitePositive(String owner, String field, double v) {
        if (!Double.isFinite(v) || v <= 0) {
            throw new ZotuneException(owner + ": " + field + " must be a finite number > 0, got " + v);
        }
    }

    static void unitInterval(String owner, String field, double v) {
        if (!(v >= 0 && v <= 1)) { // also rejects NaN
            throw new ZotuneException(owner + ": " + field + " must lie in [0, 1], got " + v);
        }
    }
}
