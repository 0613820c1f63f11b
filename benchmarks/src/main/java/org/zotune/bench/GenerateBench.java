package org.zotune.bench;

import java.util.Locale;
import java.util.SplittableRandom;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.zo.cuda.DecodeGraph;

/**
 * Times zotune's greedy generation on CUDA (bf16, random weights of a GPT-2 size): one warm-up run, then the median
 * of {@code reps} timed runs of the whole generate call (prompt and new tokens, as Hugging Face's {@code generate} is
 * timed in benchmarks/generate/hf_generate.py), per batch size: with the key/value cache and the captured decode step
 * ({@code DecodeGraph}: one CUDA graph replayed per token), with the cache and eager decode steps, and, for a shorter
 * run at batch 1, without the cache. A batch is {@code batch} random prompts of the same length, as hf_generate.py
 * draws them; tokens/s counts every sequence's new tokens. Prints one JSON object per line, with the median run's
 * phases: setup (cache, the prompts' forward, the first tokens), the first decode step (the graph's capture) and the
 * mean of the later steps.
 *
 * <p>Usage: GenerateBench [size 1558M] [prompt tokens 32] [new tokens 128] [reps 3] [uncached new tokens 16]
 * [batches 1,16] [modes graph,eager,uncached]
 */
public final class GenerateBench {
    private GenerateBench() {
    }

    private enum Mode { GRAPH, EAGER, UNCACHED }

    public static void main(String[] args) {
        String size = args.length > 0 ? args[0] : "1558M";
        int promptLen = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int newTokens = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        int uncachedTokens = args.length > 4 ? Integer.parseInt(args[4]) : 16;
        int[] batches = java.util.Arrays.stream((args.length > 5 ? args[5] : "1,16").split(","))
                .mapToInt(Integer::parseInt).toArray();
        java.util.Set<Mode> modes = java.util.EnumSet.noneOf(Mode.class);
        for (String m : (args.length > 6 ? args[6] : "graph,eager,uncached").split(",")) {
            modes.add(Mode.valueOf(m.trim().toUpperCase(Locale.ROOT)));
        }
        ModelConfig config = Gpt2Shapes.config(size);
        CausalLM lm = Architectures.create(config);
        SplittableRandom rnd = new SplittableRandom(7);
        try (CudaOps ops = CudaOps.create(DType.BF16);
             Parameters params = ops.createParameters(Gpt2Shapes.randomWeights(lm.params(), 42), DType.BF16)) {
            for (int batch : batches) {
                int[][] prompts = new int[batch][promptLen];
                for (int[] p : prompts) {
                    for (int i = 0; i < promptLen; i++) {
                        p[i] = rnd.nextInt(config.vocabSize());
                    }
                }
                for (Mode mode : Mode.values()) {
                    int n = mode == Mode.UNCACHED ? uncachedTokens : newTokens;
                    if (n <= 0 || mode == Mode.UNCACHED && batch != 1 || !modes.contains(mode)) {
                        continue;
                    }
                    run(ops, lm, params, prompts, n, mode); // warm-up: kernels loaded, arena grown
                    double[] seconds = new double[reps];
                    double[][] phases = new double[reps][]; // setup ms, first step ms, later steps' mean ms
                    for (int r = 0; r < reps; r++) {
                        long t0 = System.nanoTime();
                        int[][] out = run(ops, lm, params, prompts, n, mode);
                        seconds[r] = (System.nanoTime() - t0) / 1e9;
                        phases[r] = new double[] {setupNanos / 1e6, firstStepNanos / 1e6,
                                restSteps == 0 ? Double.NaN : restNanos / 1e6 / restSteps};
                        for (int[] o : out) {
                            if (o.length != n) {
                                throw new IllegalStateException("generated " + o.length + " tokens, asked for " + n);
                            }
                        }
                    }
                    // the phases of the run whose time is the median
                    double[] sorted = seconds.clone();
                    java.util.Arrays.sort(sorted);
                    double median = sorted[reps / 2];
                    double[] ph = phases[java.util.stream.IntStream.range(0, reps).filter(i -> seconds[i] == median)
                            .findFirst().orElse(0)];
                    System.out.println(String.format(Locale.ROOT,
                            "{\"impl\": \"zotune\", \"cache\": %s, \"decode\": \"%s\", \"size\": \"%s\", "
                                    + "\"batch\": %d, \"prompt\": %d, \"new_tokens\": %d, \"seconds\": %.4f, "
                                    + "\"tokens_per_s\": %.2f, \"setup_ms\": %s, \"first_step_ms\": %s, "
                                    + "\"decode_step_ms\": %s, \"device\": \"%s\"}",
                            mode != Mode.UNCACHED, mode.name().toLowerCase(Locale.ROOT), size, batch, promptLen, n,
                            median, batch * n / median, ms(mode == Mode.UNCACHED ? Double.NaN : ph[0]),
                            ms(mode == Mode.UNCACHED ? Double.NaN : ph[1]), ms(ph[2]),
                            String.valueOf(ops.device()).replace("\"", "'")));
                }
            }
        }
    }

    private static String ms(double v) {
        return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, "%.3f", v);
    }

    /**
     * The last run's phases: from its start to the first decode step (cache, prompt forward, first tokens), the first
     * step (a captured graph's capture), and the steps after it (their count and total).
     */
    private static long runStart;
    private static long setupNanos;
    private static long firstStepNanos;
    private static long restNanos;
    private static int restSteps;

    /** {@code step} timed into the phases above (made once the prompt's forward has filled the cache). */
    private static Generator.DecodeStep timed(Generator.DecodeStep step) {
        setupNanos = System.nanoTime() - runStart;
        return new Generator.DecodeStep() {
            private boolean first = true;

            @Override
            public float[][] logits(Batch batch, int[] starts) {
                long t0 = System.nanoTime();
                float[][] out = step.logits(batch, starts);
                count(System.nanoTime() - t0);
                return out;
            }

            @Override
            public int[] argmax(Batch batch, int[] starts) {
                long t0 = System.nanoTime();
                int[] out = step.argmax(batch, starts);
                count(System.nanoTime() - t0);
                return out;
            }

            private void count(long nanos) {
                if (first) {
                    firstStepNanos = nanos;
                    first = false;
                } else {
                    restNanos += nanos;
                    restSteps++;
                }
            }

            @Override
            public void close() {
                step.close();
            }
        };
    }

    private static int[][] run(CudaOps ops, CausalLM lm, Parameters params, int[][] prompts, int n, Mode mode) {
        // eos -1: never stops early, so every run makes n tokens per sequence
        Generator.Sampling greedy = Generator.Sampling.argmax();
        runStart = System.nanoTime();
        setupNanos = 0;
        firstStepNanos = 0;
        restNanos = 0;
        restSteps = 0;
        return switch (mode) {
            case GRAPH -> Generator.generate(ops, lm, params, prompts, n, greedy, -1, true, true,
                    cache -> timed(new DecodeGraph(ops, lm, params, cache)));
            case EAGER -> Generator.generate(ops, lm, params, prompts, n, greedy, -1, true, false,
                    cache -> timed(Generator.eagerDecode(ops, lm, cache.over(params))));
            case UNCACHED -> new int[][] {Generator.generate(ops, lm, params, prompts[0], n, greedy, -1, null,
                    false)};
        };
    }
}
