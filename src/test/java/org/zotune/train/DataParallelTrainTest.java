package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * zotune train with {@code parallel.workers}: a real run on CPU replicas matches the one-worker run within
 * float-summation tolerance, resumes bit for bit with the same number of workers, refuses another number, and its
 * trajectory replays on one engine to the same weights.
 */
class DataParallelTrainTest {
    @TempDir
    Path dir;

    private TrainConfig config(Path out, int workers) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        return TrainRuns.config(TrainRuns.yaml(train, dev, out, "optimizer:", "  name: zo-sgd", "  lr: 1e-4",
                "steps: 8", "eval_every: 4", "grad_accumulation: 2", "parallel:", "  workers: " + workers,
                "  checksum_every: 3"));
    }

    @Test
    void workersMatchOneWorkerResumeBitwiseAndReplayOnOneEngine() throws IOException {
        Trainer.Summary one = TrainRuns.train(config(dir.resolve("one"), 1), TrainRuns.quiet());
        Path a = dir.resolve("a");
        Trainer.Summary two = TrainRuns.train(config(a, 2), TrainRuns.quiet());
        assertEquals(8, two.steps());
        double d1 = one.finalDev().loss();
        double d2 = two.finalDev().loss();
        assertEquals(d1, d2, 1e-5 * d1, "dev loss after 8 steps: 1 worker " + d1 + ", 2 workers " + d2);
        assertTrue(one.initialDev().loss() != d1, "the run moved the weights");

        Path b = dir.resolve("b");
        TrainConfig cb = config(b, 2);
        assertEquals("stop-after", TrainRuns.train(cb, new Trainer.Options(false, false, 3, false)).stopped());
        ZotuneException other = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(config(b, 3), new Trainer.Options(true, false, 0, false)));
        assertTrue(other.getMessage().contains("different config (key 'parallel.workers')"), other.getMessage());
        assertEquals(8, TrainRuns.train(cb, new Trainer.Options(true, false, 0, false)).steps());
        assertEquals(ResumeAndReplayTest.stepRecords(a), ResumeAndReplayTest.stepRecords(b));
        Map<String, HostTensor> wa = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        Map<String, HostTensor> wb = SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors();
        ResumeAndReplayTest.assertSameTensors(wa, wb);

        // the update depends on g and the seeds alone, so one engine replays the workers' trajectory exactly
        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        List<HostTensor> replayed = Replay.run(base, Trajectory.read(a.resolve("trajectory.jsonl")));
        ResumeAndReplayTest.assertSameTensors(wa, byName(replayed));
    }

    private static Map<String, HostTensor> byName(List<HostTensor> tensors) {
        Map<String, HostTensor> m = new java.util.LinkedHashMap<>();
        for (HostTensor t : tensors) {
            m.put(t.name(), t);
        }
        return m;
    }
}
