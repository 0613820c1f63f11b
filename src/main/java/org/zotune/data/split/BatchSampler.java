package org.zotune.data.split;

import java.util.Arrays;
import org.zotune.ZotuneException;

/**
 * Which examples make up training step t's batch, as a pure function of (n, batch size, seed, t): each epoch visits
 * every example once in the order of its own seeded permutation, cut into consecutive batches of {@code batchSize}
 * (an epoch's last batch is smaller when batchSize does not divide n). Epoch e's permutation is
 * {@link Shuffle#permutation}(n, s_e) with s_e = SplitMix64(seed ^ (e · 0xD1B54A32D192ED03)).nextLong(), so a run
 * resumed at step t sees the same batches as one that never stopped. Not thread-safe (it caches the current epoch's
 * order).
 */
public final class BatchSampler {
    private final int n;
    private final int batchSize;
    private final long seed;
    private final int perEpoch;
    private long cachedEpoch = -1;
    private int[] cachedPerm;

    public BatchSampler(int n, int batchSize, long seed) {
        if (n <= 0 || batchSize <= 0) {
            throw new ZotuneException("batch sampler: need examples and a positive batch size, got " + n + " and "
                    + batchSize);
        }
        this.n = n;
        this.batchSize = batchSize;
        this.seed = seed;
        this.perEpoch = (int) ((n + (long) batchSize - 1) / batchSize); // long: n + batchSize may pass 2^31
    }

    /** Batches per epoch: ceil(n / batchSize). */
    public int batchesPerEpoch() {
        return perEpoch;
    }

    /** The epoch's permutation of 0..n-1. */
    public int[] epochOrder(long epoch) {
        if (epoch != cachedEpoch) {
            long s = new SplitMix64(seed ^ (epoch * 0xD1B54A32D192ED03L)).nextLong();
            cachedPerm = Shuffle.permutation(n, s);
            cachedEpoch = epoch;
        }
        return cachedPerm.clone();
    }

    /** The example indices of step {@code step} (0-based). */
    public int[] batch(long step) {
        if (step < 0) {
            throw new ZotuneException("batch sampler: negative step " + step);
        }
        long epoch = step / perEpoch;
        int k = (int) (step % perEpoch);
        int[] order = epochOrder(epoch);
        return Arrays.copyOfRange(order, (int) ((long) k * batchSize), (int) Math.min(n, (k + 1L) * batchSize));
    }
}
