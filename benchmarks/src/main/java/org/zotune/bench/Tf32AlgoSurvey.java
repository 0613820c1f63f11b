package org.zotune.bench;

import org.zotune.cuda.Cublas;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.Tf32Tuner;

/**
 * Survey of the algorithms of the 3xTF32 products' TF32 GEMM (C [m×n] = Aᵀ·B over a 3k contraction, as
 * MatrixProducts runs it), shape by shape: what {@link Tf32Tuner} sees with cuBLASLt's heuristic (what the engine
 * tunes over), then with every configuration cuBLASLt has (algorithm ids × tiles × stages × swizzles × cluster
 * shapes, no split-K): each candidate's time and whether its bits are cublasGemmEx's default's.
 * <pre>
 *   java -cp ... org.zotune.bench.Tf32AlgoSurvey [m,n,k ...]
 * </pre>
 * Shapes are cuBLAS's (m = the weight's rows, n = tokens, k = 3 × the contraction); default: RoBERTa-large's three
 * product shapes at 32×64 (2,048 tokens) and 32×128 (4,096). Times are of each product alone: on an H100 the
 * configurations this found faster at FFN down made the step slower (benchmarks/NOTES.md, session 48).
 */
public final class Tf32AlgoSurvey {
    private Tf32AlgoSurvey() {
    }

    /** "m,n,k" as three positive ints; exits 2 with one line naming the argument otherwise. */
    private static int[] shape(String s) {
        String[] f = s.split(",");
        try {
            if (f.length == 3) {
                int[] v = {Integer.parseInt(f[0].trim()), Integer.parseInt(f[1].trim()), Integer.parseInt(f[2].trim())};
                if (v[0] > 0 && v[1] > 0 && v[2] > 0 && v[2] % 3 == 0) {
                    return v;
                }
            }
        } catch (NumberFormatException e) {
            // the message below
        }
        System.err.println("Tf32AlgoSurvey: shape '" + s + "': expected m,n,k, three positive integers, k a multiple "
                + "of 3 (a 3xTF32 contraction)");
        System.exit(2);
        return null;
    }

    public static void main(String[] args) {
        String[] shapes = args.length > 0 ? args : new String[] {"1024,2048,3072", "4096,2048,3072",
            "1024,2048,12288", "1024,4096,3072", "4096,4096,3072", "1024,4096,12288"};
        for (String s : shapes) {
            shape(s); // every argument checked before the GPU is touched
        }
        if (!Cuda.availability().usable()) {
            System.err.println("Tf32AlgoSurvey: no usable CUDA device (" + Cuda.availability().reason() + ")");
            System.exit(2);
        }
        System.out.println("device: " + Cuda.require());
        for (String s : shapes) {
            int[] shape = shape(s);
            int m = shape[0];
            int n = shape[1];
            int k = shape[2];
            for (boolean all : new boolean[] {false, true}) {
                long t0 = System.nanoTime();
                System.out.println("== " + (all ? "every configuration" : "the heuristic's candidates"));
                Tf32Tuner.Choice c = Tf32Tuner.survey(m, n, k, all, Cublas.DEFAULT_WORKSPACE, System.out);
                System.out.printf("   choice: %s (%.1f s)%n", c.chosen()
                        ? String.format("%.1f µs against the default's %.1f (%.3f×)", c.chosenMicros(),
                        c.defaultMicros(), c.defaultMicros() / c.chosenMicros())
                        : "the default", (System.nanoTime() - t0) / 1e9);
            }
        }
    }
}
