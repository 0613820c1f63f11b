package org.zotune.train;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.bench.Gpt2Shapes;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.CausalLM;
import org.zotune.parallel.NcclGroup;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * Data-parallel scaling over GPUs (issue 15.5, benchmarks/nccl_scaling.sh): zotune's ZO-SGD step on a random-weight
 * GPT-2 shape in bf16 with objective lm, global batch (batch × seq) × N split over N GPUs (parallel.gpus N, NCCL),
 * for each N given: steps/s, tokens/s and the efficiency against perfect scaling (steps/s at N over steps/s of one
 * NCCL rank on the same data-parallel path: weak scaling, each GPU keeps batch × seq). The single engine's captured
 * step (gpus 1, the default path) is timed too, to show the data-parallel path's own cost. One JSON line per row.
 * <pre>
 * ScalingBench --model 1558M --gpus 1,2,4,8 --batch 16 --seq 128 --steps 20 --warmup 3 --out rows.jsonl
 * </pre>
 */
public final class ScalingBench {
    private ScalingBench() {
    }

    public static void main(String[] args) throws IOException {
        String model = "1558M";
        String gpuList = "1,2,4,8";
        int batch = 16;
        int seq = 128;
        int steps = 20;
        int warmup = 3;
        Path out = Path.of("scaling.jsonl");
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--model" -> model = v;
                case "--gpus" -> gpuList = v;
                case "--batch" -> batch = Integer.parseInt(v);
                case "--seq" -> seq = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--out" -> out = Path.of(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        int present = Cuda.deviceCount();
        System.out.println("devices: " + present + "; device 0: " + Cuda.availability() + "; NCCL "
                + NcclGroup.version());
        CausalLM lm = Architectures.create(Gpt2Shapes.config(model));
        List<HostTensor> weights = Gpt2Shapes.randomWeights(lm.params(), 42);
        double base = Double.NaN;
        for (String g : gpuList.split(",")) {
            int n = Integer.parseInt(g.trim());
            if (n > present) {
                row(out, model, n, "skipped", batch * n, seq, 0, Double.NaN, Double.NaN, "only " + present
                        + " devices");
                continue;
            }
            if (n == 1) {
                TrainConfig c = config(model, 1, batch, seq, steps + warmup);
                PrintWriter log = new PrintWriter(new StringWriter());
                double single;
                try (ZoEngine e = ZoEngines.create(c, lm, weights, Objective.named("lm"), log)) {
                    single = measure(e, batch, seq, steps, warmup);
                }
                row(out, model, 1, "single-captured", batch, seq, steps, single, Double.NaN, "");
                try (ZoEngine e = oneRank(c, lm, weights)) {
                    base = measure(e, batch, seq, steps, warmup);
                }
                row(out, model, 1, "data-parallel", batch, seq, steps, base, 1.0, "one NCCL rank");
                continue;
            }
            TrainConfig c = config(model, n, batch * n, seq, steps + warmup);
            PrintWriter log = new PrintWriter(new StringWriter());
            double sps;
            try (ZoEngine e = ZoEngines.create(c, lm, weights, Objective.named("lm"), log)) {
                sps = measure(e, batch * n, seq, steps, warmup);
            }
            row(out, model, n, "data-parallel", batch * n, seq, steps, sps, sps / base, "");
        }
    }

    private static TrainConfig config(String model, int gpus, int batch, int seq, int steps) {
        // a config only for the engine's settings: no model file, data or run folder is read or written
        String yaml = String.join("\n", "model: random-" + model, "data:", "  format: text", "  train: none",
                "out: scaling-bench-run", "objective: lm", "batch_size: " + batch, "max_length: " + seq,
                "dtype: bf16", "device: cuda", "steps: " + steps, "optimizer:", "  name: zo-sgd", "  lr: 1e-7",
                "eps: 1e-3", "parallel:",
                "  gpus: " + gpus, "  checksum_every: 0", "");
        return TrainConfig.parse("scaling-bench", yaml, List.of());
    }

    /** The data-parallel path with one NCCL rank on GPU 0 (the efficiency's reference). */
    private static ZoEngine oneRank(TrainConfig c, CausalLM lm, List<HostTensor> w) {
        return new DataParallelEngine(NcclGroup.create(new int[] {0}, 600), 600, DataParallelEngine.Split.BATCH,
                Objective.named("lm"), 0, (rank, o, x) -> new OnDevice(0, new CudaZoEngine(
                        CudaOps.create(c.paramDType()), lm, w, null, o, c.optimizer().referenceConfig(c.steps()),
                        c.optimizer().lrSchedule(c.steps()), ZoEngines.stepConfig(c), true,
                        c.noiseVariant(true)))); // the variant the run's engines use (key noise)
    }

    private static PromptBatch batch(int rows, int seq, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            int[] ids = new int[seq];
            for (int t = 0; t < seq; t++) {
                ids[t] = r.nextInt(50257);
            }
            ex.add(new EncodedExample("random", new int[][] {ids}, new int[] {0}, 0));
        }
        return PromptBatch.of(ex, 50256);
    }

    /** Steps per second over {@code steps} steps after {@code warmup}; each step returns its losses (synchronised). */
    private static double measure(ZoEngine e, int rows, int seq, int steps, int warmup) {
        List<PromptBatch> b = List.of(batch(rows, seq, 7));
        for (int i = 0; i < warmup; i++) {
            e.step(b);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            e.step(b);
        }
        return steps / ((System.nanoTime() - t0) / 1e9);
    }

    private static void row(Path out, String model, int gpus, String path, int batch, int seq, int steps,
            double stepsPerSecond, double efficiency, String note) throws IOException {
        String line = String.format(Locale.ROOT, "{\"model\":\"%s\",\"gpus\":%d,\"path\":\"%s\",\"global_batch\":%d,"
                + "\"seq\":%d,\"steps\":%d,\"steps_per_s\":%.4f,\"tokens_per_s\":%.1f,\"efficiency\":%.4f,"
                + "\"note\":\"%s\"}", model, gpus, path, batch, seq, steps, stepsPerSecond,
                stepsPerSecond * batch * seq, efficiency, note);
        System.out.println(line);
        Files.writeString(out, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }
}
