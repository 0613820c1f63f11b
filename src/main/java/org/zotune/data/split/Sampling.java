package org.zotune.data.split;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;

/**
 * k-shot samples and train/dev/test splits, all through {@link Shuffle} (so a seed gives the same examples on every
 * machine).
 */
public final class Sampling {
    /** MeZO's convention for its large-model experiments: 1000 train and 500 dev examples drawn from the training
     * set, 1000 test examples drawn from the original evaluation set. */
    public static final int MEZO_TRAIN = 1000;
    public static final int MEZO_DEV = 500;
    public static final int MEZO_TEST = 1000;

    private Sampling() {
    }

    /** Three data sets made from others. */
    public record Splits(Dataset train, Dataset dev, Dataset test) {
    }

    /**
     * k examples of every class: the data set is shuffled with {@code seed} and, walking the shuffled order, the first
     * k examples of each class are kept; the result lists them in that shuffled order. Classification only; a class
     * with fewer than k examples is an error naming it.
     */
    public static Dataset kShot(Dataset data, int k, long seed) {
        return kShot(data, k, seed, false);
    }

    /**
     * As {@link #kShot(Dataset, int, long)}; with {@code partial}, a class with fewer than k examples keeps all of
     * them instead of being an error (LM-BFF's k-shot generator does this: MeZO's TREC with k = 512, whose smallest
     * class has 86 training questions).
     */
    public static Dataset kShot(Dataset data, int k, long seed, boolean partial) {
        if (data.kind() != Dataset.Kind.CLASSIFICATION) {
            throw new ZotuneException(data.name() + ": k-shot sampling per class needs a classification data set, not "
                    + data.kind());
        }
        if (k <= 0) {
            throw new ZotuneException("k-shot: k must be positive, got " + k);
        }
        data.requireLabels();
        int classes = data.labels().size();
        int[] taken = new int[classes];
        List<Example> out = new ArrayList<>(k * classes);
        for (Example e : Shuffle.shuffled(data.examples(), seed)) {
            if (taken[e.label()] < k) {
                taken[e.label()]++;
                out.add(e);
            }
        }
        for (int c = 0; c < classes; c++) {
            if (taken[c] < k && !partial) {
                throw new ZotuneException(data.name() + ": class '" + data.labels().get(c) + "' has " + taken[c]
                        + " examples, fewer than k = " + k);
            }
        }
        return data.withExamples(data.name() + " (" + k + "-shot, seed " + seed + ")", out);
    }

    /** The first n examples of the data set shuffled with {@code seed}. */
    public static Dataset sample(Dataset data, int n, long seed) {
        if (n <= 0 || n > data.size()) {
            throw new ZotuneException(data.name() + ": cannot sample " + n + " of " + data.size() + " examples");
        }
        return data.withExamples(data.name() + " (" + n + " sampled, seed " + seed + ")",
                Shuffle.shuffled(data.examples(), seed).subList(0, n));
    }

    /**
     * Train and dev drawn without overlap from {@code trainPool} (shuffled with {@code seed}: the first nTrain are
     * train, the next nDev dev), test drawn from {@code evalPool} (shuffled with {@code testSeed}: the first nTest).
     * MeZO keeps the test sample fixed across runs (seed 0) while the train seed varies; pass testSeed = 0 for that.
     * Pools too small are an error naming the sizes.
     */
    public static Splits split(Dataset trainPool, Dataset evalPool, int nTrain, int nDev, int nTest, long seed,
            long testSeed) {
        if (nTrain <= 0 || nDev < 0 || nTest <= 0) {
            throw new ZotuneException("split sizes must be positive (dev may be 0): train " + nTrain + ", dev " + nDev
                    + ", test " + nTest);
        }
        if (nTrain + nDev > trainPool.size()) {
            throw new ZotuneException(trainPool.name() + ": " + trainPool.size() + " examples, fewer than the "
                    + nTrain + " train + " + nDev + " dev requested");
        }
        if (nTest > evalPool.size()) {
            throw new ZotuneException(evalPool.name() + ": " + evalPool.size() + " examples, fewer than the "
                    + nTest + " test requested");
        }
        List<Example> pool = Shuffle.shuffled(trainPool.examples(), seed);
        Dataset train = trainPool.withExamples(trainPool.name() + " (train " + nTrain + ", seed " + seed + ")",
                pool.subList(0, nTrain));
        Dataset dev = nDev == 0 ? null : trainPool.withExamples(trainPool.name() + " (dev " + nDev + ", seed " + seed
                + ")", pool.subList(nTrain, nTrain + nDev));
        Dataset test = evalPool.withExamples(evalPool.name() + " (test " + nTest + ", seed " + testSeed + ")",
                Shuffle.shuffled(evalPool.examples(), testSeed).subList(0, nTest));
        return new Splits(train, dev, test);
    }

    /**
     * MeZO's 1000 / 500 / 1000 splits, test sample seed 0. Like MeZO, an evaluation set smaller than 1000 (SST-2's
     * 872-example dev set, RTE's 277) is used whole, in shuffled order; the train pool must hold 1500.
     */
    public static Splits mezo(Dataset trainPool, Dataset evalPool, long seed) {
        return split(trainPool, evalPool, MEZO_TRAIN, MEZO_DEV, Math.min(MEZO_TEST, evalPool.size()), seed, 0);
    }
}
