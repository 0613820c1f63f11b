package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;

/**
 * The rendezvous between real OS processes (each rank a JVM started on the test classpath, {@link RendezvousMain}),
 * through a shared file and through TCP: every rank prints rank 0's id, whoever starts first. The file rendezvous's
 * own rules with the ranks as threads: a file left by an earlier run is never taken for this run's, a file that is
 * not a rendezvous file is refused and kept, another world size and a rank started twice are named, a missing rank
 * is named after the timeout.
 */
class RendezvousProcessTest {
    @TempDir
    Path dir;

    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    private static Process start(String how, String where, int rank, int world, String hexId) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), RendezvousMain.class.getName(),
                how, where, Integer.toString(rank), Integer.toString(world), hexId).redirectErrorStream(true).start();
    }

    private static String output(Process p) throws Exception {
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the rank's process ended");
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }

    private static String hex(int seed) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 128; i++) {
            s.append(String.format("%02x", (i * 31 + seed * 7) & 0xff));
        }
        return s.toString();
    }

    private void twoProcesses(String how, String where) throws Exception {
        String id = hex(1);
        Process one = start(how, where, 1, 2, hex(2)); // rank 1 first: it waits for rank 0
        Thread.sleep(500);
        Process zero = start(how, where, 0, 2, id);
        assertEquals("id " + id, output(zero), "rank 0");
        assertEquals("id " + id, output(one), "rank 1 got rank 0's id");
        assertEquals(0, zero.exitValue());
        assertEquals(0, one.exitValue());
    }

    @Test
    void twoProcessesThroughAFile() throws Exception {
        Path f = dir.resolve("rdv");
        twoProcesses("file", f.toString());
        twoProcesses("file", f.toString()); // again over the files the first run left
    }

    @Test
    void twoProcessesThroughTcp() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        twoProcesses("tcp", "127.0.0.1:" + port);
    }

    @Test
    void aProcessOfAnotherWorldSizeExitsWithOneLine() throws Exception {
        Path f = dir.resolve("rdv");
        Process zero = start("file", f.toString(), 0, 3, hex(1));
        Process one = start("file", f.toString(), 1, 2, hex(2));
        assertEquals("error rendezvous " + f.toUri() + ": rank 1 was started with --world-size 2, rank 0 with 3",
                output(one));
        assertEquals(2, one.exitValue());
        zero.destroy();
    }

    private Future<byte[]> rank(Path f, int rank, int world, byte[] id, double timeout) {
        return pool.submit(() -> Rendezvous.exchange(f, rank, world, () -> id, timeout));
    }

    private static Throwable failure(Future<byte[]> f) throws Exception {
        try {
            f.get(60, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        }
    }

    @Test
    void aStaleFileIsNotThisRunsId() throws Exception {
        Path f = dir.resolve("rdv");
        byte[] old = new byte[128];
        old[0] = 1;
        // an earlier run's finished rendezvous: rank 1 must not take its id
        List<Future<byte[]>> first = new ArrayList<>();
        first.add(rank(f, 1, 2, new byte[128], 30));
        first.add(rank(f, 0, 2, old, 30));
        for (Future<byte[]> r : first) {
            assertEquals(1, r.get(60, TimeUnit.SECONDS)[0]);
        }
        byte[] fresh = new byte[128];
        fresh[0] = 2;
        Future<byte[]> one = rank(f, 1, 2, new byte[128], 30);
        Thread.sleep(700); // rank 1 reads the old file meanwhile
        assertTrue(!one.isDone(), "rank 1 waits for this run's rank 0");
        Future<byte[]> zero = rank(f, 0, 2, fresh, 30);
        assertEquals(2, one.get(60, TimeUnit.SECONDS)[0], "rank 1 took this run's id");
        assertEquals(2, zero.get(60, TimeUnit.SECONDS)[0]);
    }

    @Test
    void aFileThatIsNotARendezvousIsRefusedAndKept() throws IOException {
        Path f = dir.resolve("notes.txt");
        Files.writeString(f, "my notes\n");
        ZotuneException e = assertThrows(ZotuneException.class, () -> Rendezvous.exchange(f, 0, 2, () -> new byte[128],
                5));
        assertEquals("rendezvous " + f.toUri() + ": " + f + " exists and is not a zotune rendezvous file; choose a new "
                + "path (zotune does not replace it)", e.getMessage());
        assertEquals("my notes\n", Files.readString(f));
        Path nowhere = dir.resolve("absent").resolve("rdv");
        e = assertThrows(ZotuneException.class, () -> Rendezvous.exchange(nowhere, 1, 2, () -> null, 5));
        assertEquals("rendezvous " + nowhere.toUri() + ": folder " + nowhere.getParent() + " does not exist on this "
                + "host (the file must be on a filesystem every process sees)", e.getMessage());
    }

    @Test
    void aRankStartedTwiceIsNamed() throws Exception {
        Path f = dir.resolve("rdv");
        Future<byte[]> a = rank(f, 1, 3, new byte[128], 10);
        Future<byte[]> zero = rank(f, 0, 3, new byte[128], 10);
        Thread.sleep(1000); // rank 1 registered; rank 0 waits for rank 2
        Future<byte[]> b = rank(f, 1, 3, new byte[128], 10);
        Throwable z = failure(zero);
        assertTrue(z instanceof WorkerFailure w && w.rank() == 1, "rank 0: " + z);
        assertEquals("rendezvous " + f.toUri() + ": rank 1 registered twice (two processes with --rank 1?)",
                z.getMessage());
        assertEquals("rendezvous " + f.toUri() + ": rank 0 refused rank 1: rank 1 registered twice (two processes "
                + "with --rank 1?)", failure(b).getMessage());
        failure(a);
    }

    @Test
    void aMissingRankIsNamedAfterTheTimeout() throws Exception {
        Path f = dir.resolve("rdv");
        Future<byte[]> zero = rank(f, 0, 3, new byte[128], 1.5);
        rank(f, 2, 3, new byte[128], 5);
        Throwable z = failure(zero);
        assertTrue(z instanceof WorkerFailure w && w.rank() == 1, "rank 0: " + z);
        assertEquals("rendezvous " + f.toUri() + ": rank 1 of 3 did not register within 1.5 s", z.getMessage());
        Path g = dir.resolve("never");
        WorkerFailure w = assertThrows(WorkerFailure.class, () -> Rendezvous.exchange(g, 1, 2, () -> null, 0.5));
        assertEquals(0, w.rank());
        assertEquals("rendezvous " + g.toUri() + ": rank 1 of 2 saw no id from rank 0 within 0.5 s (rank 0 never "
                + "opened the file)", w.getMessage());
    }
}
