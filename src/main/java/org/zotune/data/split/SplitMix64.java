package org.zotune.data.split;

/**
 * The SplitMix64 generator (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014;
 * the variant Vigna publishes as splitmix64.c): state += 0x9E3779B97F4A7C15; output = mix(state) with
 * z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9, z = (z ^ (z >>> 27)) * 0x94D049BB133111EB, z ^ (z >>> 31).
 * Written out here so that zotune's shuffles are fixed by this file, not by a JDK version.
 */
public final class SplitMix64 {
    private long state;

    public SplitMix64(long seed) {
        this.state = seed;
    }

    public long nextLong() {
        long z = (state += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * A uniform integer in [0, bound) by rejection: draws 64-bit values until one falls below the largest multiple
     * of bound that fits in 2^64, and returns it modulo bound (no bias).
     */
    public int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive: " + bound);
        }
        // 2^64 mod bound, computed in unsigned arithmetic: values below it are rejected
        long threshold = Long.remainderUnsigned(-(long) bound, bound);
        while (true) {
            long r = nextLong();
            if (Long.compareUnsigned(r, threshold) >= 0) {
                return (int) Long.remainderUnsigned(r, bound);
            }
        }
    }
}
