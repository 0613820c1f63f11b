package org.zotune.data.split;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;
import org.zotune.data.io.LabelSentenceReader;
import org.zotune.data.io.TableReader;

class SamplingTest {

    @Test
    void splitMix64MatchesTheJdkImplementationOfTheSameAlgorithm() {
        // java.util.SplittableRandom(seed).nextLong() is SplitMix64 with the golden gamma: an independent oracle
        for (long seed : new long[] {0, 1, 42, -7, 0x123456789ABCDEFL}) {
            SplitMix64 ours = new SplitMix64(seed);
            SplittableRandom jdk = new SplittableRandom(seed);
            for (int i = 0; i < 1000; i++) {
                assertEquals(jdk.nextLong(), ours.nextLong(), "seed " + seed + " draw " + i);
            }
        }
    }

    @Test
    void nextIntIsInRangeAndRoughlyUniform() {
        SplitMix64 r = new SplitMix64(5);
        int[] counts = new int[6];
        for (int i = 0; i < 60000; i++) {
            counts[r.nextInt(6)]++;
        }
        for (int c : counts) {
            assertTrue(c > 9500 && c < 10500, Arrays.toString(counts));
        }
        assertThrows(IllegalArgumentException.class, () -> r.nextInt(0));
    }

    @Test
    void permutationIsAPermutationAndDependsOnlyOnTheSeed() {
        int[] p = Shuffle.permutation(1000, 42);
        int[] sorted = p.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < 1000; i++) {
            assertEquals(i, sorted[i]);
        }
        assertTrue(Arrays.equals(p, Shuffle.permutation(1000, 42)));
        assertTrue(!Arrays.equals(p, Shuffle.permutation(1000, 43)));
        // Durstenfeld's loop written out independently: i = n-1 .. 1, swap(i, nextInt(i+1))
        SplitMix64 r = new SplitMix64(7);
        Integer[] q = {0, 1, 2, 3, 4};
        for (int i = 4; i > 0; i--) {
            int j = r.nextInt(i + 1);
            Integer t = q[i];
            q[i] = q[j];
            q[j] = t;
        }
        assertEquals(List.of(q), Shuffle.shuffled(List.of(0, 1, 2, 3, 4), 7));
    }

    @Test
    void kShotIsBalancedAndDeterministic() {
        Dataset sst2 = TableReader.sst2(TestData.file("datasets/sst2-glue/train.tsv"), ReadOptions.STRICT);
        Dataset a = Sampling.kShot(sst2, 16, 42);
        Dataset b = Sampling.kShot(sst2, 16, 42);
        Dataset c = Sampling.kShot(sst2, 16, 13);
        assertEquals(32, a.size());
        int[] counts = new int[2];
        for (Example e : a.examples()) {
            counts[e.label()]++;
        }
        assertEquals(16, counts[0]);
        assertEquals(16, counts[1]);
        assertEquals(a.examples(), b.examples());
        assertNotEquals(a.examples(), c.examples());
        assertEquals(32, new HashSet<>(a.examples().stream().map(Example::source).toList()).size(), "no repeats");

        Dataset trec = LabelSentenceReader.read(TestData.file("datasets/trec/TREC.train.all"), 6, ReadOptions.STRICT);
        Dataset t = Sampling.kShot(trec, 16, 1);
        assertEquals(96, t.size());
        // ABBR has 86 examples: k = 87 must name it
        ZotuneException e = assertThrows(ZotuneException.class, () -> Sampling.kShot(trec, 87, 1));
        assertTrue(e.getMessage().endsWith("class '2' has 86 examples, fewer than k = 87"), e.getMessage());
    }

    @Test
    void mezoSplits() {
        Dataset train = TableReader.sst2(TestData.file("datasets/sst2-glue/train.tsv"), ReadOptions.STRICT);
        Dataset dev = TableReader.sst2(TestData.file("datasets/sst2-glue/dev.tsv"), ReadOptions.STRICT);
        Sampling.Splits s = Sampling.mezo(train, dev, 42);
        assertEquals(1000, s.train().size());
        assertEquals(500, s.dev().size());
        assertEquals(872, s.test().size()); // SST-2's evaluation set is smaller than 1000: used whole
        Set<String> trainSources = new HashSet<>(s.train().examples().stream().map(Example::source).toList());
        assertTrue(s.dev().examples().stream().noneMatch(x -> trainSources.contains(x.source())), "train/dev overlap");
        assertTrue(s.test().examples().stream().allMatch(x -> x.source().contains("dev.tsv")));
        // the test sample does not move with the training seed (MeZO fixes it with seed 0)
        assertEquals(s.test().examples(), Sampling.mezo(train, dev, 7).test().examples());
        assertNotEquals(s.train().examples(), Sampling.mezo(train, dev, 7).train().examples());
        Sampling.Splits small = Sampling.split(train, dev, 100, 50, 200, 1, 0);
        assertEquals(200, small.test().size());
        ZotuneException e = assertThrows(ZotuneException.class, () -> Sampling.split(dev, dev, 800, 100, 10, 1, 0));
        assertTrue(e.getMessage().endsWith("872 examples, fewer than the 800 train + 100 dev requested"),
                e.getMessage());
    }

    @Test
    void batchSamplerCoversEveryExampleOncePerEpoch() {
        BatchSampler b = new BatchSampler(10, 4, 3);
        assertEquals(3, b.batchesPerEpoch());
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] seen = new int[10];
            for (int k = 0; k < 3; k++) {
                int[] idx = b.batch(epoch * 3L + k);
                assertEquals(k < 2 ? 4 : 2, idx.length);
                for (int i : idx) {
                    seen[i]++;
                }
            }
            for (int c : seen) {
                assertEquals(1, c, "epoch " + epoch);
            }
        }
        assertTrue(!Arrays.equals(b.epochOrder(0), b.epochOrder(1)), "epochs are reshuffled");
        // a fresh sampler (a resumed run) gives the same batch for the same step
        assertTrue(Arrays.equals(b.batch(7), new BatchSampler(10, 4, 3).batch(7)));
        assertTrue(!Arrays.equals(b.batch(7), new BatchSampler(10, 4, 4).batch(7)));
        assertThrows(ZotuneException.class, () -> new BatchSampler(0, 4, 1));
    }
}
