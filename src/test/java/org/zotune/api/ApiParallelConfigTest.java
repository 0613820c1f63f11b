package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** FineTuneConfig.Builder's gpus and process: the keys they set, and their one-line refusals. */
class ApiParallelConfigTest {
    private static FineTuneConfig.Builder base() {
        return FineTuneConfig.builder().model(ModelSource.of("m")).textData(Path.of("t.txt"), null)
                .out(Path.of("runs/x"));
    }

    @Test
    void gpusAndProcessSetTheirKeys() {
        FineTuneConfig c = base().gpus(4).build();
        assertEquals("4", c.get("parallel.gpus"));
        c = base().process(1, 2, "tcp://node0:29500").build();
        assertEquals("2", c.get("parallel.world_size"));
        assertEquals("1", c.get("parallel.rank"));
        assertEquals("tcp://node0:29500", c.get("parallel.init"));
        assertEquals(c, FineTuneConfig.parse("run.yaml", String.join("\n", "model: m", "data:", "  format: text",
                "  train: [t.txt]", "out: runs/x", "parallel:", "  world_size: 2", "  rank: 1",
                "  init: tcp://node0:29500"), List.of()));
        ZotuneException e = assertThrows(ZotuneException.class, () -> base().process(2, 2, "tcp://a:1").build());
        assertEquals("fine-tune config: parallel.rank (--rank) 2 is outside 0 … 1 for parallel.world_size "
                + "(--world-size) 2",
                e.getMessage());
    }
}
