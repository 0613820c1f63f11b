package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** Key parallel.gpus: its default, and the refusals that depend on how many CUDA devices are present. */
class GpuParallelConfigTest {
    private static TrainConfig config(String... extra) {
        Path p = Path.of("train.txt");
        return TrainRuns.config(TrainRuns.yamlOn("auto", p, p, Path.of("out"), extra));
    }

    @Test
    void oneGpuByDefault() {
        assertEquals(1, config().parallel().gpus());
        assertEquals(4, config("parallel:", "  gpus: 4").parallel().gpus());
    }

    @Test
    void moreGpusThanPresentIsOneLine() {
        TrainConfig c = config("parallel:", "  gpus: 4");
        ZoEngines.requireGpus(c, 4); // as many as present: fine
        ZotuneException e = assertThrows(ZotuneException.class, () -> ZoEngines.requireGpus(c, 2));
        assertEquals("parallel.gpus 4: only 2 CUDA devices are present (CUDA_VISIBLE_DEVICES chooses which); use "
                + "parallel.gpus <= 2", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> ZoEngines.requireGpus(c, 1));
        assertEquals("parallel.gpus 4: only 1 CUDA device is present (CUDA_VISIBLE_DEVICES chooses which); use "
                + "parallel.gpus <= 1", e.getMessage());
    }

    @Test
    void objectivesThatAreNotSumsAreRefused() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> ZoEngines.requireGpus(
                TrainRuns.config(TrainRuns.yamlOn("cuda", Path.of("t"), Path.of("t"), Path.of("o"), "parallel:",
                        "  gpus: 2"), "objective=f1"), 8));
        assertEquals("parallel.gpus 2: objective f1 cannot be split over GPUs (F1 is not a sum over examples); use "
                + "objective accuracy or parallel.gpus 1", e.getMessage());
    }

    @Test
    void samplesSplitOverGpusNeedsASampleForEveryGpu() {
        ZoEngines.requireGpus(config("q: 2", "parallel:", "  gpus: 2", "  split: samples"), 2);
        // every GPU has the whole batch: an objective that is not a sum over examples is fine, a batch of one too
        ZoEngines.requireGpus(TrainRuns.config(TrainRuns.yamlOn("cuda", Path.of("t"), Path.of("t"), Path.of("o"),
                "q: 4", "parallel:", "  gpus: 4", "  split: samples"), "objective=f1", "batch_size=1"), 4);
        ZotuneException e = assertThrows(ZotuneException.class, () -> ZoEngines.requireGpus(
                config("q: 2", "parallel:", "  gpus: 3", "  split: samples"), 4));
        assertEquals("parallel.gpus 3: parallel.split samples: q 2 gives some of the 3 GPUs no SPSA sample; use "
                + "q >= gpus or split batch", e.getMessage());
    }

    @Test
    void adaptersTrainOnSeveralGpus() {
        ZoEngines.requireGpus(config("parallel:", "  gpus: 2", "peft:", "  method: lora", "  r: 4", "  alpha: 8",
                "  targets: [q, v]"), 2);
        ZoEngines.requireGpus(config("parallel:", "  gpus: 2", "peft:", "  method: prefix", "  tokens: 3"), 2);
        ZoEngines.requireGpus(config("q: 2", "parallel:", "  gpus: 2", "  split: samples", "peft:", "  method: lora",
                "  r: 4", "  alpha: 8", "  targets: [q, v]"), 2);
    }
}
