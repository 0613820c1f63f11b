package org.zotune.bench;

import java.util.Locale;
import java.util.SplittableRandom;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;

/**
 * Times zotune's greedy generation on CUDA (bf16, random weights of a GPT-2 size): one warm-up run, then the median
 * of {@code reps} timed runs of the whole {@code Generator.generate} call (prompt and new tokens, as Hugging Face's
 * {@code generate} is timed in benchmarks/generate/hf_generate.py), with the key/value cache and, for a shorter run,
 * without it. Prints one JSON object per line. Batch 1 only: generation takes one sequence so far.
 *
 * <p>Usage: GenerateBench [size 1558M] [prompt tokens 32] [new tokens 128] [reps 3] [uncached new tokens 16]
 */
public final class GenerateBench {
    private GenerateBench() {
    }

    public static void main(String[] args) {
        String size = args.length > 0 ? args[0] : "1558M";
        int promptLen = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int newTokens = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        int uncachedTokens = args.length > 4 ? Integer.parseInt(args[4]) : 16;
        ModelConfig config = Gpt2Shapes.config(size);
        CausalLM lm = Architectures.create(config);
        int[] prompt = new int[promptLen];
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < promptLen; i++) {
            prompt[i] = rnd.nextInt(config.vocabSize());
        }
        try (CudaOps ops = CudaOps.create(DType.BF16);
             Parameters params = ops.createParameters(Gpt2Shapes.randomWeights(lm.params(), 42), DType.BF16)) {
            for (boolean cached : new boolean[] {true, false}) {
                int n = cached ? newTokens : uncachedTokens;
                if (n <= 0) {
                    continue;
                }
                run(ops, lm, params, prompt, n, cached); // warm-up: kernels loaded, arena grown
                double[] seconds = new double[reps];
                for (int r = 0; r < reps; r++) {
                    long t0 = System.nanoTime();
                    int[] out = run(ops, lm, params, prompt, n, cached);
                    seconds[r] = (System.nanoTime() - t0) / 1e9;
                    if (out.length != n) {
                        throw new IllegalStateException("generated " + out.length + " tokens, asked for " + n);
                    }
                }
                java.util.Arrays.sort(seconds);
                double median = seconds[reps / 2];
                System.out.println(String.format(Locale.ROOT,
                        "{\"impl\": \"zotune\", \"cache\": %s, \"size\": \"%s\", \"batch\": 1, \"prompt\": %d, "
                                + "\"new_tokens\": %d, \"seconds\": %.4f, \"tokens_per_s\": %.2f, \"device\": \"%s\"}",
                        cached, size, promptLen, n, median, n / median, String.valueOf(ops.device()).replace("\"", "'")));
            }
        }
    }

    private static int[] run(CudaOps ops, CausalLM lm, Parameters params, int[] prompt, int n, boolean cached) {
        // eos -1: never stops early, so every run makes n tokens
        return Generator.generate(ops, lm, params, prompt, n, Generator.Sampling.argmax(), -1, null, cached);
    }
}
