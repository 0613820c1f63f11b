package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.model.BundledModel;

/**
 * A dfo run on CUDA over a bf16 base ({@code dtype: bf16}: the compute type, the base weights, the factors rounded
 * once), on the bundled stories260K with prompt classification, λ = 5, D = 8, schedule layers (four generations per
 * layer: the first uncaptured, the second captured, the rest replayed), CMA-ES and Fireworks alternating:
 * <ul>
 *   <li>the run captures its generations, lowers its training loss and exports its adapter; its loss at z = 0 and its
 *   first generation's loss (the same candidates whatever the dtype: the same seed) are within bf16's precision
 *   (5e-2 relative, PopulationPrecisionTest's bound) of the CUDA float32 run's and of the CPU bf16 run's;</li>
 *   <li>stopped after 6 generations and resumed, it gives the uninterrupted run's files bit for bit;</li>
 *   <li>spread over two replicas on GPU 0 (devices [0, 0], both bf16) its z = 0 and first generation losses are within
 *   bf16's precision of the one-GPU run's (cuBLAS may pick another kernel per block shape), and repeated it gives the
 *   same files bit for bit.</li>
 * </ul>
 * Every comparison prints both numbers and the relative difference, with the case's name.
 */
@Tag("gpu")
class DfoBf16RunGpuTest {
    private static final double BF16_REL = 5e-2;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern BASE_LOSS = Pattern.compile("training loss at z = 0 \\(the base model\\) (\\S+)");

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(Path out, String device, String dtype) throws IOException {
        return TrainConfig.parse("t.yaml", DfoRunTest.yaml(dir, out, "  optimizer: alternate", "  subspace: 8",
                "  population: 5", "  budget: 100", "  schedule: layers"), List.of("device=" + device,
                        "dtype=" + dtype));
    }

    /** A run to the end (or {@code stopAfter} generations, resumed when asked); returns its log. */
    private static String run(TrainConfig c, boolean resume, long stopAfter, DfoParts.PopulationLossFactory losses) {
        BundledModel b = BundledModel.get();
        StringWriter log = new StringWriter();
        try {
            new DfoTrainer(c, b.model(), b.tokenizer(), new Trainer.Options(resume, false, stopAfter, false),
                    new PrintWriter(log, true), losses, DfoParts.searches(c.dfo())).run();
        } catch (RuntimeException e) {
            System.out.println(log);
            throw e;
        }
        return log.toString();
    }

    private static String run(TrainConfig c) {
        return run(c, false, 0, DfoParts.populationLoss());
    }

    private static double baseLoss(String log) {
        Matcher m = BASE_LOSS.matcher(log);
        assertTrue(m.find(), "no z = 0 loss in the log:\n" + log);
        return Double.parseDouble(m.group(1));
    }

    private static double[] generationLosses(Path out) throws IOException {
        List<Double> v = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode o = JSON.readTree(line);
            if (o.path("type").asText().equals("dfo")) {
                v.add(o.path("loss").asDouble());
            }
        }
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static double rel(double got, double want) {
        return Math.abs(got - want) / Math.max(1, Math.abs(want));
    }

    /** {@code got} within bf16's precision of {@code want}; printed with the case's name either way. */
    private static void assertClose(String what, double got, double want) {
        double r = rel(got, want);
        System.out.printf(Locale.ROOT, "%s: %.7f against %.7f, rel %.3e (bound %.0e)%n", what, got, want, r,
                BF16_REL);
        assertTrue(r <= BF16_REL, what + ": " + got + " against " + want + ", relative " + r);
    }

    /** Two runs' files bit for bit; the first differing metrics line is printed first. */
    private static void assertSameRun(Path a, Path b, String what) throws IOException {
        List<String> x = Files.readAllLines(a.resolve("metrics.jsonl"));
        List<String> y = Files.readAllLines(b.resolve("metrics.jsonl"));
        String first = null;
        for (int i = 0; i < Math.min(x.size(), y.size()) && first == null; i++) {
            if (!x.get(i).equals(y.get(i))) {
                first = "line " + i + ": " + x.get(i) + " against " + y.get(i);
            }
        }
        System.out.printf("%s: %d and %d metrics lines%s%n", what, x.size(), y.size(),
                first == null ? ", the same bits" : "; first differing " + first);
        assertEquals(String.join("\n", x), String.join("\n", y), what + ": metrics.jsonl (first differing " + first
                + ")");
        assertEquals(Files.readString(a.resolve(DfoTrainer.SUBSPACE)), Files.readString(b.resolve(DfoTrainer.SUBSPACE)),
                what + ": subspace.json");
        assertArrayEquals(Files.readAllBytes(a.resolve("adapter/adapter_model.safetensors")),
                Files.readAllBytes(b.resolve("adapter/adapter_model.safetensors")), what + ": adapter");
    }

    @Test
    void aBf16RunCapturesLowersItsLossAndStaysWithinBf16OfFloat32AndTheCpu() throws IOException {
        Path bf16 = dir.resolve("cuda-bf16");
        Path f32 = dir.resolve("cuda-f32");
        Path cpu = dir.resolve("cpu-bf16");
        String log = run(config(bf16, "cuda", "bf16"));
        String log32 = run(config(f32, "cuda", "f32"));
        String logCpu = run(config(cpu, "cpu", "bf16"));
        assertTrue(log.contains("dfo: device cuda (bf16)"), log);
        assertTrue(log.contains("generations captured as CUDA graphs"), log);
        assertTrue(log32.contains("dfo: device cuda (f32)"), log32);
        assertTrue(logCpu.contains("dfo: device cpu (bf16)"), logCpu);
        JsonNode s = JSON.readTree(bf16.resolve("summary.json").toFile());
        assertEquals("completed", s.path("stopped").asText());
        assertEquals(20, s.path("steps").asLong());
        double before = baseLoss(log);
        double after = s.path("last_train_loss").asDouble();
        System.out.printf(Locale.ROOT, "cuda bf16 run: training loss %.7f at z = 0, %.7f at the result%n", before,
                after);
        assertTrue(after < before, "the bf16 search lowered nothing: " + before + " -> " + after);
        assertTrue(Files.isRegularFile(bf16.resolve("adapter/adapter_model.safetensors")));

        double[] g = generationLosses(bf16);
        assertEquals(20, g.length);
        assertClose("cuda bf16 vs cuda f32, z = 0", before, baseLoss(log32));
        assertClose("cuda bf16 vs cuda f32, generation 1", g[0], generationLosses(f32)[0]);
        assertClose("cuda bf16 vs cpu bf16, z = 0", before, baseLoss(logCpu));
        assertClose("cuda bf16 vs cpu bf16, generation 1", g[0], generationLosses(cpu)[0]);
    }

    @Test
    void aBf16RunStoppedAndResumedGivesTheUninterruptedRunBitForBit() throws IOException {
        Path whole = dir.resolve("whole");
        Path parts = dir.resolve("parts");
        run(config(whole, "cuda", "bf16"));
        TrainConfig c = config(parts, "cuda", "bf16");
        run(c, false, 6, DfoParts.populationLoss());
        String log = run(c, true, 0, DfoParts.populationLoss());
        assertTrue(log.contains("resuming " + parts + " at generation 6"), log);
        assertSameRun(whole, parts, "cuda bf16, stopped after 6 and resumed");
    }

    @Test
    void twoBf16ReplicasOnOneGpuStayWithinBf16OfOneAndRepeatBitForBit() throws IOException {
        Path one = dir.resolve("one");
        String logOne = run(config(one, "cuda", "bf16"));
        List<String> logs = new ArrayList<>();
        AtomicReference<DfoModelLoss> made = new AtomicReference<>();
        for (String name : new String[] {"spread", "again"}) {
            logs.add(run(config(dir.resolve(name), "cuda", "bf16"), false, 0, in -> {
                made.set(DfoModelLoss.create(in, new int[] {0, 0}));
                return made.get();
            }));
            assertArrayEquals(new int[] {0, 0}, made.get().gpus(), "the run was spread over two replicas");
        }
        assertTrue(logs.get(0).contains("dfo: device cuda (bf16), each generation divided over CUDA devices [0, 0]"),
                logs.get(0));
        assertClose("cuda bf16 on devices [0, 0] vs one GPU, z = 0", baseLoss(logs.get(0)), baseLoss(logOne));
        assertClose("cuda bf16 on devices [0, 0] vs one GPU, generation 1",
                generationLosses(dir.resolve("spread"))[0], generationLosses(one)[0]);
        assertSameRun(dir.resolve("spread"), dir.resolve("again"), "cuda bf16 on devices [0, 0], repeated");
    }
}
