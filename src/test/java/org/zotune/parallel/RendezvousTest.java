package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/**
 * The multi-process rendezvous (the exchange of NCCL's unique id over TCP) with the ranks as threads on this
 * machine: every rank gets rank 0's id, the others may start first; ranks that do not fit together (another world
 * size, a rank twice), a rank that never comes and a rank 0 that is not there are one line naming the rank.
 */
class RendezvousTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    private static Rendezvous.Address freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return new Rendezvous.Address("127.0.0.1", s.getLocalPort());
        }
    }

    private Future<byte[]> rank(Rendezvous.Address at, int rank, int size, byte[] id, AtomicInteger made,
            double timeout) {
        return pool.submit(() -> Rendezvous.exchange(at, rank, size, () -> {
            made.incrementAndGet();
            return id;
        }, timeout));
    }

    private static Throwable failure(Future<byte[]> f) throws InterruptedException {
        try {
            f.get(60, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            return e;
        }
    }

    @Test
    void everyRankGetsRankZerosIdEvenWhenStartedFirst() throws Exception {
        Rendezvous.Address at = freePort();
        byte[] id = new byte[128];
        new Random(5).nextBytes(id);
        AtomicInteger made = new AtomicInteger();
        List<Future<byte[]>> ranks = new ArrayList<>();
        for (int k = 3; k >= 1; k--) {
            ranks.add(rank(at, k, 4, new byte[128], made, 30));
        }
        Thread.sleep(300); // the others are already knocking
        ranks.add(rank(at, 0, 4, id, made, 30));
        for (Future<byte[]> f : ranks) {
            assertArrayEquals(id, f.get(60, TimeUnit.SECONDS));
        }
        assertEquals(1, made.get(), "only rank 0 makes the id");
        assertArrayEquals(id, Rendezvous.exchange(at, 0, 1, () -> id, 1), "one rank needs nobody");
    }

    @Test
    void anotherWorldSizeIsNamed() throws Exception {
        Rendezvous.Address at = freePort();
        AtomicInteger made = new AtomicInteger();
        Future<byte[]> zero = rank(at, 0, 3, new byte[128], made, 30);
        Future<byte[]> one = rank(at, 1, 2, new byte[128], made, 30);
        Throwable z = failure(zero);
        Throwable o = failure(one);
        assertTrue(z instanceof WorkerFailure w && w.rank() == 1, "rank 0: " + z);
        assertEquals("rendezvous " + at + ": rank 1 was started with --world-size 2, rank 0 with 3", z.getMessage());
        assertEquals("rendezvous " + at + ": rank 0 refused rank 1: rank 1 was started with --world-size 2, rank 0 "
                + "with 3", o.getMessage());
    }

    @Test
    void aRankTwiceIsNamed() throws Exception {
        Rendezvous.Address at = freePort();
        AtomicInteger made = new AtomicInteger();
        Future<byte[]> zero = rank(at, 0, 3, new byte[128], made, 30);
        rank(at, 1, 3, new byte[128], made, 5);
        Thread.sleep(500);
        rank(at, 1, 3, new byte[128], made, 5);
        Throwable z = failure(zero);
        assertTrue(z instanceof WorkerFailure w && w.rank() == 1, "rank 0: " + z);
        assertEquals("rendezvous " + at + ": rank 1 connected twice (two processes with --rank 1?)", z.getMessage());
    }

    @Test
    void aMissingRankIsNamedAfterTheTimeout() throws Exception {
        Rendezvous.Address at = freePort();
        AtomicInteger made = new AtomicInteger();
        Future<byte[]> zero = rank(at, 0, 4, new byte[128], made, 1.5);
        Future<byte[]> two = rank(at, 2, 4, new byte[128], made, 30);
        Throwable z = failure(zero);
        assertTrue(z instanceof WorkerFailure w && w.rank() == 1, "rank 0: " + z);
        assertEquals("rendezvous " + at + ": ranks 1, 3 of 4 did not connect within 1.5 s", z.getMessage());
        assertEquals(128, two.get(10, TimeUnit.SECONDS).length, "rank 2 was answered before");
    }

    @Test
    void withoutRankZeroTheOthersStop() throws Exception {
        Rendezvous.Address at = freePort();
        long t0 = System.nanoTime();
        WorkerFailure f = assertThrows(WorkerFailure.class, () -> Rendezvous.exchange(at, 2, 3, () -> null, 1));
        assertEquals(0, f.rank());
        assertTrue(f.getMessage().startsWith("rendezvous " + at + ": rank 2 of 3 could not reach rank 0 within 1.0 s"),
                f.getMessage());
        assertTrue((System.nanoTime() - t0) / 1e9 < 20, "stops after about the timeout");
    }

    @Test
    void badAddressesAndRanksAreOneLine() {
        assertEquals(new Rendezvous.Address("node0", 29500), Rendezvous.Address.parse("node0:29500"));
        assertEquals(new Rendezvous.Address("::1", 80), Rendezvous.Address.parse("::1:80"));
        assertEquals("--rendezvous node0: expected host:port (e.g. node0:29500)",
                assertThrows(ZotuneException.class, () -> Rendezvous.Address.parse("node0")).getMessage());
        assertEquals("--rendezvous node0:x: the port is not a number",
                assertThrows(ZotuneException.class, () -> Rendezvous.Address.parse("node0:x")).getMessage());
        assertEquals("--rendezvous node0:70000: the port must be 1 … 65535",
                assertThrows(ZotuneException.class, () -> Rendezvous.Address.parse("node0:70000")).getMessage());
        Rendezvous.Address at = new Rendezvous.Address("127.0.0.1", 1);
        assertEquals("--rank 3 is outside 0 … 1 (--world-size 2)", assertThrows(ZotuneException.class,
                () -> Rendezvous.exchange(at, 3, 2, () -> null, 1)).getMessage());
        assertEquals("--world-size must be >= 1, got 0", assertThrows(ZotuneException.class,
                () -> Rendezvous.exchange(at, 0, 0, () -> null, 1)).getMessage());
    }
}
