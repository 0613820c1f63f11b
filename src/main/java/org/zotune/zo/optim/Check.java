package org.zotune.zo.optim;

import org.zotune.ZotuneException;
import org.zotune.tensor.DType;

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

    /** The optimiser-state storage type: f32 (null means f32), bf16 or f16. */
    static DType stateDType(String owner, DType d) {
        if (d == null) {
            return DType.F32;
        }
        if (d != DType.F32 && d != DType.BF16 && d != DType.F16) {
            throw new ZotuneException(owner + ": stateDType must be f32, bf16 or f16, got " + d);
        }
        return d;
    }

    static void unitInterval(String owner, String field, double v) {
        if (!(v >= 0 && v <= 1)) { // also rejects NaN
            throw new ZotuneException(owner + ": " + field + " must lie in [0, 1], got " + v);
        }
    }
}
