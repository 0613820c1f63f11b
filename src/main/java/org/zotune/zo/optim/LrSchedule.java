package org.zotune.zo.optim;

/**
 * Learning rate η_t for step t = 1, 2, …: constant, or linear decay η·(1 - (t-1)/steps) (η at step 1,
 * η/steps at the last step, as Hugging Face's linear schedule without warm-up). Computed on the host in
 * double and passed to the update as one float32.
 *
 * @param kind  CONSTANT or LINEAR
 * @param lr    the peak rate η (finite, >= 0)
 * @param steps the run length for LINEAR (>= 1; ignored for CONSTANT)
 */
public record LrSchedule(Kind kind, double lr, long steps) {
    public enum Kind { CONSTANT, LINEAR }

    public LrSchedule {
        if (kind == null) {
            throw new org.zotune.ZotuneException("lr schedule: kind must be constant or linear");
        }
        Check.finiteNonNegative("lr schedule", "lr", lr);
        if (kind == Kind.LINEAR && steps < 1) {
            throw new org.zotune.ZotuneException("lr schedule: steps must be >= 1 for a linear decay, got " + steps);
        }
    }

    public static LrSchedule constant(double lr) {
        return new LrSchedule(Kind.CONSTANT, lr, 0);
    }

    public static LrSchedule linear(double lr, long steps) {
        return new LrSchedule(Kind.LINEAR, lr, steps);
    }

    /** η_t as the float32 the update uses. */
    public float at(long t) {
        if (kind == Kind.CONSTANT) {
            return (float) lr;
        }
        return (float) (lr * Math.max(0.0, 1.0 - (double) (t - 1) / steps));
    }
}
