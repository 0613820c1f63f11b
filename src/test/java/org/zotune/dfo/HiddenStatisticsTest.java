package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The hidden-state statistics: the clipped standard deviation against a plain re-statement and hand values, the layer
 * inputs read through the observer seam against the output of the same model cut to fewer layers (real tokens only),
 * and σ̂ = (embedding table, layer inputs).
 */
class HiddenStatisticsTest {
    @TempDir
    Path dir;

    @Test
    void clippedStdWithoutOutliersIsThePopulationStd() {
        assertEquals(1.118033988749895, HiddenStatistics.clippedStd(new float[] {1, 2, 3, 4}, 5), 1e-15);
        assertEquals(0, HiddenStatistics.clippedStd(new float[] {7, 7, 7}, 5), 0);
    }

    @Test
    void clippedStdAgainstANaiveLoop() {
        // 19 zeros and one 10: μ = 0.5, σ = √4.75, so 10 is clipped to 0.5 + 3√4.75 in the first round
        float[] v = new float[20];
        v[19] = 10;
        assertEquals(naive(v, 5), HiddenStatistics.clippedStd(v, 5), 1e-12);
        double once = naive(v, 1);
        double hi = 0.5 + 3 * Math.sqrt(4.75);
        double mu = hi / 20;
        assertEquals(Math.sqrt((19 * mu * mu + (hi - mu) * (hi - mu)) / 20), once, 1e-12);
        assertEquals(once, HiddenStatistics.clippedStd(v, 1), 1e-12);
        Random r = new Random(3);
        float[] heavy = new float[5000];
        for (int i = 0; i < heavy.length; i++) {
            double g = r.nextGaussian();
            heavy[i] = (float) (2 + g * g * g); // heavy tails on both sides
        }
        for (int rounds = 0; rounds <= 5; rounds++) {
            assertEquals(naive(heavy, rounds), HiddenStatistics.clippedStd(heavy, rounds), 1e-9);
        }
    }

    /** Clip to mean ± 3 std (population) {@code rounds} times, then the std: written out plainly. */
    private static double naive(float[] values, int rounds) {
        List<Double> x = new ArrayList<>();
        for (float f : values) {
            x.add((double) f);
        }
        for (int k = 0; k < rounds; k++) {
            double m = x.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            double s = Math.sqrt(x.stream().mapToDouble(d -> (d - m) * (d - m)).average().orElseThrow());
            List<Double> y = new ArrayList<>();
            for (double d : x) {
                y.add(d < m - 3 * s ? m - 3 * s : d > m + 3 * s ? m + 3 * s : d);
            }
            x = y;
        }
        double m = x.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        return Math.sqrt(x.stream().mapToDouble(d -> (d - m) * (d - m)).average().orElseThrow());
    }

    @Test
    void aRunsSubspaceScalesItsAMapsFromTheModelsStatistics() throws IOException {
        LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 5, true));
        Batch batch = Batch.rightPadded(new int[][] {{2, 15, 22, 19, 5, 3}, {2, 16, 3}}, 0);
        float[] table = e.parameters().get(HiddenStatistics.wordEmbedding(e.model())).toFloats();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(e.parameters(), DType.F32)) {
            Subspace s = Subspace.forModel(ops, e.model(), p, table, batch, 12, 2, 77, 0.5, 2.0);
            double[] sigma = HiddenStatistics.sigmaHat(ops, e.model(), p, table, batch);
            for (int l = 0; l < sigma.length; l++) {
                assertEquals(0.5 * sigma[l] / (Math.sqrt(12) * 2.0), s.aScale(l), 1e-15);
            }
            double[] scales = {s.aScale(0), s.aScale(1)};
            assertArrayEquals(Subspace.of(AttentionTargets.of(e.model()), 12, 2, 77, scales).map(1, Subspace.A_K),
                    s.map(1, Subspace.A_K));
            ZotuneException bad = assertThrows(ZotuneException.class,
                    () -> Subspace.forModel(ops, e.model(), p, table, batch, 12, 2, 77, 1, 0));
            assertEquals("key 'dfo.sigma0' must be a finite number > 0, got 0.0", bad.getMessage());
            ZotuneException rank = assertThrows(ZotuneException.class,
                    () -> Subspace.forModel(ops, e.model(), p, table, batch, 12, 17, 77, 1, 1));
            assertEquals("key 'dfo.rank' must be between 1 and the projections' size 16, got 17", rank.getMessage());
        }
    }

    @Test
    void layerInputsAreTheRealTokensOfTheModelCutBeforeThatLayer() throws IOException {
        LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 5, true));
        ModelConfig c = e.model().config();
        ModelConfig one = new ModelConfig(c.family(), c.vocabSize(), c.hiddenSize(), 1, c.numHeads(),
                c.numKvHeads(), c.headDim(), c.intermediateSize(), c.maxPositions(), c.normEps(), c.activation(),
                c.tieWordEmbeddings(), c.normBefore(), c.finalNorm(), c.wordEmbedProjDim(), c.ropeTheta(),
                c.ropeScaling(), c.attentionBias(), c.mlpBias(), c.bosTokenId(), c.eosTokenId(), c.padTokenId(),
                c.encoder());
        EncoderModel cut = (EncoderModel) Architectures.createModel(one);
        Map<String, HostTensor> byName = new HashMap<>();
        for (HostTensor t : e.parameters()) {
            byName.put(t.name(), t);
        }
        List<HostTensor> cutWeights = new ArrayList<>();
        for (ParamSpec s : cut.params()) {
            cutWeights.add(byName.get(s.name()));
        }
        // two rows, the second padded by 3
        Batch batch = Batch.rightPadded(new int[][] {{2, 15, 22, 19, 5, 3}, {2, 16, 3}}, 0);
        int h = c.hiddenSize();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(e.parameters(), DType.F32);
             Parameters q = ops.createParameters(cutWeights, DType.F32)) {
            List<float[]> inputs = HiddenStatistics.layerInputs(ops, e.model(), p, batch);
            assertEquals(TinyBertFolder.LAYERS, inputs.size());
            float[] afterOne = ops.toHost(cut.hiddenStates(ops, q, batch, null));
            float[] real = new float[9 * h];
            System.arraycopy(afterOne, 0, real, 0, 6 * h);
            System.arraycopy(afterOne, 6 * h, real, 6 * h, 3 * h);
            assertArrayEquals(real, inputs.get(1));
            double[] sigma = HiddenStatistics.sigmaHat(ops, e.model(), p,
                    e.parameters().get(HiddenStatistics.wordEmbedding(e.model())).toFloats(), batch);
            assertEquals(HiddenStatistics.clippedStd(byName.get("bert.embeddings.word_embeddings.weight")
                    .toFloats(), 5), sigma[0], 0);
            assertEquals(naive(real, 5), sigma[1], 1e-9);
        }
    }
}
