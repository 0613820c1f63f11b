package org.zotune.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** parallel.init's forms, env:// (the torchrun variables), the defaults, and each bad value as one line. */
class ProcessLaunchTest {
    private static String error(Runnable r) {
        return assertThrows(ZotuneException.class, r::run).getMessage();
    }

    @Test
    void initForms() {
        assertEquals(new ProcessLaunch.FileInit(Path.of("/shared/rdv")), ProcessLaunch.parseInit("file:///shared/rdv"));
        assertEquals(new ProcessLaunch.TcpInit(new Rendezvous.Address("node0", 29500)),
                ProcessLaunch.parseInit("tcp://node0:29500"));
        assertEquals(new ProcessLaunch.TcpInit(new Rendezvous.Address("::1", 80)), ProcessLaunch.parseInit("tcp://[::1]:80"));
        assertEquals("tcp://node0:29500", ProcessLaunch.parseInit(" tcp://node0:29500 ").toString());
        assertEquals("parallel.init (--init) tcp://node0: expected tcp://host:port (rank 0's host), e.g. "
                + "tcp://node0:29500", error(() -> ProcessLaunch.parseInit("tcp://node0")));
        assertEquals("parallel.init (--init) tcp://node0:x: the port is not a number",
                error(() -> ProcessLaunch.parseInit("tcp://node0:x")));
        assertEquals("parallel.init (--init) tcp://node0:0: the port must be 1 … 65535",
                error(() -> ProcessLaunch.parseInit("tcp://node0:0")));
        assertEquals("parallel.init (--init) file://host/rdv: expected file:// and an absolute file path, e.g. "
                + "file:///shared/zotune-rendezvous", error(() -> ProcessLaunch.parseInit("file://host/rdv")));
        assertEquals("parallel.init (--init) file:///shared/: expected file:// and an absolute file path, e.g. "
                + "file:///shared/zotune-rendezvous", error(() -> ProcessLaunch.parseInit("file:///shared/")));
        assertEquals("parallel.init (--init) /shared/rdv: expected file:///shared/path, tcp://host:port or env://",
                error(() -> ProcessLaunch.parseInit("/shared/rdv")));
    }

    @Test
    void defaultsAndRanks() {
        assertEquals(new ProcessLaunch.Resolved(1, 0, null, null), ProcessLaunch.resolve(null, null, null, null,
                Map.of()));
        assertEquals(new ProcessLaunch.Resolved(2, 1, 3, "tcp://a:1"), ProcessLaunch.resolve(2, 1, 3, "tcp://a:1",
                Map.of("RANK", "0", "WORLD_SIZE", "9")), "the environment counts only with env://");
        assertEquals("parallel.rank (--rank) 2 is outside 0 … 1 for parallel.world_size (--world-size) 2",
                error(() -> ProcessLaunch.resolve(2, 2, null, "tcp://a:1", Map.of())));
        assertEquals("parallel.world_size (--world-size) 2 needs parallel.init (--init file:///shared/path, "
                + "tcp://host:port or env://): how the processes find each other",
                error(() -> ProcessLaunch.resolve(2, 0, null, null, Map.of())));
    }

    @Test
    void envIsTorchrunsVariables() {
        Map<String, String> env = Map.of("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1", "MASTER_ADDR", "node0",
                "MASTER_PORT", "29500");
        assertEquals(new ProcessLaunch.Resolved(4, 3, 1, "tcp://node0:29500"),
                ProcessLaunch.resolve(null, null, null, "env://", env));
        assertEquals(new ProcessLaunch.Resolved(4, 3, 1, "tcp://node0:29500"),
                ProcessLaunch.resolve(4, 3, null, "env://", env), "the same values in the config agree");
        assertEquals(new ProcessLaunch.Resolved(1, 0, null, null), ProcessLaunch.resolve(null, null, null, "env://",
                Map.of("RANK", "0", "WORLD_SIZE", "1")), "one process needs no address");
        assertEquals("parallel.world_size 2 disagrees with the environment's WORLD_SIZE=4 (parallel.init env://): set "
                + "one of them", error(() -> ProcessLaunch.resolve(2, null, null, "env://", env)));
        assertEquals("parallel.init env://: environment variable RANK is not set",
                error(() -> ProcessLaunch.resolve(null, null, null, "env://", Map.of("WORLD_SIZE", "2"))));
        assertEquals("parallel.init env://: environment variable WORLD_SIZE=two is not a whole number",
                error(() -> ProcessLaunch.resolve(null, null, null, "env://", Map.of("WORLD_SIZE", "two"))));
        assertEquals("parallel.init env://: MASTER_ADDR and MASTER_PORT must be set (rank 0's host and a free port), "
                + "got MASTER_ADDR=node0 MASTER_PORT=(unset)", error(() -> ProcessLaunch.resolve(null, null, null,
                "env://", Map.of("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "node0"))));
        assertEquals("parallel.rank (--rank) 5 is outside 0 … 3 for parallel.world_size (--world-size) 4",
                error(() -> ProcessLaunch.resolve(null, null, null, "env://", Map.of("RANK", "5", "WORLD_SIZE", "4",
                        "MASTER_ADDR", "a", "MASTER_PORT", "1"))));
    }

    @Test
    void localDevice() {
        assertEquals(1, ProcessLaunch.localDevice(5, null, 4), "rank modulo the visible GPUs");
        assertEquals(2, ProcessLaunch.localDevice(5, 2, 4));
        assertEquals("parallel.local_rank (--local-rank) 4 of rank 5: only 4 CUDA devices are visible "
                + "(CUDA_VISIBLE_DEVICES chooses which)", error(() -> ProcessLaunch.localDevice(5, 4, 4)));
    }
}
