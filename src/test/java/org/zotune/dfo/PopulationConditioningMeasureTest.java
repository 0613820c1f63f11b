package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * A measurement, not a check (runs with -Dzotune.measure=true only): why DfoSpeedBench's batched and one-at-a-time
 * losses differed by 2.25e-3 relative on the GPU at RoBERTa-large's shape (float32, no TF32). On the CPU, at the
 * bench's depth (24 post-norm layers, the masked-LM prompt, random weights uniform ±0.02·√3, σ̂ = 1, z uniform in
 * [−1, 1], the searched layer the middle one with the layers below at non-zero points, as the bench has them) but a
 * narrow width: (1) the batched generation and the members one at a time agree bit for bit (asserted: the two paths
 * are the same arithmetic; the CPU's products do not depend on the number of rows), so a difference on the GPU comes
 * from the order of its sums (cuBLAS picks its kernels, and with them its reduction order, by the product's shape);
 * (2) how much the losses move when every base weight moves by at most one float32 ulp (w·(1 + 2⁻²³·u), u uniform
 * in [−1, 1]), a stand-in for a different summation order: with the bench's updates, with every layer at zero
 * point, and with the updates scaled by 0.1. Prints the relative changes and the updates' size against W_Q.
 */
class PopulationConditioningMeasureTest {

    @Test
    void batchedEqualsOneAtATimeAndTheLossesSensitivityToOneUlp() {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        int hidden = Integer.getInteger("zotune.measure.hidden", 128);
        int layers = Integer.getInteger("zotune.measure.layers", 24);
        int lambda = Integer.getInteger("zotune.measure.lambda", 4);
        int rows = Integer.getInteger("zotune.measure.rows", 8);
        int seq = 64;
        int dim = 500;
        int vocab = Integer.getInteger("zotune.measure.vocab", 50265); // RoBERTa's; smaller for wide runs' memory
        int mask = vocab - 1;
        ModelConfig config = new ModelConfig(ModelFamily.ROBERTA, vocab, hidden, layers, hidden / 64, hidden / 64, 64,
                4 * hidden, 514, 1e-5, ModelConfig.Activation.GELU, true, false, false, hidden, 0, null, true, true,
                0, 2, 1, new ModelConfig.Encoder(1, 2, true));
        LanguageModel model = Architectures.createModel(config);
        List<HostTensor> weights = random(model.params(), 42, 0);
        PromptBatch train = maskedRows(rows, seq, vocab, mask);
        MaskedLmPrompt objective = new MaskedLmPrompt(mask, vocab > 6587 ? new int[] {6587, 372} : new int[] {5, 6});
        AttentionTargets targets = AttentionTargets.of(model);
        SplittableRandom r = new SplittableRandom(5);
        double[][] candidates = new double[lambda][dim];
        for (double[] z : candidates) {
            fill(z, r);
        }
        int layer = layers / 2;
        double[][] below = new double[layers][dim];
        for (int l = 0; l < layer; l++) {
            fill(below[l], r);
        }
        System.out.printf(Locale.ROOT, "RoBERTa shape: %d layers, hidden %d, %d heads, %d rows x %d tokens, λ %d, "
                + "searched layer %d%n", layers, hidden, hidden / 64, rows, seq, lambda, layer);
        boolean onlyBench = Boolean.getBoolean("zotune.measure.benchOnly"); // the bench's setting alone (wide runs)
        double benchScale = Double.parseDouble(System.getProperty("zotune.measure.scale", "1"));
        for (double scale : onlyBench ? new double[] {benchScale} : new double[] {1, 0.1}) {
            double[] scales = new double[layers];
            Arrays.fill(scales, scale * Subspace.aScale(1.0, 1, dim, 1));
            Subspace s = Subspace.of(targets, dim, 4, 13, scales);
            System.out.printf(Locale.ROOT, "updates x%.1f: ||B_Q·A_Q|| / ||W_Q|| at layer %d = %.3g%n", scale, layer,
                    updateRatio(s, weights, layer, candidates[0]));
            double[][] zero = new double[layers][dim];
            for (boolean others : onlyBench ? new boolean[] {true} : new boolean[] {true, false}) {
                double[][] current = others ? below : zero;
                double[] batched;
                double[] single = new double[lambda];
                double[] perturbed;
                try (CpuOps ops = new CpuOps(DType.F32); Parameters p = ops.createParameters(weights, DType.F32)) {
                    BatchedPopulation pop = new BatchedPopulation(ops, model, p, objective, train, s);
                    batched = pop.losses(layer, candidates, current);
                    for (int i = 0; i < lambda; i++) {
                        single[i] = pop.losses(layer, new double[][] {candidates[i]}, current)[0];
                    }
                }
                assertArrayEquals(batched, single, "batched and one at a time on the CPU");
                try (CpuOps ops = new CpuOps(DType.F32);
                     Parameters p = ops.createParameters(random(model.params(), 42, 1), DType.F32)) {
                    perturbed = new BatchedPopulation(ops, model, p, objective, train, s).losses(layer, candidates,
                            current);
                }
                System.out.printf(Locale.ROOT, "  others %s: batched == one at a time (bitwise); weights moved by "
                        + "<= 1 ulp: max relative loss change %.3g (losses %s)%n", others ? "below" : "zero",
                        maxRel(perturbed, batched), Arrays.toString(batched));
            }
        }
        if (onlyBench) {
            return;
        }
        double base;
        double moved;
        try (CpuOps ops = new CpuOps(DType.F32); Parameters p = ops.createParameters(weights, DType.F32)) {
            base = objective.loss(ops, model, p, train);
        }
        try (CpuOps ops = new CpuOps(DType.F32);
             Parameters p = ops.createParameters(random(model.params(), 42, 1), DType.F32)) {
            moved = objective.loss(ops, model, p, train);
        }
        System.out.printf(Locale.ROOT, "base model alone (no updates): relative loss change %.3g%n",
                Math.abs(moved - base) / Math.abs(base));
    }

    /** Weights as DfoSpeedBench makes them (norm weights 1), each moved by ≤ one ulp when {@code jitter} is 1. */
    private static List<HostTensor> random(List<ParamSpec> specs, long seed, int jitter) {
        List<HostTensor> out = new ArrayList<>();
        SplittableRandom moves = new SplittableRandom(99);
        for (int k = 0; k < specs.size(); k++) {
            ParamSpec p = specs.get(k);
            SplittableRandom rnd = new SplittableRandom(seed + 7919L * k);
            float[] v = new float[Math.toIntExact(p.numel())];
            float center = p.role() == ParamSpec.Role.NORM_WEIGHT ? 1f : 0f;
            float halfWidth = 0.02f * (float) Math.sqrt(3);
            for (int i = 0; i < v.length; i++) {
                v[i] = center + halfWidth * (2 * rnd.nextFloat() - 1);
                if (jitter != 0) {
                    v[i] = (float) (v[i] * (1 + Math.scalb(moves.nextDouble(-1, 1), -23)));
                }
            }
            out.add(HostTensor.ofFloats(p.name(), v, p.shape()));
        }
        return out;
    }

    private static double updateRatio(Subspace s, List<HostTensor> weights, int layer, double[] z) {
        Subspace.Factors f = s.factors(layer, z);
        AttentionTargets.Projection q = s.targets().q().get(layer);
        float[] w = weights.get(q.weight()).toFloats();
        double ba = 0;
        double ww = 0;
        for (int o = 0; o < q.out(); o++) {
            for (int i = 0; i < q.in(); i++) {
                double d = 0;
                for (int k = 0; k < s.rank(); k++) {
                    d += (double) f.bQ()[o * s.rank() + k] * f.aQ()[k * q.in() + i];
                }
                ba += d * d;
                double x = w[(q.offset() + o) * q.in() + i];
                ww += x * x;
            }
        }
        return Math.sqrt(ba / ww);
    }

    private static PromptBatch maskedRows(int n, int seq, int vocab, int mask) {
        SplittableRandom r = new SplittableRandom(7);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] row = new int[seq];
            for (int t = 0; t < seq; t++) {
                row[t] = 3 + r.nextInt(vocab - 4);
            }
            row[0] = 0;
            row[seq - 1] = 2;
            row[seq - 3] = mask;
            ex.add(new EncodedExample("x" + i, new int[][] {row}, new int[] {seq - 3}, i % 2));
        }
        return PromptBatch.of(ex, 1);
    }

    private static void fill(double[] z, SplittableRandom r) {
        for (int i = 0; i < z.length; i++) {
            z[i] = r.nextDouble(-1, 1);
        }
    }

    private static double maxRel(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
        }
        return m;
    }
}
