package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;
import static org.zotune.backend.cuda.GpuTestSupport.assertPackedBiasAccuracy;
import static org.zotune.backend.cuda.GpuTestSupport.gaussian;
import static org.zotune.backend.cuda.GpuTestSupport.rounded;

import java.util.Random;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/**
 * The cases a fused-attention kernel variant (the short, wide, Hopper and float32 kernels) runs against the
 * plain-Java reference ({@link CpuOps}, the tolerances of {@link CudaOpsTest}) and against the kernels it replaces (the
 * 64-row kernels; in float32 the unfused path): causal and bidirectional, packed q|k|v with and without the fused
 * bias, separate q, k, v with grouped kv heads, 3 sequences with a key-padding mask with a hole, left padding (causal
 * rows with no visible key) and padding only (rows of zeros). Each case prints its max abs / rel differences to both
 * and how many elements differ from the reference kernel's bits ("n of m differ"); the tolerances are asserted, and
 * the count of cases with any differing bit is kept.
 */
final class FusedAttentionCases {
    private final String kernel;
    private final String reference;
    private int cases;
    private int differingCases;

    /** {@code kernel}: the variant's name in the printed lines and assertion messages ("short", "wide"). */
    FusedAttentionCases(String kernel) {
        this(kernel, "64-row kernel");
    }

    /** {@code reference}: what the second backend runs (the 64-row kernels, or the unfused path in float32). */
    FusedAttentionCases(String kernel, String reference) {
        this.kernel = kernel;
        this.reference = reference;
    }

    /**
     * The defaults with the fused attention, its packed bias and its pipeline on, and the 16-bit kernel variants as
     * given: what the variant tests compare (the short, wide and Hopper kernels against the 64-row ones).
     */
    static CudaOptions options(boolean flashShort, boolean flashWide, boolean flashHopper, int hopperMinBlocks) {
        CudaOptions d = CudaOptions.fromSystemProperties();
        return new CudaOptions(d.fuseNorm(), d.fuseBias(), d.stridedLogits(), true, true, true, flashShort,
                d.ltEpilogue(), d.arenaChunkMiB(), d.captureHostMiB(), flashWide, d.decodeAttention(), flashHopper,
                hopperMinBlocks, d.flashF32(), d.gemmF32(), d.tuneProducts(), d.splitOnlyMlp());
    }

    /** Cases compared so far, and of those, how many differ from the reference kernel in some bit. */
    String summary() {
        return kernel + " vs " + reference + ": " + differingCases + " of " + cases + " cases differ in some bit";
    }

    /** Packed q|k|v, with and without the bias, h heads, at every head dimension and length given. */
    void packed(CudaOps candidate, CudaOps reference, DType t, int[] dims, int[] seqs, int h, long seed) {
        CpuOps cpu = new CpuOps(t);
        int b = 3;
        for (int d : dims) {
            for (int seq : seqs) {
                Random r = new Random(seed * d + seq);
                int tokens = b * seq;
                int width = 3 * h * d;
                float[] qkv = gaussian(r, tokens * width, 1.5);
                float[] bias = gaussian(r, width, 0.5);
                int[] mask = mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, h, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    for (boolean withBias : new boolean[] {false, true}) {
                        float[] expected = cpu.toHost(cpu.attentionPacked(cpu.tensor(qkv, tokens, width),
                                withBias ? cpu.tensor(bias, 3, width / 3) : null, cpu.ints(mask),
                                cpu.ints(new int[tokens]), spec));
                        float[] got = packed(candidate, qkv, bias, withBias, mask, tokens, width, spec);
                        float[] current = packed(reference, qkv, bias, withBias, mask, tokens, width, spec);
                        // with a bias the kernels do not round k + b and v + b (GpuTestSupport): both are held to
                        // the float32 attention, beside the reference
                        float[] exact = null;
                        if (withBias && t != DType.F32) { // in float32 the reference is the float32 attention
                            CpuOps f32 = new CpuOps(DType.F32);
                            exact = f32.toHost(f32.attentionPacked(f32.tensor(rounded(t, qkv), tokens, width),
                                    f32.tensor(rounded(t, bias), 3, width / 3), f32.ints(mask),
                                    f32.ints(new int[tokens]), spec));
                        }
                        compare(expected, exact, got, current, t, "packed D=" + d + " T=" + seq + " B=" + b + " H="
                                + h + (causal ? " causal" : " bidir") + " bias=" + withBias + " " + t);
                    }
                }
            }
        }
    }

    /** Separate q, k, v with h query heads sharing hkv key/value heads, at every head dimension and length given. */
    void separate(CudaOps candidate, CudaOps reference, DType t, int[] dims, int[] seqs, int h, int hkv, long seed) {
        CpuOps cpu = new CpuOps(t);
        int b = 3;
        for (int d : dims) {
            for (int seq : seqs) {
                Random r = new Random(seed * d + seq);
                int tokens = b * seq;
                float[] q = gaussian(r, tokens * h * d, 1.5);
                float[] k = gaussian(r, tokens * hkv * d, 1.5);
                float[] v = gaussian(r, tokens * hkv * d, 1.0);
                int[] mask = mask(b, seq);
                for (boolean causal : new boolean[] {true, false}) {
                    AttentionSpec spec = new AttentionSpec(b, seq, h, hkv, d, (float) (1 / Math.sqrt(d)), 0, null)
                            .withCausal(causal);
                    float[] expected = cpu.toHost(cpu.attention(cpu.tensor(q, tokens, h * d),
                            cpu.tensor(k, tokens, hkv * d), cpu.tensor(v, tokens, hkv * d), cpu.ints(mask),
                            cpu.ints(new int[tokens]), spec));
                    float[] got = separate(candidate, q, k, v, mask, tokens, spec);
                    float[] current = separate(reference, q, k, v, mask, tokens, spec);
                    compare(expected, null, got, current, t, "gqa D=" + d + " T=" + seq + " H=" + h + " Hkv=" + hkv
                            + (causal ? " causal" : " bidir") + " " + t);
                }
            }
        }
    }

    /** Sequence 0: a hole; sequence 1: left padding; sequence 2: padding only. */
    static int[] mask(int b, int seq) {
        int[] m = new int[b * seq];
        java.util.Arrays.fill(m, 0, Math.min(2, b) * seq, 1);
        if (seq > 2) {
            m[seq / 2] = 0;
        }
        for (int i = 0; i < Math.min(9, seq / 2) && b > 1; i++) {
            m[seq + i] = 0;
        }
        return m;
    }

    private static float[] packed(CudaOps g, float[] qkv, float[] bias, boolean withBias, int[] mask, int tokens,
                                  int width, AttentionSpec spec) {
        try (Ops.Scope s = g.scope()) {
            Tensor x = g.tensor(qkv, tokens, width);
            Tensor bb = withBias ? g.tensor(bias, 3, width / 3) : null;
            return g.toHost(g.attentionPacked(x, bb, g.ints(mask), g.ints(new int[tokens]), spec));
        }
    }

    private static float[] separate(CudaOps g, float[] q, float[] k, float[] v, int[] mask, int tokens,
                                    AttentionSpec spec) {
        int h = spec.numHeads();
        int hkv = spec.numKvHeads();
        int d = spec.headDim();
        try (Ops.Scope s = g.scope()) {
            return g.toHost(g.attention(g.tensor(q, tokens, h * d), g.tensor(k, tokens, hkv * d),
                    g.tensor(v, tokens, hkv * d), g.ints(mask), g.ints(new int[tokens]), spec));
        }
    }

    /**
     * Prints max |abs| and max rel differences of the candidate kernel to the CPU reference and to the reference kernel
     * and how many elements differ in their bits, then holds all three to the fused attention's tolerance; with a
     * packed 16-bit bias ({@code exact}: the float32 attention, else null) both kernels are held to {@code exact} beside
     * the reference instead ({@link GpuTestSupport#assertPackedBiasAccuracy}).
     */
    private void compare(float[] expected, float[] exact, float[] got, float[] current, DType t, String what) {
        assertEquals(expected.length, got.length, what + ": length");
        double absRef = 0;
        double relRef = 0;
        double absCur = 0;
        double relCur = 0;
        int differing = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = Math.abs(got[i] - expected[i]);
            absRef = Math.max(absRef, e);
            relRef = Math.max(relRef, e / Math.max(Math.abs(expected[i]), 1e-3));
            double c = Math.abs(got[i] - current[i]);
            absCur = Math.max(absCur, c);
            relCur = Math.max(relCur, c / Math.max(Math.abs(current[i]), 1e-3));
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(current[i])) {
                differing++;
            }
        }
        cases++;
        if (differing > 0) {
            differingCases++;
        }
        System.out.printf("%-52s vs CPU: max abs %.3e rel %.3e | vs %s: max abs %.3e rel %.3e, %d of %d differ%n",
                what, absRef, relRef, reference, absCur, relCur, differing, expected.length);
        if (exact != null) {
            assertPackedBiasAccuracy(exact, expected, current, t, what + " (" + reference + ")");
            assertPackedBiasAccuracy(exact, expected, got, t, what + " (" + kernel + " kernel)");
        } else {
            assertClose(expected, current, t, what + " (" + reference + " vs CPU)");
            assertClose(expected, got, t, what + " (" + kernel + " kernel vs CPU)");
        }
        assertClose(current, got, t, what + " (" + kernel + " kernel vs " + reference + ")");
    }
}
