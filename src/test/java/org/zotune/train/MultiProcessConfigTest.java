package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.train.config.Parallel;

/** Keys parallel.world_size, rank, local_rank and init: defaults, what they exclude, and the CPU refusal. */
class MultiProcessConfigTest {
    private static TrainConfig config(String device, String... parallel) {
        Path p = Path.of("train.txt");
        String[] extra = new String[parallel.length + 1];
        extra[0] = "parallel:";
        for (int i = 0; i < parallel.length; i++) {
            extra[i + 1] = "  " + parallel[i];
        }
        return TrainRuns.config(TrainRuns.yamlOn(device, p, p, Path.of("out"), extra));
    }

    private static String error(Runnable r) {
        return assertThrows(ZotuneException.class, r::run).getMessage();
    }

    @Test
    void oneProcessByDefault() {
        Parallel p = config("cuda", "workers: 1").parallel();
        assertEquals(1, p.worldSize());
        assertEquals(0, p.rank());
        assertNull(p.localRank());
        assertNull(p.init());
        p = config("cuda", "world_size: 2", "rank: 1", "local_rank: 0", "init: file:///shared/rdv").parallel();
        assertEquals(2, p.worldSize());
        assertEquals(1, p.rank());
        assertEquals(0, p.localRank());
        assertEquals("file:///shared/rdv", p.init());
        RankEngines.require(config("cuda", "world_size: 2", "rank: 1", "init: tcp://node0:29500"));
    }

    @Test
    void whatSeveralProcessesExclude() {
        assertEquals("parallel.world_size (--world-size) 2 on device cpu: several processes need NCCL, so one GPU "
                + "each; on the CPU use parallel.workers (--workers) for data-parallel workers in one process",
                error(() -> RankEngines.require(config("cpu", "world_size: 2", "init: tcp://a:1"))));
        assertEquals("test.yaml: parallel.world_size 2 and parallel.gpus 2: a process of a run over several processes drives "
                + "one GPU; use parallel.gpus 1 (one process per GPU)",
                error(() -> config("cuda", "world_size: 2", "gpus: 2", "init: tcp://a:1")));
        assertEquals("test.yaml: parallel.world_size 2 and parallel.workers 2: a process of a run over several processes drives "
                + "one GPU; use parallel.workers 1", error(() -> config("cpu", "world_size: 2", "workers: 2",
                "init: tcp://a:1")));
        assertEquals("parallel.world_size 8: batch_size 4 gives some rank no example; use batch_size >= world_size",
                error(() -> RankEngines.require(config("cuda", "world_size: 8", "init: tcp://a:1"))));
        assertEquals("test.yaml: parallel.rank (--rank) 2 is outside 0 … 1 for parallel.world_size (--world-size) 2",
                error(() -> config("cuda", "world_size: 2", "rank: 2", "init: tcp://a:1")));
        assertEquals("test.yaml: parallel.init (--init) node0:29500: expected file:///shared/path, tcp://host:port or env://",
                error(() -> config("cuda", "world_size: 2", "init: node0:29500")));
        assertEquals("test.yaml: key 'parallel.world_size' must be >= 1, got 0", error(() -> config("cuda", "world_size: 0")));
        Path p = Path.of("train.txt");
        String twoRanks = TrainRuns.yamlOn("cuda", p, p, Path.of("out"), "parallel:", "  world_size: 2",
                "  init: tcp://a:1");
        assertEquals("test.yaml: parallel.world_size 2: a dfo run spreads its population within one process only so "
                + "far: over CPU workers (parallel.workers) or that process's GPUs (parallel.gpus)",
                error(() -> TrainRuns.config(twoRanks, "method=dfo")));
        assertEquals("parallel.world_size 2: parallel.split samples: q 1 gives some rank no SPSA sample; use q >= "
                + "world_size or split batch", error(() -> RankEngines.require(TrainRuns.config(twoRanks,
                "parallel.split=samples"))));
        assertEquals("parallel.world_size 2: objective f1 cannot be split over processes (F1 is not a sum over "
                + "examples); use objective accuracy", error(() -> RankEngines.require(TrainRuns.config(twoRanks,
                "objective=f1"))));
    }
}
