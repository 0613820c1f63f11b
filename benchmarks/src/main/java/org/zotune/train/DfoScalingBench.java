package org.zotune.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.bench.Gpt2Shapes;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.AttentionTargets;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.Subspace;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * A DFO population spread over GPUs (issue 15.5's "DFO population of 80 members", benchmarks/nccl_scaling.sh): the
 * batched population forward of method dfo ({@link BatchedPopulation}, float32 base as a dfo run has it) on a
 * random-weight RoBERTa-large shape with the masked-LM prompt over 16 examples per class × 2 classes × 64 tokens, λ
 * members per generation divided over N GPUs in contiguous blocks ({@link PopulationReplicas}, parallel.gpus N): for
 * each N given, generations/s and members/s over {@code --generations} generations after {@code --warmup}, and the
 * efficiency against perfect scaling (strong scaling: the same λ, generations/s at N over N × generations/s at 1).
 * The members' losses are scalars back on the host (no NCCL). On one GPU also the eager generation
 * ({@code -Dzotune.dfo.graph=false}: no captured graph, losses reduced on the host), the graph's gain. The warm-up
 * (at least 2) includes the graph's capture. One JSON line per row.
 * <pre>
 * DfoScalingBench --population 80 --gpus 1,2,4,8 --per-class 16 --classes 2 --seq 64 --generations 5 --warmup 2
 *     --out dfo_scaling.jsonl
 * </pre>
 */
public final class DfoScalingBench {
    private DfoScalingBench() {
    }

    public static void main(String[] args) throws IOException {
        String gpuList = "1,2,4,8";
        int population = 80;
        int perClass = 16;
        int classes = 2;
        int seq = 64;
        int generations = 5;
        int warmup = 2; // a generation key's first generation runs uncaptured, its second captures the graph
        int subspace = 500;
        int rank = 4;
        String shape = "roberta-large";
        Path out = Path.of("dfo_scaling.jsonl");
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--gpus" -> gpuList = v;
                case "--population" -> population = Integer.parseInt(v);
                case "--per-class" -> perClass = Integer.parseInt(v);
                case "--classes" -> classes = Integer.parseInt(v);
                case "--seq" -> seq = Integer.parseInt(v);
                case "--generations" -> generations = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--subspace" -> subspace = Integer.parseInt(v);
                case "--rank" -> rank = Integer.parseInt(v);
                case "--shape" -> shape = v;
                case "--out" -> out = Path.of(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        int present = Cuda.deviceCount();
        System.out.println("devices: " + present + "; device 0: " + Cuda.availability());
        ModelConfig config = shape(shape);
        LanguageModel model = Architectures.createModel(config);
        List<HostTensor> weights = Gpt2Shapes.randomWeights(model.params(), 42);
        int mask = 50264; // RoBERTa's <mask>
        MaskedLmPrompt objective = new MaskedLmPrompt(mask, new int[] {6587, 372}); // two label words (the weights are random)
        PromptBatch train = examples(perClass, classes, seq, mask, config.vocabSize());
        AttentionTargets targets = AttentionTargets.of(model);
        double[] scales = new double[targets.layers()];
        java.util.Arrays.fill(scales, Subspace.aScale(1.0, 1, subspace, 1)); // σ̂ = 1: the maps' scale is not timed
        Subspace s = Subspace.of(targets, subspace, rank, 13, scales);
        SplittableRandom r = new SplittableRandom(5);
        double[][] candidates = new double[population][subspace];
        for (double[] z : candidates) {
            for (int i = 0; i < subspace; i++) {
                z[i] = r.nextDouble(-1, 1);
            }
        }
        double[][] current = new double[s.layers()][subspace]; // other layers at z = 0, as a run's first visit
        int layer = s.layers() / 2;
        double base = Double.NaN;
        for (String g : gpuList.split(",")) {
            int n = Integer.parseInt(g.trim());
            String what = shape + " lambda " + population + ", " + perClass * classes + " examples x " + seq;
            if (n > present) {
                row(out, what, n, "skipped", population, 0, Double.NaN, Double.NaN, "only " + present + " devices");
                continue;
            }
            if (n > population) {
                row(out, what, n, "skipped", population, 0, Double.NaN, Double.NaN, "more GPUs than members");
                continue;
            }
            int[] devices = new int[n];
            for (int k = 0; k < n; k++) {
                devices[k] = k;
            }
            Cuda.useDevice(0);
            double gps;
            try (Ops ops = CudaOps.create(DType.F32); Parameters p = ops.createParameters(weights, DType.F32);
                 BatchedPopulation first = new BatchedPopulation(ops, model, p, objective, train, s)) {
                if (n == 1) {
                    gps = measure(first, layer, candidates, current, generations, warmup);
                    first.close(); // its graph's activations are freed before the eager population's run
                    // the same generations without the captured graph (-Dzotune.dfo.graph=false): the graph's gain
                    String was = System.getProperty(BatchedPopulation.GRAPH_PROPERTY);
                    System.setProperty(BatchedPopulation.GRAPH_PROPERTY, "false");
                    try (BatchedPopulation eager = new BatchedPopulation(ops, model, p, objective, train, s)) {
                        double e = measure(eager, layer, candidates, current, generations, warmup);
                        row(out, what, n, "dfo-population-eager", population, generations, e, Double.NaN,
                                eager.generations() + "; the captured generation is " + String.format(Locale.ROOT,
                                "%.2f", gps / e) + "x faster");
                    } finally {
                        if (was == null) {
                            System.clearProperty(BatchedPopulation.GRAPH_PROPERTY);
                        } else {
                            System.setProperty(BatchedPopulation.GRAPH_PROPERTY, was);
                        }
                    }
                } else {
                    try (PopulationReplicas spread = new PopulationReplicas(PopulationReplicas.CUDA, devices, first,
                            model, weights, objective, train, s, DType.F32, 600)) {
                        gps = measure(spread, layer, candidates, current, generations, warmup);
                    }
                }
            }
            if (n == 1) {
                base = gps;
            }
            row(out, what, n, "dfo-population", population, generations, gps, gps / (n * base),
                    n == 1 ? "one GPU, one batched forward per generation, captured after the first" : "");
        }
    }

    /** RoBERTa shapes (random weights, MLM head): roberta-large or roberta-base. */
    private static ModelConfig shape(String name) {
        int[] hlf = switch (name) { // hidden, layers, ffn
            case "roberta-large" -> new int[] {1024, 24, 4096};
            case "roberta-base" -> new int[] {768, 12, 3072};
            default -> throw new IllegalArgumentException("unknown shape " + name + " (roberta-large, roberta-base)");
        };
        int heads = hlf[0] / 64;
        return new ModelConfig(ModelFamily.ROBERTA, 50265, hlf[0], hlf[1], heads, heads, 64, hlf[2], 514, 1e-5,
                ModelConfig.Activation.GELU, true, false, false, hlf[0], 0, null, true, true, 0, 2, 1,
                new ModelConfig.Encoder(1, 2, true));
    }

    /** {@code perClass} × {@code classes} random rows of {@code seq} tokens: <s> … <mask> . </s>. */
    private static PromptBatch examples(int perClass, int classes, int seq, int mask, int vocab) {
        SplittableRandom r = new SplittableRandom(7);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < perClass * classes; i++) {
            int[] row = new int[seq];
            for (int t = 0; t < seq; t++) {
                row[t] = 3 + r.nextInt(vocab - 4);
            }
            row[0] = 0;
            row[seq - 1] = 2;
            row[seq - 3] = mask;
            ex.add(new EncodedExample("x" + i, new int[][] {row}, new int[] {seq - 3}, i % classes));
        }
        return PromptBatch.of(ex, 1);
    }

    /** Generations per second after {@code warmup}; each generation returns its λ losses to the host. */
    private static double measure(PopulationLoss loss, int layer, double[][] candidates, double[][] current,
            int generations, int warmup) {
        for (int i = 0; i < warmup; i++) {
            loss.losses(layer, candidates, current);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < generations; i++) {
            double[] l = loss.losses(layer, candidates, current);
            if (l.length != candidates.length || !Double.isFinite(l[0])) {
                throw new IllegalStateException("generation " + i + ": " + l.length + " losses, first " + l[0]);
            }
        }
        return generations / ((System.nanoTime() - t0) / 1e9);
    }

    private static void row(Path out, String what, int gpus, String path, int population, int generations,
            double generationsPerSecond, double efficiency, String note) throws IOException {
        String line = String.format(Locale.ROOT, "{\"model\":\"%s\",\"gpus\":%d,\"path\":\"%s\",\"population\":%d,"
                + "\"generations\":%d,\"generations_per_s\":%.4f,\"members_per_s\":%.2f,\"efficiency\":%.4f,"
                + "\"note\":\"%s\"}", what, gpus, path, population, generations, generationsPerSecond,
                generationsPerSecond * population, efficiency, note);
        System.out.println(line);
        Files.writeString(out, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }
}
