package org.zotune.bench;

import java.util.SplittableRandom;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.train.objective.NextTokenTargets;

/**
 * Runs the eager CUDA forward (logits + loss) of a GPT-2 shape a few times, for a kernel profiler
 * (e.g. {@code ncu --print-summary per-kernel}) to attribute the time:
 * {@code ProfileForward 124M 16x128 [iterations]}.
 */
public final class ProfileForward {
    private ProfileForward() {
    }

    public static void main(String[] args) {
        ModelConfig config = Gpt2Shapes.config(args[0]);
        String[] bt = args[1].split("x");
        int b = Integer.parseInt(bt[0]);
        int t = Integer.parseInt(bt[1]);
        int iterations = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        CausalLM lm = Architectures.create(config);
        SplittableRandom rnd = new SplittableRandom(7);
        int[][] seqs = new int[b][t];
        for (int[] s : seqs) {
            for (int i = 0; i < t; i++) {
                s[i] = rnd.nextInt(config.vocabSize());
            }
        }
        Batch batch = Batch.rightPadded(seqs, 0);
        try (CudaOps ops = CudaOps.create(DType.BF16);
             Parameters params = ops.createParameters(Gpt2Shapes.randomWeights(lm.params(), 42), DType.BF16)) {
            for (int i = 0; i < iterations; i++) {
                long start = System.nanoTime();
                float[] loss;
                try (Ops.Scope s = ops.scope()) {
                    loss = ops.toHost(ops.crossEntropy(lm.forward(ops, params, batch),
                            ops.ints(NextTokenTargets.of(batch))));
                }
                System.out.printf("forward %d: %.3f ms, loss %.4f%n", i, (System.nanoTime() - start) / 1e6,
                        loss[0] / loss[1]);
            }
        }
    }
}
