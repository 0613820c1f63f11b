package org.zotune.data.split;

import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic shuffling: Fisher-Yates (Durstenfeld's form) driven by {@link SplitMix64} seeded with the given
 * seed: for i = n-1 down to 1, swap element i with element j = nextInt(i+1). The result depends only on the seed
 * and the input order (never on hash codes or the JVM), so a seed names the same sample everywhere.
 */
public final class Shuffle {
    private Shuffle() {
    }

    /** A permutation of 0..n-1. */
    public static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        SplitMix64 rng = new SplitMix64(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** A shuffled copy of {@code items}. */
    public static <T> List<T> shuffled(List<T> items, long seed) {
        int[] p = permutation(items.size(), seed);
        List<T> out = new ArrayList<>(items.size());
        for (int i : p) {
            out.add(items.get(i));
        }
        return out;
    }
}
