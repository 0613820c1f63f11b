package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.cuda.Cuda;

/**
 * Runs over several processes on real GPUs (parallel.world_size, rank, init):
 * <ul>
 *   <li>one rank through the multi-process path (a file rendezvous, ncclCommInitRank, the data-parallel engine of one
 *       local replica) on GPU 0: every step's ℓ±, g and the dev losses equal the single CUDA engine's run bit for
 *       bit, captured (NCCL's all-gather in the rank's step graph; one rank's pair is (float)((0 + s)/c) = s/c) and
 *       eager (one rank's sums are its own: 0 + Σ), and the final weights too; the same with LoRA, with a prefix
 *       (the adapter's bits included) and with the SPSA samples split (q = 2);</li>
 *   <li>with two or more GPUs: two OS processes of {@code zotune train} (org.zotune.cli.Main on the test classpath),
 *       {@code --world-size 2 --rank R --init file://…}: both exit 0, rank 0's run equals the in-process
 *       {@code --gpus 2} run step for step bit for bit (the same shards and rank-order sums), rank 1 writes nothing
 *       (its own --out stays absent).</li>
 * </ul>
 * Needs NCCL (the launcher finds it). Skips itself without a usable CUDA device, the two-process case with fewer than
 * two devices, saying so.
 */
@Tag("gpu")
class MultiProcessGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private List<String> yaml(Path out, String... parallel) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        List<String> lines = new ArrayList<>(List.of("optimizer:", "  name: zo-adam", "  lr: 1e-3", "steps: 4",
                "eval_every: 2", "grad_accumulation: 2", "dtype: f32", "parallel:", "  checksum_every: 1"));
        for (String p : parallel) {
            lines.add("  " + p);
        }
        return List.of(TrainRuns.yamlOn("cuda", train, dev, out, lines.toArray(String[]::new)));
    }

    private TrainConfig config(Path out, String... parallel) throws IOException {
        return TrainRuns.config(yaml(out, parallel).get(0));
    }

    /**
     * The run of {@code kind} on one GPU and on one rank through the process path, each with the captured step (the
     * default; NCCL's all-gather captured into the rank's step) and with every step eager: one rank equals one GPU
     * bit for bit in both, the weights (or the adapter) included. Kinds: full, lora, prefix, samples (q = 2 split).
     */
    private void oneRankEqualsOneGpu(String kind) throws Exception {
        String peft = switch (kind) {
            case "lora" -> "peft: {method: lora, r: 2, alpha: 4}\n";
            case "prefix" -> "peft: {method: prefix, tokens: 2}\n";
            default -> "";
        };
        String[] q = kind.equals("samples") ? new String[] {"q=2"} : new String[0];
        String split = kind.equals("samples") ? "split: samples" : "split: batch";
        Path weights = peft.isEmpty() ? Path.of("model", "model.safetensors")
                : Path.of("adapter", "adapter_model.safetensors");
        for (boolean eager : new boolean[] {false, true}) {
            String mode = eager ? "eager" : "captured";
            Path single = dir.resolve(kind + "-single-" + mode);
            Path rank = dir.resolve(kind + "-rank-" + mode);
            Callable<Object> both = () -> {
                TrainRuns.train(TrainRuns.config(yaml(single, split).get(0) + peft, q), TrainRuns.quiet());
                TrainRuns.train(TrainRuns.config(yaml(rank, split, "world_size: 1", "rank: 0", "init: "
                        + dir.resolve("rdv-" + mode).toUri()).get(0) + peft, q), TrainRuns.quiet());
                return null;
            };
            if (eager) {
                TrainRuns.eager(both);
            } else {
                both.call();
            }
            List<String> a = ResumeAndReplayTest.stepRecords(single);
            List<String> b = ResumeAndReplayTest.stepRecords(rank);
            System.out.println(kind + ", " + mode + ", one GPU:                " + a);
            System.out.println(kind + ", " + mode + ", one rank, process path: " + b);
            assertEquals(a, b, kind + ", " + mode + ": one rank through NCCL = one GPU, bit for bit");
            ResumeAndReplayTest.assertSameTensors(
                    org.zotune.model.io.SafetensorsFile.open(single.resolve(weights)).tensors(),
                    org.zotune.model.io.SafetensorsFile.open(rank.resolve(weights)).tensors());
        }
    }

    @Test
    void oneRankThroughTheProcessPathEqualsOneGpu() throws Exception {
        oneRankEqualsOneGpu("full");
    }

    /** LoRA, a prefix, and the SPSA samples split (q = 2) the same way. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lora", "prefix", "samples"})
    void oneRankWithAnAdapterOrSamplesSplitEqualsOneGpu(String kind) throws Exception {
        oneRankEqualsOneGpu(kind);
    }

    @Test
    void twoProcessesEqualTwoGpusInOneProcess() throws Exception {
        int n = Cuda.deviceCount();
        Assumptions.assumeTrue(n >= 2, "needs 2 CUDA devices for two processes, found " + n);
        Path inProcess = dir.resolve("gpus2");
        TrainRuns.train(config(inProcess, "gpus: 2"), TrainRuns.quiet());

        Path a = dir.resolve("a");
        Path rank1Out = dir.resolve("rank1-out");
        String init = dir.resolve("rdv").toUri().toString();
        List<Process> ps = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Path cfg = Files.writeString(dir.resolve("run" + r + ".yaml"), yaml(r == 0 ? a : rank1Out).get(0));
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    "org.zotune.cli.Main", "train", "--config", cfg.toString(), "--no-progress", "--world-size", "2",
                    "--rank", Integer.toString(r), "--init", init).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("rank" + r + ".out").toFile());
            pb.environment().putIfAbsent("NCCL_NVLS_ENABLE", "0");
            ps.add(pb.start());
        }
        for (int r = 0; r < 2; r++) {
            boolean ended = ps.get(r).waitFor(300, TimeUnit.SECONDS);
            String out = Files.readString(dir.resolve("rank" + r + ".out"), StandardCharsets.UTF_8);
            System.out.println("rank " + r + " output:\n" + out);
            if (!ended) {
                ps.get(r).destroyForcibly();
            }
            assertTrue(ended, "rank " + r + " ended within 300 s");
            assertEquals(0, ps.get(r).exitValue(), "rank " + r + "'s exit code; output:\n" + out);
        }
        assertFalse(Files.exists(rank1Out), "rank 1 wrote " + rank1Out);
        List<String> expected = ResumeAndReplayTest.stepRecords(inProcess);
        List<String> got = ResumeAndReplayTest.stepRecords(a);
        System.out.println("--gpus 2:          " + expected);
        System.out.println("2 processes:       " + got);
        assertEquals(expected, got, "two processes = two GPUs in one process, bit for bit");
        ResumeAndReplayTest.assertSameTensors(
                org.zotune.model.io.SafetensorsFile.open(inProcess.resolve("model/model.safetensors")).tensors(),
                org.zotune.model.io.SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors());
    }
}
