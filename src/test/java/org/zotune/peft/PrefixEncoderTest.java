package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Prefix tuning on an encoder (a tiny random BertForMaskedLM: 2 layers, 2 heads of 8, bidirectional attention): every
 * layer's attention with its prefix against a naive softmax over [prefix keys; the sequence's unmasked keys] with no
 * causal restriction, and the prefixed encoder against the frozen encoder run on [y, x] (what is exactly true of a
 * bidirectional prefix, see below).
 */
class PrefixEncoderTest {
    @TempDir
    Path dir;

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Random prefix tensors for {@code prefix} (keys, values per layer). */
    private static List<HostTensor> randomPrefix(Prefix prefix, long seed) {
        Random r = new Random(seed);
        List<HostTensor> t = new ArrayList<>();
        prefix.tensors().forEach(s -> t.add(HostTensor.ofFloats(s.name(), gaussian(r, (int) s.numel()),
                s.shape())));
        return t;
    }

    /**
     * softmax(q·kᵀ/√d)·v per (sequence, head, query) over [the p prefix rows; every unmasked key of the sequence, before
     * and after the query]; double precision; no rotary (BERT has learned positions).
     */
    private static double[] naive(float[] q, float[] k, float[] v, float[] pk, float[] pv, int p, int[] mask, int b,
                                  int t, int h, int d) {
        double[] out = new double[b * t * h * d];
        int w = h * d;
        for (int s = 0; s < b; s++) {
            for (int head = 0; head < h; head++) {
                for (int i = 0; i < t; i++) {
                    int qo = (s * t + i) * w + head * d;
                    List<Integer> rows = new ArrayList<>(); // < 0: prefix row -1-j; >= 0: the batch's row
                    for (int j = 0; j < p; j++) {
                        rows.add(-1 - j);
                    }
                    for (int j = 0; j < t; j++) {
                        if (mask[s * t + j] != 0) {
                            rows.add(s * t + j);
                        }
                    }
                    double[] score = new double[rows.size()];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < score.length; j++) {
                        int row = rows.get(j);
                        float[] keys = row < 0 ? pk : k;
                        int ko = (row < 0 ? -1 - row : row) * w + head * d;
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[qo + c] * keys[ko + c];
                        }
                        score[j] = dot / Math.sqrt(d);
                        max = Math.max(max, score[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < score.length; j++) {
                        score[j] = Math.exp(score[j] - max);
                        sum += score[j];
                    }
                    for (int j = 0; j < score.length; j++) {
                        int row = rows.get(j);
                        float[] values = row < 0 ? pv : v;
                        int vo = (row < 0 ? -1 - row : row) * w + head * d;
                        for (int c = 0; c < d; c++) {
                            out[qo + c] += score[j] / sum * values[vo + c];
                        }
                    }
                }
            }
        }
        return out;
    }

    @Test
    void everyLayerAttendsBidirectionallyToItsPrefixAsTheNaiveDefinition() throws IOException {
        LoadedEncoder bert = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 5, true));
        EncoderModel model = bert.model();
        Prefix prefix = Prefix.of(model.config(), 3, 16);
        List<HostTensor> tensors = randomPrefix(prefix, 8);
        int[][] xs = {{2, 16, 15, 22, 19, 3}, {2, 21, 3}}; // the second right-padded: 3 padded keys no query sees
        Batch batch = Batch.rightPadded(xs, 0);
        int[] layersSeen = {0};
        try (CpuOps cpu = new CpuOps(); Parameters frozen = cpu.createParameters(bert.parameters(), DType.F32);
                Parameters theta = cpu.createParameters(tensors, DType.F32)) {
            WeightSource w = TrainableStorage.own(prefix.set(cpu, model, frozen), theta).weights(frozen);
            Ops checking = new ForwardingOps(cpu) {
                @Override
                public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor pos,
                                        AttentionSpec spec, KvPrefix kv) {
                    assertNotNull(kv, "the encoder passes its prefix to every attention");
                    assertFalse(spec.causal(), "an encoder's attention is bidirectional");
                    Tensor out = super.attention(q, k, v, mask, pos, spec, kv);
                    float[] got = toHost(out);
                    int l = layersSeen[0]++;
                    assertEquals(3, kv.length());
                    double[] want = naive(toHost(q), toHost(k), toHost(v), tensors.get(2 * l).toFloats(),
                            tensors.get(2 * l + 1).toFloats(), 3, batch.mask(), batch.batch(), batch.seq(),
                            spec.numHeads(), spec.headDim());
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]), "layer " + l + " element "
                                + i);
                    }
                    return out;
                }
            };
            try (Ops.Scope s = cpu.scope()) {
                model.forward(checking, w, batch);
            }
        }
        assertEquals(2, layersSeen[0], "both layers took their prefix");
    }

    /**
     * What is exactly true of a prefix under bidirectional attention: run the frozen encoder on [y, x] (y's positions
     * 0..p-1, x's 0..T-1 as when x runs alone) and keep every layer's keys and values of y's rows; the encoder on x
     * alone with those as its prefix then gives x's rows of the joint run, layer after layer (x's queries see the
     * same keys and values in the same order; y's rows depend on x, which is why they are captured from the joint
     * run, not from y alone).
     */
    @Test
    void prefixedEncoderIsTheFrozenEncoderOnTheJointSequence() throws IOException {
        LoadedEncoder bert = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert"), 6, true));
        EncoderModel model = bert.model();
        int[] y = {17, 20, 9};
        int[] x = {2, 16, 15, 22, 11, 3};
        int p = y.length;
        int n = p + x.length;
        int[] joint = new int[n];
        System.arraycopy(y, 0, joint, 0, p);
        System.arraycopy(x, 0, joint, p, x.length);
        Prefix prefix = Prefix.of(model.config(), p, x.length);
        int width = prefix.width();
        List<HostTensor> captured = new ArrayList<>();
        int vocab = model.config().vocabSize();
        try (CpuOps cpu = new CpuOps(); Parameters frozen = cpu.createParameters(bert.parameters(), DType.F32)) {
            Ops restarted = new ForwardingOps(cpu) {
                @Override
                public IntTensor ints(int[] values) {
                    boolean arange = values.length == n;
                    for (int i = 0; arange && i < n; i++) {
                        arange = values[i] == i;
                    }
                    if (!arange) {
                        return super.ints(values);
                    }
                    int[] pos = new int[n];
                    for (int i = 0; i < n; i++) {
                        pos[i] = i < p ? i : i - p;
                    }
                    return super.ints(pos);
                }

                @Override
                public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor pos,
                                        AttentionSpec spec) {
                    int l = captured.size() / 2;
                    captured.add(HostTensor.ofFloats(prefix.tensors().get(2 * l).name(),
                            java.util.Arrays.copyOf(toHost(k), p * width), p, width));
                    captured.add(HostTensor.ofFloats(prefix.tensors().get(2 * l + 1).name(),
                            java.util.Arrays.copyOf(toHost(v), p * width), p, width));
                    return super.attention(q, k, v, mask, pos, spec);
                }
            };
            float[] want;
            float[] plain;
            try (Ops.Scope s = cpu.scope()) {
                want = cpu.toHost(model.forward(restarted, frozen, Batch.of(joint)));
                plain = cpu.toHost(model.forward(cpu, frozen, Batch.of(x)));
            }
            assertEquals(2 * 2, captured.size(), "keys and values of both layers");
            try (Parameters theta = cpu.createParameters(captured, DType.F32); Ops.Scope s = cpu.scope()) {
                WeightSource w = TrainableStorage.own(prefix.set(cpu, model, frozen), theta).weights(frozen);
                float[] got = cpu.toHost(model.forward(cpu, w, Batch.of(x)));
                double moved = 0;
                for (int i = 0; i < x.length; i++) {
                    for (int c = 0; c < vocab; c++) {
                        float e = want[(p + i) * vocab + c];
                        float g = got[i * vocab + c];
                        assertEquals(e, g, 1e-5 + 1e-5 * Math.abs(e), "token " + i + " logit " + c);
                        moved = Math.max(moved, Math.abs(g - plain[i * vocab + c]));
                    }
                }
                assertTrue(moved > 1e-2, "the prefix changes the logits (" + moved + ")");
            }
        }
    }
}
