package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** The in-process collectives: sums in rank order on every worker, gathers, and failures that name the worker. */
class InProcessGroupTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    private interface Work<T> {
        T run(Collective c) throws Exception;
    }

    private <T> List<Future<T>> onEach(InProcessGroup g, Work<T> w) {
        List<Future<T>> out = new ArrayList<>();
        for (Collective c : g.members()) {
            out.add(pool.submit(() -> w.run(c)));
        }
        return out;
    }

    @Test
    void allReduceAddsInRankOrderAndEveryWorkerGetsTheSameBits() throws Exception {
        int n = 3;
        // values whose sum depends on the order of addition in double: 1e16 + 1 - 1e16
        double[][] in = {{1e16, 0.1, 3}, {1.0, 0.2, -4}, {-1e16, 0.3, 5}};
        double[] inRankOrder = new double[3];
        for (int i = 0; i < 3; i++) {
            inRankOrder[i] = ((0.0 + in[0][i]) + in[1][i]) + in[2][i];
        }
        InProcessGroup g = new InProcessGroup(n, 10);
        List<Future<double[]>> f = onEach(g, c -> {
            double[] mine = in[c.rank()].clone();
            for (int rep = 0; rep < 50; rep++) { // many collectives back to back reuse the rendezvous
                double[] v = in[c.rank()].clone();
                c.allReduceSum(v);
                if (rep == 0) {
                    mine = v;
                } else {
                    assertArrayEquals(mine, v);
                }
            }
            return mine;
        });
        for (Future<double[]> r : f) {
            assertArrayEquals(inRankOrder, r.get());
        }
        assertEquals(0.0, inRankOrder[0]); // 1e16 + 1 rounds to 1e16: the order is the one stated
    }

    @Test
    void allGatherReturnsEveryRanksValuesInRankOrder() throws Exception {
        InProcessGroup g = new InProcessGroup(4, 10);
        List<Future<long[][]>> f = onEach(g, c -> c.allGather(new long[] {c.rank() * 10L, -c.rank()}));
        for (Future<long[][]> r : f) {
            long[][] all = r.get();
            for (int k = 0; k < 4; k++) {
                assertArrayEquals(new long[] {k * 10L, -k}, all[k]);
            }
        }
    }

    @Test
    void aWorkerThatNeverArrivesIsNamedAfterTheTimeout() throws Exception {
        InProcessGroup g = new InProcessGroup(3, 0.3);
        List<Collective> m = g.members();
        Future<?> r0 = pool.submit(() -> {
            m.get(0).allReduceSum(new double[1]);
            return null;
        });
        Future<?> r2 = pool.submit(() -> {
            m.get(2).allReduceSum(new double[1]);
            return null;
        });
        for (Future<?> r : List.of(r0, r2)) {
            ExecutionException e = assertThrows(ExecutionException.class, r::get);
            WorkerFailure w = (WorkerFailure) e.getCause();
            assertEquals(1, w.rank());
            assertTrue(w.getMessage().contains("worker rank 1 of 3 did not reach collective 1 within 0.3 s"),
                    w.getMessage());
        }
        // the group stays failed: a late arrival is told at once
        WorkerFailure late = assertThrows(WorkerFailure.class, () -> m.get(1).allReduceSum(new double[1]));
        assertEquals(1, late.rank());
    }

    @Test
    void anAbortingWorkerIsNamedAndNobodyWaits() throws Exception {
        InProcessGroup g = new InProcessGroup(2, 600);
        List<Collective> m = g.members();
        Future<?> r0 = pool.submit(() -> {
            m.get(0).allReduceSum(new double[1]);
            return null;
        });
        Thread.sleep(50);
        m.get(1).abort(new IllegalStateException("out of memory on the forward"));
        ExecutionException e = assertThrows(ExecutionException.class, r0::get);
        assertEquals("worker rank 1 of 2 failed: out of memory on the forward", e.getCause().getMessage());
    }

    @Test
    void badArgumentsAreOneLine() {
        assertEquals("workers must be >= 1, got 0",
                assertThrows(ZotuneException.class, () -> new InProcessGroup(0, 1)).getMessage());
        assertEquals("worker timeout must be > 0 seconds, got 0.0",
                assertThrows(ZotuneException.class, () -> new InProcessGroup(2, 0)).getMessage());
    }
}
