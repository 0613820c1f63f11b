package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.io.TextCorpus;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.parallel.InProcessGroup;
import org.zotune.train.config.Optimizer;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.ZoStep;

/**
 * Issue 16 deliverable 4, CPU half: 1,000 cycles, each loading stories260K, running one ZO step on a CpuZoEngine and
 * on a two-worker DataParallelEngine and closing them, then opening the API Model, scoring a text and closing it.
 * Every 100 cycles it samples, after GC, the JVM heap in use, the direct and mapped buffer pools, JavaCPP's native
 * bytes, the process's resident set (VmRSS) and the live threads, and prints a table (also to
 * target/create-close-cpu.tsv). A measurement: runs only with -Dzotune.measure=true; the one assertion is that
 * the two-worker engine's threads are gone after close (a count, not a timing).
 */
class CreateCloseCyclesTest {
    private static final int CYCLES = Integer.getInteger("zotune.cycles", 1000);

    @TempDir
    Path dir;

    private static long vmRssKib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static long pool(String name) {
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals(name)) {
                return b.getMemoryUsed();
            }
        }
        return -1;
    }

    private static String sample(int cycle) throws IOException {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        Runtime r = Runtime.getRuntime();
        return String.format(Locale.ROOT, "%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%d", cycle,
                (r.totalMemory() - r.freeMemory()) / 1048576.0, pool("direct") / 1048576.0,
                pool("mapped") / 1048576.0, org.bytedeco.javacpp.Pointer.totalBytes() / 1048576.0,
                vmRssKib() / 1024.0, Thread.activeCount());
    }

    @Test
    void createAndCloseEnginesAndModelsAThousandTimes() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        BundledModel b = BundledModel.get();
        var tok = Tokenizers.forModel(b.model(), b.tokenizer());
        Path text = TrainRuns.austen(dir, "train.txt", 3000);
        List<int[]> chunks = TextCorpus.read(List.of(text), tok, 16, 4).chunks();
        List<PromptBatch> batches = List.of(PromptBatch.ofChunks(chunks.subList(0, 4), 0));
        Optimizer opt = TrainConfig.parse("t", "model: x\ndata: {format: text, train: a}\nout: o\n",
                List.of("optimizer.name=zo-adam", "optimizer.lr=1e-3")).optimizer();
        ZoStep.Config sc = ZoStep.Config.of(1e-3, 11);
        List<String> rows = new ArrayList<>();
        rows.add("cycle\theap_MiB\tdirect_MiB\tmapped_MiB\tjavacpp_MiB\tVmRSS_MiB\tthreads");
        rows.add(sample(0));
        int threadsBefore = Thread.activeCount();
        long t0 = System.nanoTime();
        for (int c = 1; c <= CYCLES; c++) {
            LoadedModel m = ModelLoader.load(b.model());
            NoiseLayout layout = new NoiseLayout(m.model().params());
            try (CpuZoEngine e = new CpuZoEngine(m.model(), m.parameters(), new CausalLmLoss(),
                    ZoOptimizers.create(opt, 1, layout), opt.lrSchedule(1), sc)) {
                e.step(batches);
            }
            try (DataParallelEngine e = new DataParallelEngine(new InProcessGroup(2, 60), 60,
                    DataParallelEngine.Split.BATCH, new CausalLmLoss(), 1, (o, x) -> new CpuZoEngine(m.model(),
                            m.parameters(), o, ZoOptimizers.create(opt, 1, layout), opt.lrSchedule(1), sc))) {
                e.step(batches);
            }
            try (Model api = Model.open(ModelSource.bundled(), Device.CPU, Precision.F32)) {
                api.score("Once upon a time there was a little girl.");
            }
            if (c % 100 == 0) {
                rows.add(sample(c));
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        int threadsAfter = Thread.activeCount();
        rows.add(String.format(Locale.ROOT, "# %d cycles in %.1f s; threads before %d, after %d", CYCLES, seconds,
                threadsBefore, threadsAfter));
        rows.forEach(System.out::println);
        Files.createDirectories(Path.of("target"));
        Files.write(Path.of("target/create-close-cpu.tsv"), rows);
        // a DataParallelEngine whose close left its worker threads alive would add two per cycle
        assertTrue(threadsAfter <= threadsBefore + 2, "threads before " + threadsBefore + ", after " + threadsAfter);
    }
}
