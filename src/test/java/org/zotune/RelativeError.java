package org.zotune;

/** ||a − b|| / ||b|| over every value, in double: how far a computed vector is from a reference one. */
public final class RelativeError {
    private RelativeError() {
    }

    /** ||a − b|| / ||b||; a and b of the same length. */
    public static double of(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("lengths " + a.length + " and " + b.length + " differ");
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
