package org.zotune.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.tensor.DType;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.cuda.DeviceZoStep;
import org.zotune.zo.cuda.StepBench;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoStep;

/**
 * Issue 16 deliverable 4 on the GPU host: does anything grow over a long run or over many engines?
 * <ul>
 *   <li>{@code steps}: {@code --steps} (10,000) captured-graph ZO steps (ZO-AdaMU, in place, the optimiser with the most
 *       state) on random weights of a GPT-2 shape ({@code --model}, gpt2-355M) in bf16 at {@code --shape} (16x128),
 *       sampling every {@code --every} (500) steps: device memory in use (cudaMemGetInfo: total − free), the JVM heap
 *       after GC, the direct buffer pool, JavaCPP's tracked native bytes, the process's RSS, threads, and the median
 *       step time of the window;</li>
 *   <li>{@code cycles}: {@code --cycles} (1,000) create/close cycles, each creating CUDA ops, uploading random
 *       gpt2-124M weights, running two captured steps of a fresh {@link DeviceZoStep} and closing everything, then
 *       opening the bundled model on CUDA through the public API, scoring one text and closing it; sampled every
 *       100 cycles.</li>
 * </ul>
 * One tab-separated row per sample on stdout and in {@code --out}; "flat" is read from the rows (reported in
 * benchmarks/RESULTS.md, never asserted).
 *
 * <pre>Soak --part steps|cycles|both [--out DIR] [--steps 10000] [--every 500] [--cycles 1000] [--model gpt2-355M]
 *      [--shape 16x128] [--deadline SECONDS]</pre>
 */
public final class Soak {
    private static final long START = System.nanoTime();

    private Soak() {
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> o = options(args);
        String part = o.getOrDefault("part", "both");
        Path out = Path.of(o.getOrDefault("out", "benchmarks/out/soak"));
        Files.createDirectories(out);
        double deadline = Double.parseDouble(o.getOrDefault("deadline", "1e9"));
        Cuda.Availability a = Cuda.require();
        System.out.println("# " + a.deviceName() + ", " + java.time.Instant.now());
        if (part.equals("steps") || part.equals("both")) {
            steps(out.resolve("soak-steps.tsv"), o.getOrDefault("model", "gpt2-355M"),
                    o.getOrDefault("shape", "16x128"), Integer.parseInt(o.getOrDefault("steps", "10000")),
                    Integer.parseInt(o.getOrDefault("every", "500")), deadline);
        }
        if (part.equals("cycles") || part.equals("both")) {
            cycles(out.resolve("soak-cycles.tsv"), Integer.parseInt(o.getOrDefault("cycles", "1000")), deadline);
        }
    }

    private static final String HEADER = "sample\tdevice_used_MiB\theap_MiB\tdirect_MiB\tjavacpp_MiB\tVmRSS_MiB\tthreads";

    private static void steps(Path file, String model, String shape, int steps, int every, double deadline)
            throws IOException {
        List<String> rows = new ArrayList<>();
        rows.add("# steps: " + model + " bf16 " + shape + ", zo-adamu in place, captured graph, " + steps + " steps");
        rows.add(HEADER + "\tmedian_step_ms");
        print(rows);
        CausalLM lm = Architectures.create(StepShapes.config(model));
        Batch batch = StepBench.batch(shape, lm.config().vocabSize());
        int[] targets = NextTokenTargets.of(batch);
        ZoOptimizerConfig opt = new ZoAdaMu.Config(LrSchedule.constant(1e-6), AdaMuSchedule.defaults(steps), 1e-8,
                0.0, DType.F32);
        ZoStep.Config cfg = ZoStep.Config.of(1e-3, 7).withStrategy(PerturbationStrategy.IN_PLACE)
                .withParamDType(DType.BF16);
        try (Parameters params = StepBench.randomParameters(lm, DType.BF16, 42);
             CudaOps ops = CudaOps.create(DType.BF16);
             DeviceZoStep zo = new DeviceZoStep(ops, lm, params, opt, cfg)) {
            zo.step(batch, targets); // captures the graph; the baseline is taken after it
            rows.add(sample("0") + "\t");
            print(rows);
            double[] window = new double[every];
            for (int t = 1; t <= steps; t++) {
                long t0 = System.nanoTime();
                zo.step(batch, targets);
                window[(t - 1) % every] = (System.nanoTime() - t0) / 1e6;
                if (t % every == 0) {
                    double[] w = window.clone();
                    Arrays.sort(w);
                    rows.add(sample(Integer.toString(t)) + String.format(Locale.ROOT, "\t%.3f", w[w.length / 2]));
                    print(rows);
                    if (elapsed() > deadline) {
                        rows.add("# deadline reached after step " + t);
                        break;
                    }
                }
            }
            rows.add("# skipped steps " + zo.skippedSteps());
        }
        print(rows);
        Files.write(file, rows);
    }

    private static void cycles(Path file, int cycles, double deadline) throws IOException {
        List<String> rows = new ArrayList<>();
        rows.add("# cycles: CudaOps + gpt2-124M bf16 weights + DeviceZoStep (2 captured steps, 4x64) + close; "
                + "Model.open(bundled, CUDA) + score + close");
        rows.add(HEADER);
        print(rows);
        CausalLM lm = Architectures.create(StepShapes.config("gpt2-124M"));
        Batch batch = StepBench.batch("4x64", lm.config().vocabSize());
        int[] targets = NextTokenTargets.of(batch);
        ZoOptimizerConfig opt = new ZoAdaMu.Config(LrSchedule.constant(1e-6), AdaMuSchedule.defaults(10), 1e-8, 0.0,
                DType.F32);
        ZoStep.Config cfg = ZoStep.Config.of(1e-3, 7).withParamDType(DType.BF16);
        rows.add(sample("0"));
        long t0 = System.nanoTime();
        int c = 1;
        for (; c <= cycles; c++) {
            try (Parameters params = StepBench.randomParameters(lm, DType.BF16, c);
                 CudaOps ops = CudaOps.create(DType.BF16);
                 DeviceZoStep zo = new DeviceZoStep(ops, lm, params, opt, cfg)) {
                zo.step(batch, targets);
                zo.step(batch, targets);
            }
            try (Model m = Model.open(ModelSource.bundled(), Device.CUDA, Precision.F32)) {
                m.score("Once upon a time there was a little girl.");
            }
            if (c % 100 == 0) {
                rows.add(sample(Integer.toString(c)));
                print(rows);
            }
            if (elapsed() > deadline) {
                rows.add("# deadline reached after cycle " + c);
                break;
            }
        }
        rows.add(String.format(Locale.ROOT, "# %d cycles in %.1f s", Math.min(c, cycles),
                (System.nanoTime() - t0) / 1e9));
        print(rows);
        Files.write(file, rows);
    }

    private static int printed;

    /** Prints the rows not printed yet (progress on long runs). */
    private static void print(List<String> rows) {
        for (; printed < rows.size(); printed++) {
            System.out.println(rows.get(printed));
        }
        System.out.flush();
    }

    private static String sample(String label) {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        // direct buffers are freed by their cleaners after the collection, which System.gc() does not wait for:
        // wait (at most 2 s) until the pool stops shrinking, so a sample counts only buffers still referenced
        long direct = pool("direct");
        for (int i = 0; i < 20; i++) {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = pool("direct");
            if (now >= direct) {
                break;
            }
            direct = now;
        }
        Runtime r = Runtime.getRuntime();
        long[] mem = Cuda.memInfo();
        return String.format(Locale.ROOT, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%d", label, (mem[1] - mem[0]) / 1048576.0,
                (r.totalMemory() - r.freeMemory()) / 1048576.0, pool("direct") / 1048576.0,
                org.bytedeco.javacpp.Pointer.totalBytes() / 1048576.0, vmRssKib() / 1024.0, Thread.activeCount());
    }

    private static long pool(String name) {
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals(name)) {
                return b.getMemoryUsed();
            }
        }
        return -1;
    }

    private static long vmRssKib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static double elapsed() {
        return (System.nanoTime() - START) / 1e9;
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --key value pairs, got " + args[i]);
            }
            o.put(args[i].substring(2), args[++i]);
        }
        return o;
    }
}
