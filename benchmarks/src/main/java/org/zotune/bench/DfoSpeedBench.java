package org.zotune.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.AttentionTargets;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.Subspace;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.MaskedLmPrompt;
import org.zotune.train.objective.Objective;

/**
 * DFO-LoRA generations per second (issue "Derivative-free LoRA", item 8): λ candidates of one layer's subspace
 * point, each evaluated on the whole k-shot training set ({@code --per-class} × {@code --classes} examples of
 * {@code --seq} tokens), at RoBERTa-large's and GPT-2 large's shapes with random weights, float32 base (as a dfo run
 * and the public code have it) and, with {@code --dtypes fp32,bf16}, a bf16 base too (rows named
 * {@code zotune-batched-bf16} / {@code zotune-sequential-bf16}, field {@code dtype}; a dfo run is float32 today). Two
 * rows per shape and dtype:
 * <ul>
 * <li>{@code zotune-batched}: the generation in ONE forward ({@link BatchedPopulation#losses} with λ candidates:
 * the layers below the searched one once over the set, then the set repeated λ times through the searched layer
 * and those above, each member's Q/K update on its own rows);</li>
 * <li>{@code zotune-sequential}: the members one at a time (the same object called with one candidate λ times:
 * λ forwards over the set), the public DFO-LoRA code's order of work on zotune's forward.</li>
 * </ul>
 * The PyTorch peer (benchmarks/peer/dfo_peer.py) times the public code's loop at the same shapes. The objective is
 * the run's: RoBERTa the masked-LM prompt (one row per example, {@code <s> … <mask> . </s>}, two label words),
 * GPT-2 prompt classification (one row per candidate: the prompt of seq − 1 tokens then the label's one token; loss
 * = cross-entropy over the two candidates' scores). The searched layer is the middle one; by default
 * ({@code --others below}) the layers below it hold non-zero points, as when schedule {@code layers} reaches the
 * middle layer (their updates apply to every row), {@code --others zero} holds every other layer at 0 (a first
 * visit). The sequential row also reports the largest relative difference between its losses and the batched
 * row's for the same candidates (they should agree within float32 rounding, about 1e-5).
 *
 * <p>Warm-up: a batched generation's first runs uncaptured and its second captures the CUDA graph, so
 * {@code --warmup 2} times replays only (the sequential row's members share one key and warm up within its first
 * generation). Time box: no row starts after {@code --deadline} seconds from the start, and a row stops timing after
 * {@code --row-seconds} (at least one timed generation after {@code --warmup}). One JSON line per row on stdout and
 * appended to {@code --out}.
 * <pre>
 * DfoSpeedBench --shapes roberta-large,gpt2-large --population 20 --per-class 16 --classes 2 --seq 64
 *     --generations 5 --warmup 2 --row-seconds 25 --deadline 150 --out zotune.jsonl [--device cuda|cpu]
 *     [--dtypes fp32,bf16] [--others below|zero]
 * </pre>
 */
public final class DfoSpeedBench {
    private static final long T0 = System.nanoTime();
    private static final int ROBERTA_MASK = 50264;
    /** Two label-word ids per vocabulary (any valid ids do: the weights are random). */
    private static final int[] ROBERTA_LABELS = {6587, 372};
    private static final int[] GPT2_LABELS = {6587, 1049};

    private DfoSpeedBench() {
    }

    /** The options of one invocation. */
    record Options(List<String> shapes, List<String> modes, String device, int population, int perClass, int classes,
            int seq, int subspace, int rank, int generations, int warmup, double rowSeconds, double deadline,
            boolean othersBelow, List<DType> dtypes, Path out) {
    }

    public static void main(String[] args) throws IOException {
        Options o = parse(args);
        boolean cuda = o.device().equals("cuda");
        String gpu = "cpu";
        if (cuda) {
            Cuda.Availability a = Cuda.availability();
            if (!a.usable()) {
                System.err.println("DfoSpeedBench: CUDA is not usable here: " + a.reason());
                System.exit(2);
            }
            gpu = a.deviceName();
            System.out.println("device 0: " + a);
        }
        for (String shape : o.shapes()) {
            if (elapsed() > o.deadline()) {
                for (String mode : o.modes()) {
                    emit(o.out(), String.format(Locale.ROOT, "{\"kind\":\"skipped\",\"system\":\"zotune-%s\","
                            + "\"shape\":\"%s\",\"reason\":\"deadline\"}", mode, shape));
                }
                continue;
            }
            try {
                runShape(o, shape, cuda, gpu);
            } catch (RuntimeException | OutOfMemoryError e) { // report and go on with the next shape
                String msg = String.valueOf(e.getMessage()).replace('"', '\'').replace('\n', ' ');
                emit(o.out(), String.format(Locale.ROOT, "{\"kind\":\"error\",\"system\":\"zotune\",\"shape\":\"%s\","
                        + "\"error\":\"%s: %s\"}", shape, e.getClass().getSimpleName(),
                        msg.substring(0, Math.min(300, msg.length()))));
                e.printStackTrace();
            }
        }
    }

    private static void runShape(Options o, String shape, boolean cuda, String gpu) throws IOException {
        ModelConfig config = config(shape);
        LanguageModel model = Architectures.createModel(config);
        List<HostTensor> weights = Gpt2Shapes.randomWeights(model.params(), 42);
        boolean encoder = config.family() == ModelFamily.ROBERTA;
        Objective objective = encoder ? new MaskedLmPrompt(ROBERTA_MASK, labels(ROBERTA_LABELS, o.classes()))
                : new ClassificationLoss();
        PromptBatch train = encoder ? maskedRows(o, config.vocabSize()) : candidateRows(o, config.vocabSize());
        AttentionTargets targets = AttentionTargets.of(model);
        double[] scales = new double[targets.layers()];
        Arrays.fill(scales, Subspace.aScale(1.0, 1, o.subspace(), 1)); // σ̂ = 1: the maps' scale is not timed
        Subspace s = Subspace.of(targets, o.subspace(), o.rank(), 13, scales);
        SplittableRandom r = new SplittableRandom(5);
        double[][] candidates = new double[o.population()][o.subspace()];
        for (double[] z : candidates) {
            fill(z, r);
        }
        int layer = s.layers() / 2;
        double[][] current = new double[s.layers()][o.subspace()];
        if (o.othersBelow()) {
            for (int l = 0; l < layer; l++) {
                fill(current[l], r);
            }
        }
        for (DType dtype : o.dtypes()) {
            runDtype(o, dtype, shape, cuda, gpu, model, weights, objective, train, s, candidates, current, layer);
        }
    }

    /** The rows of one base dtype: fp32 as the public code runs it, named zotune-MODE; bf16 as zotune-MODE-bf16. */
    private static void runDtype(Options o, DType dtype, String shape, boolean cuda, String gpu, LanguageModel model,
            List<HostTensor> weights, Objective objective, PromptBatch train, Subspace s, double[][] candidates,
            double[][] current, int layer) throws IOException {
        String label = dtype == DType.F32 ? "fp32" : dtype.name().toLowerCase(Locale.ROOT);
        String suffix = dtype == DType.F32 ? "" : "-" + label;
        String common = String.format(Locale.ROOT, "\"shape\":\"%s\",\"dtype\":\"%s\",\"device\":\"%s\","
                + "\"population\":%d,\"examples\":%d,\"seq\":%d,\"rows_per_member\":%d,\"layer\":%d,\"layers\":%d,"
                + "\"others\":\"%s\",\"subspace\":%d,\"rank\":%d,\"objective\":\"%s\"", shape, label, gpu,
                o.population(), train.examples(), o.seq(), train.rows(), layer, s.layers(),
                o.othersBelow() ? "below" : "zero", o.subspace(), o.rank(), objective.name());
        double[] batchedLosses = null;
        try (Ops ops = cuda ? CudaOps.create(dtype) : new CpuOps(dtype);
                Parameters p = ops.createParameters(weights, dtype);
                BatchedPopulation population = new BatchedPopulation(ops, model, p, objective, train, s)) {
            for (String mode : o.modes()) {
                if (elapsed() > o.deadline()) {
                    emit(o.out(), "{\"kind\":\"skipped\",\"system\":\"zotune-" + mode + suffix + "\"," + common
                            + ",\"reason\":\"deadline\"}");
                    continue;
                }
                boolean batched = mode.equals("batched");
                Generation g = batched ? () -> population.losses(layer, candidates, current) : () -> {
                    double[] out = new double[candidates.length];
                    for (int i = 0; i < candidates.length; i++) {
                        out[i] = population.losses(layer, new double[][] {candidates[i]}, current)[0];
                    }
                    return out;
                };
                double[] losses = null;
                for (int i = 0; i < o.warmup(); i++) {
                    losses = g.losses();
                }
                List<Double> seconds = new ArrayList<>();
                long rowStart = System.nanoTime();
                while (seconds.size() < o.generations()
                        && (seconds.isEmpty() || (System.nanoTime() - rowStart) / 1e9 < o.rowSeconds())) {
                    long t = System.nanoTime();
                    losses = g.losses();
                    seconds.add((System.nanoTime() - t) / 1e9);
                }
                check(losses, candidates.length, mode);
                String compare = "";
                if (batched) {
                    batchedLosses = losses;
                } else if (batchedLosses != null) {
                    compare = String.format(Locale.ROOT, ",\"max_rel_diff_vs_batched\":%.3e",
                            maxRelDiff(losses, batchedLosses));
                }
                double total = seconds.stream().mapToDouble(Double::doubleValue).sum();
                double median = median(seconds);
                long used = cuda ? usedDeviceBytes() : -1;
                emit(o.out(), String.format(Locale.ROOT, "{\"kind\":\"row\",\"system\":\"zotune-%s%s\",%s,"
                        + "\"generations\":%d,\"seconds\":%.4f,\"generation_ms_median\":%.3f,"
                        + "\"generations_per_s\":%.5f,\"members_per_s\":%.3f,\"forwards_per_generation\":%d,"
                        + "\"device_used_bytes\":%d,\"losses\":%s%s,\"elapsed_s\":%.1f}",
                        mode, suffix, common, seconds.size(), total, 1e3 * median, seconds.size() / total,
                        seconds.size() * o.population() / total, batched ? 1 : o.population(), used, json(losses),
                        compare, elapsed()));
            }
        }
    }

    /** One generation's λ losses. */
    private interface Generation {
        double[] losses();
    }

    /** The model shapes: RoBERTa-large and GPT-2 large, and tiny ones of each family for a CPU run. */
    static ModelConfig config(String name) {
        return switch (name) {
            case "roberta-large" -> roberta(1024, 24, 4096);
            case "roberta-base" -> roberta(768, 12, 3072);
            case "roberta-tiny" -> roberta(64, 2, 128);
            case "gpt2-large" -> Gpt2Shapes.config("774M");
            case "gpt2-medium" -> Gpt2Shapes.config("355M");
            case "gpt2-tiny" -> Gpt2Shapes.gpt2(2, 64, 4);
            default -> throw new IllegalArgumentException("unknown shape " + name
                    + " (roberta-large, roberta-base, roberta-tiny, gpt2-large, gpt2-medium, gpt2-tiny)");
        };
    }

    /** RoBERTa with its MLM head (hidden / 64 heads, vocabulary 50265, 514 positions); as DfoScalingBench's. */
    private static ModelConfig roberta(int hidden, int layers, int ffn) {
        int heads = Math.max(1, hidden / 64);
        return new ModelConfig(ModelFamily.ROBERTA, 50265, hidden, layers, heads, heads, hidden / heads, ffn, 514,
                1e-5, ModelConfig.Activation.GELU, true, false, false, hidden, 0, null, true, true, 0, 2, 1,
                new ModelConfig.Encoder(1, 2, true));
    }

    /** perClass × classes rows of seq random tokens, {@code <s> … <mask> . </s>}; gold = example mod classes. */
    static PromptBatch maskedRows(Options o, int vocab) {
        SplittableRandom r = new SplittableRandom(7);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < o.perClass() * o.classes(); i++) {
            int[] row = randomTokens(r, o.seq(), vocab);
            row[0] = 0;
            row[o.seq() - 1] = 2;
            row[o.seq() - 3] = ROBERTA_MASK;
            ex.add(new EncodedExample("x" + i, new int[][] {row}, new int[] {o.seq() - 3}, i % o.classes()));
        }
        return PromptBatch.of(ex, 1);
    }

    /**
     * perClass × classes examples of {@code classes} candidate rows each: the same seq − 1 random prompt tokens,
     * then the candidate's label token (the answer, scored from the logits before it); gold = example mod classes.
     */
    static PromptBatch candidateRows(Options o, int vocab) {
        SplittableRandom r = new SplittableRandom(7);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < o.perClass() * o.classes(); i++) {
            int[] prompt = randomTokens(r, o.seq() - 1, vocab);
            int[][] rows = new int[o.classes()][];
            int[] starts = new int[o.classes()];
            for (int c = 0; c < o.classes(); c++) {
                rows[c] = Arrays.copyOf(prompt, o.seq());
                rows[c][o.seq() - 1] = labels(GPT2_LABELS, o.classes())[c];
                starts[c] = o.seq() - 1;
            }
            ex.add(new EncodedExample("x" + i, rows, starts, i % o.classes()));
        }
        return PromptBatch.of(ex, 50256);
    }

    /** The two label words, then further ids after the second for more classes. */
    private static int[] labels(int[] two, int classes) {
        int[] out = new int[classes];
        for (int c = 0; c < classes; c++) {
            out[c] = c < 2 ? two[c] : two[1] + c - 1;
        }
        return out;
    }

    private static int[] randomTokens(SplittableRandom r, int n, int vocab) {
        int[] row = new int[n];
        for (int t = 0; t < n; t++) {
            row[t] = 3 + r.nextInt(vocab - 4);
        }
        return row;
    }

    private static void fill(double[] z, SplittableRandom r) {
        for (int i = 0; i < z.length; i++) {
            z[i] = r.nextDouble(-1, 1);
        }
    }

    private static void check(double[] losses, int lambda, String mode) {
        if (losses == null || losses.length != lambda) {
            throw new IllegalStateException(mode + ": " + (losses == null ? "no" : losses.length) + " losses for "
                    + lambda + " candidates");
        }
        for (int i = 0; i < losses.length; i++) {
            if (!Double.isFinite(losses[i])) {
                throw new IllegalStateException(mode + ": member " + i + "'s loss is " + losses[i]);
            }
        }
    }

    private static String json(double[] v) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            b.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.8g", v[i]));
        }
        return b.append(']').toString();
    }

    static double maxRelDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
        }
        return m;
    }

    private static double median(List<Double> xs) {
        double[] v = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** The device's memory in use (total − free): the process's arena keeps its high-water mark. */
    private static long usedDeviceBytes() {
        long[] m = Cuda.memInfo();
        return m[1] - m[0];
    }

    private static double elapsed() {
        return (System.nanoTime() - T0) / 1e9;
    }

    private static void emit(Path out, String line) throws IOException {
        System.out.println(line);
        Files.writeString(out, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }

    static Options parse(String[] args) {
        List<String> shapes = List.of("roberta-large", "gpt2-large");
        List<String> modes = List.of("batched", "sequential");
        String device = "cuda";
        int population = 20;
        int perClass = 16;
        int classes = 2;
        int seq = 64;
        int subspace = 500;
        int rank = 4;
        int generations = 5;
        int warmup = 1;
        double rowSeconds = 25;
        double deadline = 1e9;
        boolean below = true;
        List<DType> dtypes = List.of(DType.F32);
        Path out = Path.of("dfo_speed.jsonl");
        if (args.length % 2 != 0) {
            throw new IllegalArgumentException("options come in pairs: --name value");
        }
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--shapes" -> shapes = List.of(v.split(","));
                case "--modes" -> modes = List.of(v.split(","));
                case "--device" -> device = v;
                case "--population" -> population = Integer.parseInt(v);
                case "--per-class" -> perClass = Integer.parseInt(v);
                case "--classes" -> classes = Integer.parseInt(v);
                case "--seq" -> seq = Integer.parseInt(v);
                case "--subspace" -> subspace = Integer.parseInt(v);
                case "--rank" -> rank = Integer.parseInt(v);
                case "--generations" -> generations = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--row-seconds" -> rowSeconds = Double.parseDouble(v);
                case "--deadline" -> deadline = Double.parseDouble(v);
                case "--others" -> below = switch (v) {
                    case "below" -> true;
                    case "zero" -> false;
                    default -> throw new IllegalArgumentException("--others below|zero, got " + v);
                };
                case "--dtypes" -> {
                    List<DType> ds = new ArrayList<>();
                    for (String d : v.split(",")) {
                        ds.add(switch (d) {
                            case "fp32" -> DType.F32;
                            case "bf16" -> DType.BF16;
                            default -> throw new IllegalArgumentException("--dtypes fp32,bf16, got " + d);
                        });
                    }
                    dtypes = List.copyOf(ds);
                }
                case "--out" -> out = Path.of(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        for (String m : modes) {
            if (!m.equals("batched") && !m.equals("sequential")) {
                throw new IllegalArgumentException("--modes batched,sequential, got " + m);
            }
        }
        for (String s : shapes) {
            config(s); // an unknown shape is refused before anything runs
        }
        if (!device.equals("cuda") && !device.equals("cpu")) {
            throw new IllegalArgumentException("--device cuda|cpu, got " + device);
        }
        if (population < 1 || perClass < 1 || classes < 2 || seq < 4 || generations < 1 || warmup < 0) {
            throw new IllegalArgumentException("population, per-class, generations >= 1, classes >= 2, seq >= 4");
        }
        return new Options(shapes, modes, device, population, perClass, classes, seq, subspace, rank, generations,
                warmup, rowSeconds, deadline, below, dtypes, out);
    }
}
