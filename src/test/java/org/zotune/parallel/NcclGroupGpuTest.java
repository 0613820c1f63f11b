package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.cuda.Cuda;

/**
 * NcclGroup on real GPUs: the all-reduce is the rank-order sum (0 + v_0 + v_1 + …, computed here independently)
 * bit for bit on every rank, the all-gather returns every rank's values in rank order, one rank on one GPU included;
 * with two or more GPUs, a rank that aborts or never arrives is named by the others instead of hanging them.
 * Needs NCCL (the GPU host's nvidia-nccl-cu13; the launcher finds it): a missing libnccl fails these tests with the
 * one-line message. Skips itself without a usable CUDA device, the multi-GPU cases with fewer than two devices.
 */
@Tag("gpu")
class NcclGroupGpuTest {
    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private static int[] firstDevices(int n) {
        int[] d = new int[n];
        for (int i = 0; i < n; i++) {
            d[i] = i;
        }
        return d;
    }

    /** Runs {@code work} for every rank on its own thread; returns each rank's result (or throws its failure). */
    private static <T> List<Object> onEveryRank(NcclGroup g, IntFunction<T> work) throws InterruptedException {
        ExecutorService pool = Executors.newFixedThreadPool(g.size());
        try {
            List<Future<T>> fs = new ArrayList<>();
            for (int k = 0; k < g.size(); k++) {
                int rank = k;
                fs.add(pool.submit(() -> {
                    Cuda.useDevice(g.devices()[rank]);
                    return work.apply(rank);
                }));
            }
            List<Object> out = new ArrayList<>();
            for (Future<T> f : fs) {
                try {
                    out.add(f.get(120, TimeUnit.SECONDS));
                } catch (java.util.concurrent.ExecutionException e) {
                    out.add(e.getCause());
                } catch (java.util.concurrent.TimeoutException e) {
                    out.add(e);
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    private static double[] values(int rank, int n) {
        Random r = new Random(1000 + rank);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            // magnitudes far apart, so that another summation order would show in the bits
            v[i] = r.nextGaussian() * Math.pow(10, r.nextInt(12) - 6);
        }
        return v;
    }

    private void allReduceAndGatherOn(int ranks) throws InterruptedException {
        int len = 37; // not a power of two; larger than the few values a step exchanges
        try (NcclGroup g = NcclGroup.create(firstDevices(ranks), 60)) {
            List<Collective> members = g.members();
            double[] expected = new double[len];
            for (int i = 0; i < len; i++) {
                double s = 0;
                for (int k = 0; k < ranks; k++) {
                    s += values(k, len)[i];
                }
                expected[i] = s;
            }
            List<Object> sums = onEveryRank(g, k -> {
                double[] v = values(k, len);
                members.get(k).allReduceSum(v);
                return v;
            });
            for (int k = 0; k < ranks; k++) {
                Object got = sums.get(k);
                assertTrue(got instanceof double[], "rank " + k + ": " + got);
                double maxAbs = 0;
                for (int i = 0; i < len; i++) {
                    maxAbs = Math.max(maxAbs, Math.abs(((double[]) got)[i] - expected[i]));
                }
                System.out.printf("NCCL %d rank(s), all-reduce on rank %d: max |nccl - rank-order sum| = %.3e%n",
                        ranks, k, maxAbs);
                assertArrayEquals(expected, (double[]) got, "all-reduce on rank " + k + " of " + ranks
                        + " is the rank-order sum bit for bit");
            }
            List<Object> gathered = onEveryRank(g, k -> members.get(k).allGather(
                    new long[] {k, -7L * k, Long.MIN_VALUE + k}));
            for (int k = 0; k < ranks; k++) {
                long[][] all = (long[][]) gathered.get(k);
                assertEquals(ranks, all.length, "rank " + k);
                for (int j = 0; j < ranks; j++) {
                    assertArrayEquals(new long[] {j, -7L * j, Long.MIN_VALUE + j}, all[j],
                            "rank " + k + " sees rank " + j);
                }
            }
            // repeated collectives of changing lengths (buffers grow) stay correct
            List<Object> again = onEveryRank(g, k -> {
                double[] v = values(k, 300);
                members.get(k).allReduceSum(v);
                double[] w = {k + 0.5};
                members.get(k).allReduceSum(w);
                return w[0];
            });
            double half = 0;
            for (int k = 0; k < ranks; k++) {
                half += k + 0.5;
            }
            for (int k = 0; k < ranks; k++) {
                assertEquals(half, (double) again.get(k), "rank " + k);
            }
        }
    }

    @Test
    void oneRankOnOneGpu() throws InterruptedException {
        System.out.println("NCCL " + NcclGroup.version() + " from " + NcclLibrary.load());
        allReduceAndGatherOn(1);
    }

    @Test
    void everyGpuOfTheMachine() throws InterruptedException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 or more CUDA devices, found " + n);
        allReduceAndGatherOn(n);
    }

    @Test
    void anAbortingRankIsNamedByTheOthers() throws InterruptedException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 or more CUDA devices, found " + n);
        try (NcclGroup g = NcclGroup.create(firstDevices(2), 60)) {
            List<Collective> m = g.members();
            List<Object> r = onEveryRank(g, k -> {
                if (k == 1) {
                    m.get(1).abort(new IllegalStateException("simulated fault"));
                    return "aborted";
                }
                m.get(0).allReduceSum(new double[] {1});
                return "passed";
            });
            assertTrue(r.get(0) instanceof WorkerFailure, "rank 0: " + r.get(0));
            WorkerFailure f = (WorkerFailure) r.get(0);
            System.out.println("rank 0 saw: " + f.getMessage());
            assertEquals(1, f.rank());
            assertEquals("worker rank 1 of 2 failed: simulated fault", f.getMessage());
            // later collectives fail at once, naming the same rank
            WorkerFailure later = assertThrows(WorkerFailure.class, () -> m.get(0).allGather(new long[] {1}));
            assertEquals(1, later.rank());
        }
    }

    @Test
    void aRankThatNeverArrivesIsNamedAfterTheTimeout() throws InterruptedException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 or more CUDA devices, found " + n);
        long start = System.nanoTime();
        try (NcclGroup g = NcclGroup.create(firstDevices(2), 2)) {
            List<Collective> m = g.members();
            List<Object> r = onEveryRank(g, k -> {
                if (k == 1) {
                    return "never arrives";
                }
                m.get(0).allReduceSum(new double[] {1, 2});
                return "passed";
            });
            assertTrue(r.get(0) instanceof WorkerFailure, "rank 0: " + r.get(0));
            WorkerFailure f = (WorkerFailure) r.get(0);
            System.out.println("rank 0 saw: " + f.getMessage());
            assertEquals(1, f.rank());
            assertTrue(f.getMessage().startsWith("worker rank 1 of 2 (GPU 1) did not reach collective 1 within 2.0 s"),
                    f.getMessage());
        }
        double s = (System.nanoTime() - start) / 1e9;
        assertTrue(s < 60, "stopped after " + s + " s instead of hanging");
    }

    @Test
    void aGpuGivenTwiceOrAbsentIsOneLine() {
        int n = Cuda.deviceCount();
        var e = assertThrows(org.zotune.ZotuneException.class, () -> NcclGroup.create(new int[] {0, n}, 10));
        assertEquals("GPU " + n + " is not present (" + n + " usable CUDA devices)", e.getMessage());
        if (n >= 2) {
            e = assertThrows(org.zotune.ZotuneException.class, () -> NcclGroup.create(new int[] {1, 1}, 10));
            assertEquals("GPU 1 given twice (one NCCL rank per GPU)", e.getMessage());
        }
        System.out.println("refused: " + e.getMessage() + " (" + n + " devices)");
    }
    /**
     * The multi-process start on one machine, ranks as threads: rank 0 makes NCCL's unique id, the rendezvous on
     * localhost hands it on, each rank joins with ncclCommInitRank on its own GPU (one rank: GPU 0 alone), and the
     * all-reduce is the rank-order sum bit for bit, as in the single-process group.
     */
    @Test
    void ranksJoinedThroughTheRendezvousReduceInRankOrder() throws Exception {
        int n = Math.min(Cuda.deviceCount(), 2);
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Rendezvous.Address at = new Rendezvous.Address("127.0.0.1", port);
        int len = 5;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<double[]>> fs = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                int rank = k;
                fs.add(pool.submit(() -> {
                    try (NcclGroup g = NcclGroup.join(at, rank, n, rank, 60)) {
                        assertEquals(n, g.size());
                        Collective c = g.members().get(0);
                        assertEquals(rank, c.rank());
                        assertEquals(n, c.worldSize());
                        double[] v = values(rank, len);
                        c.allReduceSum(v);
                        return v;
                    }
                }));
            }
            double[] expected = new double[len];
            for (int i = 0; i < len; i++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += values(k, len)[i];
                }
                expected[i] = s;
            }
            for (int k = 0; k < n; k++) {
                double[] got = fs.get(k).get(120, TimeUnit.SECONDS);
                System.out.printf("rendezvous + ncclCommInitRank, %d rank(s): rank %d got %s%n", n, k,
                        java.util.Arrays.toString(got));
                assertArrayEquals(expected, got, "rank " + k + " of " + n);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
