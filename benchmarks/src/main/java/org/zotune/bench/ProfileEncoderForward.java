package org.zotune.bench;

import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;

/**
 * Runs the eager CUDA forward of an encoder shape ({@link EncoderShapes}, random weights) a few times, for a kernel
 * profiler to attribute the time (benchmarks/profile/encoder_forward.sh runs it under ncu beside Hugging Face's):
 * {@code ProfileEncoderForward roberta-large 32x512 [bf16|fp16|fp32] [hidden|mlm] [passes]}. Every pass launches
 * the same kernels, so a profile of all of them divided by the pass count is one forward.
 */
public final class ProfileEncoderForward {
    private ProfileEncoderForward() {
    }

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: ProfileEncoderForward MODEL BxT [bf16|fp16|fp32] [hidden|mlm] [passes]");
            System.exit(2);
        }
        ModelConfig config = EncoderShapes.config(args[0]);
        DType dt = EncoderForwardBench.dtype(args.length > 2 ? args[2] : "bf16");
        String output = args.length > 3 ? args[3] : "hidden";
        int passes = args.length > 4 ? Integer.parseInt(args[4]) : 2;
        EncoderModel m = (EncoderModel) Architectures.createModel(config);
        Batch batch = EncoderShapes.batch(config, args[1], 7);
        try (CudaOps ops = CudaOps.create(dt);
             Parameters params = ops.createParameters(Gpt2Shapes.randomWeights(m.params(), 42), dt)) {
            for (int i = 0; i < passes; i++) {
                long start = System.nanoTime();
                try (Ops.Scope s = ops.scope()) {
                    EncoderForwardBench.forward(ops, m, params, batch, output);
                    ops.stream().synchronize();
                }
                System.out.printf("forward %d: %.3f ms%n", i, (System.nanoTime() - start) / 1e6);
            }
        }
    }
}
