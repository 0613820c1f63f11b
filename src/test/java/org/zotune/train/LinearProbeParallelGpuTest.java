package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.model.bert.TinyBertFolder;

/**
 * A linear probe over GPU replicas, on a tiny random BERT in float32 (LinearProbeParallelTest's run on CUDA):
 * <ul>
 *   <li>one rank through the multi-process path (a file rendezvous, NCCL, the data-parallel engine) on GPU 0: every
 *       step's ℓ±, g and the dev losses equal one GPU's eager run bit for bit, and so do the weights; the encoder
 *       comes out as loaded;</li>
 *   <li>with two or more GPUs, {@code parallel.gpus: 2}: the dev loss within 1e-5 relative of one GPU's, the heads
 *       within 1e-4, the encoder as loaded.</li>
 * </ul>
 * Needs NCCL (the launcher finds it). Skips itself without a usable CUDA device, the two-GPU case with fewer than
 * two devices, saying so.
 */
@Tag("gpu")
class LinearProbeParallelGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    /** One GPU with every step eager (the data-parallel engine's head step is eager too). */
    private Trainer.Summary oneGpuEager(Path model, Path out) throws IOException {
        String before = System.getProperty(ZoEngines.GRAPH_PROPERTY);
        System.setProperty(ZoEngines.GRAPH_PROPERTY, "false");
        try {
            return LinearProbeParallelTest.train(LinearProbeParallelTest.config(dir, model, out, "cuda"), model);
        } finally {
            if (before == null) {
                System.clearProperty(ZoEngines.GRAPH_PROPERTY);
            } else {
                System.setProperty(ZoEngines.GRAPH_PROPERTY, before);
            }
        }
    }

    @Test
    void oneRankThroughTheProcessPathEqualsOneGpuEager() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path single = dir.resolve("single");
        oneGpuEager(model, single);
        Path rank = dir.resolve("rank");
        LinearProbeParallelTest.train(LinearProbeParallelTest.config(dir, model, rank, "cuda", "world_size: 1",
                "rank: 0", "init: " + dir.resolve("rdv").toUri()), model);
        List<String> a = ResumeAndReplayTest.stepRecords(single);
        List<String> b = ResumeAndReplayTest.stepRecords(rank);
        System.out.println("linear probe, one GPU eager:          " + a);
        System.out.println("linear probe, one rank, process path: " + b);
        assertEquals(a, b, "one rank through NCCL = one GPU eager, bit for bit");
        ResumeAndReplayTest.assertSameTensors(LinearProbeParallelTest.weights(single),
                LinearProbeParallelTest.weights(rank));
        LinearProbeParallelTest.assertEncoderAsLoaded(model, LinearProbeParallelTest.weights(rank), "one rank");
    }

    @Test
    void twoGpusMatchOneGpu() throws IOException {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for the two-GPU run, found " + n);
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path one = dir.resolve("one");
        double d1 = oneGpuEager(model, one).finalDev().loss();
        Path two = dir.resolve("two");
        double d2 = LinearProbeParallelTest.train(LinearProbeParallelTest.config(dir, model, two, "cuda",
                "gpus: 2"), model).finalDev().loss();
        System.out.printf("linear probe dev loss: one GPU %.9f, two GPUs %.9f%n", d1, d2);
        assertTrue(d1 < Math.log(2) - 0.01, "the probe learned: dev loss ln 2 -> " + d1);
        assertEquals(d1, d2, 1e-5 * d1, "dev loss after 12 steps: one GPU " + d1 + ", two GPUs " + d2);
        LinearProbeParallelTest.assertEncoderAsLoaded(model, LinearProbeParallelTest.weights(two), "two GPUs");
        LinearProbeParallelTest.assertHeadsClose(LinearProbeParallelTest.weights(one),
                LinearProbeParallelTest.weights(two));
    }
}
