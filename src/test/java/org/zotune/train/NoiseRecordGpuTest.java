package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;
import org.zotune.zo.cuda.NoiseVariant;

/**
 * Key noise on the CUDA engine (stories260K, float32, ZO-SGD, 6 steps): with the key absent (auto) the engine's
 * kernels are the fast variant and the run records noise fast in run.json and in the trajectory header; a run stopped
 * after step 3 and resumed equals the uninterrupted run bit for bit (every step's ℓ±, g, η and the dev losses, the
 * final weights); replaying the trajectory on CUDA rebuilds the weights bit for bit, on the CPU it is refused in one
 * line; resuming it with noise exact is refused naming both values; noise exact gives the exact kernels and is
 * recorded as exact. Prints what it compares. Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class NoiseRecordGpuTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(Path out, String... overrides) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        return TrainRuns.config(TrainRuns.yamlOn("cuda", train, dev, out, "optimizer: {name: zo-sgd, lr: 1e-4}",
                "steps: 6", "eval_every: 3", "dtype: f32"), overrides);
    }

    @Test
    void theEnginesKernelsAreTheResolvedVariant() throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        PrintWriter log = new PrintWriter(new StringWriter());
        Objective lm = Objective.named("lm");
        for (String[] row : new String[][] {{"auto", "FAST"}, {"fast", "FAST"}, {"exact", "EXACT"}}) {
            TrainConfig c = config(dir.resolve("o"), "noise=" + row[0]);
            try (ZoEngine e = ZoEngines.create(c, m.model(), m.parameters(), lm, log)) {
                NoiseVariant v = ((CudaZoEngine) e).noise();
                System.out.printf("noise %s: CUDA engine's kernels %s%n", row[0], v);
                assertEquals(NoiseVariant.valueOf(row[1]), v, "noise " + row[0]);
            }
        }
    }

    @Test
    void autoRecordsFastAndResumesAndReplaysBitwise() throws IOException {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        TrainRuns.train(config(a), TrainRuns.quiet());
        TrainConfig cb = config(b);
        assertEquals(3, TrainRuns.train(cb, new Trainer.Options(false, false, 3, false)).steps());
        assertEquals(6, TrainRuns.train(cb, new Trainer.Options(true, false, 0, false)).steps());
        for (Path run : new Path[] {a, b}) {
            assertEquals("fast", JSON.readTree(run.resolve("run.json").toFile()).path("noise").asText(),
                    run + "/run.json");
            JsonNode header = JSON.readTree(Files.readAllLines(run.resolve("trajectory.jsonl")).get(0));
            assertEquals("fast", header.path("config").path("noise").asText(), run + " trajectory header");
        }
        List<String> la = ResumeAndReplayTest.stepRecords(a);
        List<String> lb = ResumeAndReplayTest.stepRecords(b);
        System.out.printf("noise auto (fast) on CUDA:%n  uninterrupted %s%n  resumed at 3  %s%n", la, lb);
        assertEquals(la, lb, "resumed at step 3 vs uninterrupted, fast noise");
        assertEquals(ResumeAndReplayTest.trajectorySteps(a), ResumeAndReplayTest.trajectorySteps(b));
        Map<String, HostTensor> wa = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        ResumeAndReplayTest.assertSameTensors(wa, SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors());

        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        Trajectory.Read t = Trajectory.read(a.resolve("trajectory.jsonl"));
        int differ = 0;
        for (HostTensor r : Replay.run(base, t, "cuda")) {
            if (!wa.get(r.name()).bytes().equals(r.bytes())) {
                differ++;
                System.out.println("replayed " + r.name() + " differs from the run's");
            }
        }
        assertEquals(0, differ, "tensors the CUDA replay of a fast-noise trajectory rebuilt differently");
        ZotuneException cpu = assertThrows(ZotuneException.class, () -> Replay.run(base, t, "cpu"));
        assertEquals("replay: trajectory " + a.resolve("trajectory.jsonl") + " was recorded with the fast noise (noise "
                + "fast), which only the CUDA engine regenerates: replay of a fast-noise trajectory needs CUDA "
                + "(--device cuda)", cpu.getMessage());

        // resuming the fast run with the exact noise: refused, nothing rewritten
        String metrics = Files.readString(b.resolve("metrics.jsonl"));
        ZotuneException x = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(config(b, "noise=exact"), new Trainer.Options(true, false, 0, false)));
        assertEquals("--resume: " + b.resolve("run.json") + " has noise fast (the noise variant the run trained with), "
                + "this start resolves noise to exact; resume with --noise fast on a CUDA device (the CPU engine has "
                + "the exact noise only)", x.getMessage());
        assertEquals(metrics, Files.readString(b.resolve("metrics.jsonl")));

        // noise exact on CUDA is recorded as exact (its steps are printed beside the fast run's: the variants'
        // normals differ by a few 1e-6, which may or may not change a float loss of 6 steps)
        Path e = dir.resolve("e");
        TrainRuns.train(config(e, "noise=exact"), TrainRuns.quiet());
        assertEquals("exact", JSON.readTree(e.resolve("run.json").toFile()).path("noise").asText());
        System.out.printf("  exact noise    %s%n", ResumeAndReplayTest.stepRecords(e));
    }
}
