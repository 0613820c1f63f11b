package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.EncoderModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * A measurement, not a check (runs with -Dzotune.measure=true only): one generation of λ = 20 on the CPU for a small
 * random BERT with an MLM head (hidden 128, 4 layers, 4 heads, FFN 512, vocabulary 1000; D = 500, r = 4), masked-LM
 * prompt over 8 examples per class × 2 classes of 17 to 31 tokens: the batched forward, the same members one per
 * forward, and the public code's way (each member merged into a copy of the weights, one forward each). Prints the
 * seconds; asserts only that the three agree.
 */
class PopulationTimingTest {
    private static final int LAMBDA = 20;
    private static final int D = 500;

    @Test
    void batchedVersusSequentialGeneration() {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        ModelConfig c = new ModelConfig(ModelFamily.BERT, 1000, 128, 4, 4, 4, 32, 512, 64, 1e-12,
                ModelConfig.Activation.GELU, true, false, false, 128, 0, null, true, true, -1, -1, 0,
                new ModelConfig.Encoder(2, 0, true));
        EncoderModel model = (EncoderModel) Architectures.createModel(c);
        Random r = new Random(1);
        List<HostTensor> weights = new ArrayList<>();
        for (ParamSpec s : model.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.05 * r.nextGaussian());
            }
            weights.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        int mask = 4;
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < 16; x++) {
            int[] row = new int[17 + r.nextInt(15)];
            for (int t = 0; t < row.length; t++) {
                row[t] = 5 + r.nextInt(995);
            }
            row[0] = 2;
            row[row.length - 1] = 3;
            row[row.length - 3] = mask;
            ex.add(new EncodedExample("x" + x, new int[][] {row}, new int[] {row.length - 3}, x % 2));
        }
        PromptBatch train = PromptBatch.of(ex, 0);
        MaskedLmPrompt mlm = new MaskedLmPrompt(mask, new int[] {10, 11});
        AttentionTargets targets = AttentionTargets.of(model);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(weights, DType.F32)) {
            double[] sigma = HiddenStatistics.sigmaHat(ops, model, p,
                    weights.get(HiddenStatistics.wordEmbedding(model)).toFloats(), train.batch());
            double[] scales = new double[sigma.length];
            for (int l = 0; l < scales.length; l++) {
                scales[l] = Subspace.aScale(sigma[l], 1, D, 1);
            }
            Subspace s = Subspace.of(targets, D, 4, 7, scales);
            BatchedPopulation pop = new BatchedPopulation(ops, model, p, mlm, train, s);
            double[][] candidates = new double[LAMBDA][D];
            for (double[] z : candidates) {
                for (int i = 0; i < D; i++) {
                    z[i] = r.nextGaussian();
                }
            }
            double[][] current = new double[s.layers()][D];
            int layer = 2;
            pop.losses(layer, new double[][] {candidates[0]}, current); // warm-up
            long t0 = System.nanoTime();
            double[] batched = pop.losses(layer, candidates, current);
            long t1 = System.nanoTime();
            double[] one = new double[LAMBDA];
            for (int i = 0; i < LAMBDA; i++) {
                one[i] = pop.losses(layer, new double[][] {candidates[i]}, current)[0];
            }
            long t2 = System.nanoTime();
            double[] merged = new double[LAMBDA];
            for (int i = 0; i < LAMBDA; i++) {
                double[][] points = current.clone();
                points[layer] = candidates[i];
                DfoAdapter a = DfoAdapter.of(s, points);
                try (Parameters m = ops.createParameters(a.merged(s, weights), DType.F32)) {
                    merged[i] = mlm.loss(ops, model, m, train);
                }
            }
            long t3 = System.nanoTime();
            for (int i = 0; i < LAMBDA; i++) {
                assertEquals(one[i], batched[i], 1e-5 * Math.max(1, Math.abs(one[i])));
                assertEquals(merged[i], batched[i], 1e-5 * Math.max(1, Math.abs(merged[i])));
            }
            System.out.printf("DFO generation, lambda %d, %d examples x %d tokens (padded), BERT h128 L4: batched "
                    + "%.2f s, one member per forward %.2f s, merged copy per member %.2f s%n", LAMBDA,
                    train.examples(), train.batch().seq(), (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9);
        }
    }
}
