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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.cuda.Cuda;
import org.zotune.model.bert.TinyBertFolder;

/**
 * The encoder objectives over GPU replicas, on a tiny random BERT in float32 (EncoderParallelTest's runs on CUDA):
 * <ul>
 *   <li>a linear probe, one rank through the multi-process path (a file rendezvous, NCCL, the data-parallel engine)
 *       on GPU 0: every step's ℓ±, g and the dev losses equal one GPU's eager run bit for bit, and so do the
 *       weights; the encoder comes out as loaded;</li>
 *   <li>with two or more GPUs, {@code parallel.gpus: 2}: a linear probe within 1e-5 relative of one GPU's dev loss,
 *       the heads within 1e-4, the encoder as loaded; the head with the whole model, beside LoRA or a prefix, label
 *       similarity in full and with LoRA, the masked-LM prompt in full and with a prefix, each within 1e-5 relative
 *       of one GPU's dev loss.</li>
 * </ul>
 * Needs NCCL (the launcher finds it). Skips itself without a usable CUDA device, the two-GPU cases with fewer than
 * two devices, saying so.
 */
@Tag("gpu")
class EncoderParallelGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private Trainer.Summary run(Path model, Path out, List<String> setup, String... parallel) throws IOException {
        return EncoderParallelTest.train(EncoderParallelTest.config(dir, model, out, "cuda", setup, parallel), model);
    }

    /** One GPU with every step eager (the data-parallel engine's step of these objectives is eager too). */
    private Trainer.Summary oneGpuEager(Path model, Path out, List<String> setup) throws Exception {
        return TrainRuns.eager(() -> run(model, out, setup));
    }

    private static void needTwo() {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for the two-GPU run, found " + n);
    }

    @Test
    void aLinearProbeOnOneRankThroughTheProcessPathEqualsOneGpuEager() throws Exception {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path single = dir.resolve("single");
        oneGpuEager(model, single, EncoderParallelTest.PROBE);
        Path rank = dir.resolve("rank");
        run(model, rank, EncoderParallelTest.PROBE, "world_size: 1", "rank: 0", "init: " + dir.resolve("rdv").toUri());
        List<String> a = ResumeAndReplayTest.stepRecords(single);
        List<String> b = ResumeAndReplayTest.stepRecords(rank);
        System.out.println("linear probe, one GPU eager:          " + a);
        System.out.println("linear probe, one rank, process path: " + b);
        assertEquals(a, b, "one rank through NCCL = one GPU eager, bit for bit");
        ResumeAndReplayTest.assertSameTensors(EncoderParallelTest.weights(single), EncoderParallelTest.weights(rank));
        EncoderParallelTest.assertEncoderAsLoaded(model, EncoderParallelTest.weights(rank), "one rank");
    }

    @Test
    void aLinearProbeOnTwoGpusMatchesOneGpu() throws Exception {
        needTwo();
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path one = dir.resolve("one");
        double d1 = oneGpuEager(model, one, EncoderParallelTest.PROBE).finalDev().loss();
        Path two = dir.resolve("two");
        double d2 = run(model, two, EncoderParallelTest.PROBE, "gpus: 2").finalDev().loss();
        System.out.printf("linear probe dev loss: one GPU %.9f, two GPUs %.9f%n", d1, d2);
        assertTrue(d1 < Math.log(2) - 0.01, "the probe learned: dev loss ln 2 -> " + d1);
        assertEquals(d1, d2, 1e-5 * d1, "dev loss after 12 steps: one GPU " + d1 + ", two GPUs " + d2);
        EncoderParallelTest.assertEncoderAsLoaded(model, EncoderParallelTest.weights(two), "two GPUs");
        EncoderParallelTest.assertHeadsClose(EncoderParallelTest.weights(one), EncoderParallelTest.weights(two));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"head", "head-lora", "head-prefix", "similarity", "similarity-lora", "mlm", "mlm-prefix"})
    void twoGpusEndWhereOneGpuDoes(String name) throws Exception {
        needTwo();
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, name.startsWith("mlm"));
        Trainer.Summary s1 = oneGpuEager(model, dir.resolve("one"), EncoderParallelTest.setup(name));
        Trainer.Summary s2 = run(model, dir.resolve("two"), EncoderParallelTest.setup(name), "gpus: 2");
        EncoderParallelTest.assertSameEnd(name, s1, "one GPU", s2, "two GPUs");
    }
}
