package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.CpuZoEngine;
import org.zotune.train.ZoEngine;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoStep;

/**
 * Prefix tuning on the CPU: the attention with a key/value prefix against a naive definition written here (double,
 * its own RoPE and softmax), the prefixed model against the frozen model run on [init tokens, tokens] (what is
 * exactly true with unshifted positions, see below), ZO steps that move the prefix only and resume bitwise, PEFT's
 * prompt_embeddings layout, and bad sizes.
 */
class PrefixTest {
    private static final CausalLM GPT2 = Architectures.create(new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4,
            32, 16, 1e-5, ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1));
    private static final CausalLM OPT = Architectures.create(new ModelConfig(ModelFamily.OPT, 13, 8, 2, 2, 2, 4, 20,
            16, 1e-5, ModelConfig.Activation.RELU, true, false, false, 6, 0, null, true, true, 0, 2, 1));
    private static final CausalLM LLAMA = Architectures.create(new ModelConfig(ModelFamily.LLAMA, 17, 12, 3, 4, 2, 6,
            20, 32, 1e-6, ModelConfig.Activation.SILU, false, true, true, 12, 10000, null, true, true, 1, 2, -1));
    private static final Objective LM = Objective.named("lm");

    private static List<HostTensor> parameters(List<ParamSpec> specs, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : specs) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.4 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Rotate-half RoPE of one head's d features at position pos, in double (HF's rotate_half convention). */
    private static double[] rope(float[] x, int off, int d, int pos, double theta) {
        double[] out = new double[d];
        int half = d / 2;
        for (int i = 0; i < half; i++) {
            double invFreq = 1.0 / Math.pow(theta, 2.0 * i / d);
            double a = pos * invFreq;
            out[i] = x[off + i] * Math.cos(a) - x[off + i + half] * Math.sin(a);
            out[i + half] = x[off + i + half] * Math.cos(a) + x[off + i] * Math.sin(a);
        }
        return out;
    }

    /**
     * softmax(q·Kᵀ·scale)·V per (sequence, head, query) over [prefix rows, the sequence's visible unmasked keys];
     * q and k rotated at their positions when theta > 0, the prefix keys as given.
     */
    private static double[] naive(float[] q, float[] k, float[] v, float[] pk, float[] pv, int np, int[] mask,
                                  int[] pos, int b, int t, int h, int hkv, int d, boolean causal, double theta) {
        double[] out = new double[b * t * h * d];
        double scale = 1 / Math.sqrt(d);
        for (int s = 0; s < b; s++) {
            for (int head = 0; head < h; head++) {
                int kh = head / (h / hkv);
                for (int i = 0; i < t; i++) {
                    int qo = (s * t + i) * h * d + head * d;
                    double[] qi = theta > 0 ? rope(q, qo, d, pos[s * t + i], theta)
                            : slice(q, qo, d);
                    List<double[]> keys = new ArrayList<>();
                    List<Integer> valueRows = new ArrayList<>(); // >= 0: sequence row; < 0: prefix row -1-j
                    for (int j = 0; j < np; j++) {
                        keys.add(slice(pk, j * hkv * d + kh * d, d));
                        valueRows.add(-1 - j);
                    }
                    for (int j = 0; j < t; j++) {
                        if (mask[s * t + j] == 0 || (causal && j > i)) {
                            continue;
                        }
                        int ko = (s * t + j) * hkv * d + kh * d;
                        keys.add(theta > 0 ? rope(k, ko, d, pos[s * t + j], theta) : slice(k, ko, d));
                        valueRows.add(s * t + j);
                    }
                    double[] w = new double[keys.size()];
                    double sum = 0;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < w.length; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += qi[c] * keys.get(j)[c];
                        }
                        w[j] = dot * scale;
                        max = Math.max(max, w[j]);
                    }
                    for (int j = 0; j < w.length; j++) {
                        w[j] = Math.exp(w[j] - max);
                        sum += w[j];
                    }
                    for (int j = 0; j < w.length; j++) {
                        int row = valueRows.get(j);
                        float[] src = row >= 0 ? v : pv;
                        int vo = row >= 0 ? row * hkv * d + kh * d : (-1 - row) * hkv * d + kh * d;
                        for (int c = 0; c < d; c++) {
                            out[qo + c] += w[j] / sum * src[vo + c];
                        }
                    }
                }
            }
        }
        return out;
    }

    private static double[] slice(float[] x, int off, int n) {
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = x[off + i];
        }
        return out;
    }

    /** Awkward shapes: grouped heads, odd lengths, padding on both sides, a fully padded row, RoPE or none. */
    @Test
    void attentionWithAPrefixMatchesTheNaiveDefinition() {
        Random r = new Random(5);
        int b = 3;
        int t = 5;
        int h = 4;
        int hkv = 2;
        int d = 6;
        int np = 3;
        int[] mask = {1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0};
        int[] pos = {0, 1, 2, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0};
        float[] q = gaussian(r, b * t * h * d);
        float[] k = gaussian(r, b * t * hkv * d);
        float[] v = gaussian(r, b * t * hkv * d);
        float[] pk = gaussian(r, np * hkv * d);
        float[] pv = gaussian(r, np * hkv * d);
        for (double theta : new double[] {0, 500}) {
            for (boolean causal : new boolean[] {true, false}) {
                AttentionSpec spec = new AttentionSpec(b, t, h, hkv, d, (float) (1 / Math.sqrt(d)), theta, null,
                        causal);
                double[] want = naive(q, k, v, pk, pv, np, mask, pos, b, t, h, hkv, d, causal, theta);
                try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(List.of(
                        HostTensor.ofFloats("q", q, b * t, h * d), HostTensor.ofFloats("k", k, b * t, hkv * d),
                        HostTensor.ofFloats("v", v, b * t, hkv * d), HostTensor.ofFloats("pk", pk, np, hkv * d),
                        HostTensor.ofFloats("pv", pv, np, hkv * d)), DType.F32)) {
                    KvPrefix prefix = new KvPrefix(p.weight(3), p.weight(4));
                    float[] got = ops.toHost(ops.attention(p.weight(0), p.weight(1), p.weight(2), ops.ints(mask),
                            ops.ints(pos), spec, prefix));
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]),
                                "theta " + theta + " causal " + causal + " element " + i);
                    }
                    // the fully padded third sequence still sees the prefix: its rows are the prefix's mixture
                    assertTrue(Math.abs(got[(2 * t) * h * d]) > 0, "a row with no own key sees the prefix");
                    // packed q | k | v with a bias: the same attention
                    float[] packed = new float[b * t * (h + 2 * hkv) * d];
                    float[] bias = gaussian(r, (h + 2 * hkv) * d);
                    float[] qb = q.clone();
                    float[] kb = k.clone();
                    float[] vb = v.clone();
                    int w = (h + 2 * hkv) * d;
                    for (int row = 0; row < b * t; row++) {
                        for (int c = 0; c < w; c++) {
                            float x = c < h * d ? q[row * h * d + c] : c < (h + hkv) * d
                                    ? k[row * hkv * d + c - h * d] : v[row * hkv * d + c - (h + hkv) * d];
                            packed[row * w + c] = x;
                            float sum = x + bias[c];
                            if (c < h * d) {
                                qb[row * h * d + c] = sum;
                            } else if (c < (h + hkv) * d) {
                                kb[row * hkv * d + c - h * d] = sum;
                            } else {
                                vb[row * hkv * d + c - (h + hkv) * d] = sum;
                            }
                        }
                    }
                    double[] wantPacked = naive(qb, kb, vb, pk, pv, np, mask, pos, b, t, h, hkv, d, causal, theta);
                    try (Parameters pp = ops.createParameters(List.of(HostTensor.ofFloats("qkv", packed, b * t, w),
                            HostTensor.ofFloats("bias", bias, w)), DType.F32)) {
                        float[] gotPacked = ops.toHost(ops.attentionPacked(pp.weight(0), pp.weight(1), ops.ints(mask),
                                ops.ints(pos), spec, prefix));
                        for (int i = 0; i < wantPacked.length; i++) {
                            assertEquals(wantPacked[i], gotPacked[i], 1e-5 + 1e-5 * Math.abs(wantPacked[i]),
                                    "packed, theta " + theta + " causal " + causal + " element " + i);
                        }
                    }
                }
            }
        }
    }

    /**
     * Replaces the positions a model computes for one unpadded sequence of n = p + T tokens (0..n-1, plus OPT's
     * offset 2) by (0..p-1, 0..T-1): the frozen model on [init tokens, x] with x's positions as without a prefix.
     */
    private static final class RestartPositions extends ForwardingOps {
        private final int p;
        private final int n;

        RestartPositions(Ops ops, int p, int n) {
            super(ops);
            this.p = p;
            this.n = n;
        }

        @Override
        public IntTensor ints(int[] values) {
            if (values.length == n && (values[0] == 0 || values[0] == 2)) {
                boolean arange = true;
                for (int i = 0; i < n; i++) {
                    arange &= values[i] == values[0] + i;
                }
                if (arange) {
                    int[] restarted = new int[n];
                    for (int i = 0; i < n; i++) {
                        restarted[i] = values[0] + (i < p ? i : i - p);
                    }
                    return super.ints(restarted);
                }
            }
            return super.ints(values);
        }
    }

    /**
     * What is exactly true of the initialisation with the real tokens' positions unshifted: the prefixed model on x
     * equals the frozen model on [t_1..t_p, x] with positions (0..p-1, 0..T-1), on x's rows. (Under causal attention
     * the init tokens see only each other, so every layer's keys/values for them are the captured prefix; x sees
     * them all, unrotated again.) With x at p..p+T-1 instead (PEFT's shift), GPT-2 and OPT would read other position
     * embeddings and Llama's rotations would differ, so the plain concatenation is NOT the reference. Padding: each
     * sequence of a right-padded batch against its own concatenation.
     */
    @Test
    void initialisedPrefixIsTheFrozenModelOnTheInitTokensFirst() {
        int[][] xs = {{3, 9, 1, 7, 4, 8}, {5, 2, 10}};
        for (CausalLM model : List.of(GPT2, OPT, LLAMA)) {
            Prefix prefix = Prefix.of(model.config(), 4, 8);
            int[] init = prefix.initialTokens(21);
            int p = init.length;
            try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(parameters(model.params(), 3),
                    DType.F32)) {
                Adapter.Bound bound = prefix.bind(ops, model, frozen, 21);
                try (Parameters theta = ops.createParameters(bound.initial(), DType.F32)) {
                    WeightSource w = TrainableStorage.own(bound.set(), theta).weights(frozen);
                    Batch batch = Batch.rightPadded(xs, 0);
                    float[] got = ops.toHost(model.forward(ops, w, batch));
                    float[] plain = ops.toHost(model.forward(ops, frozen, batch));
                    int vocab = model.config().vocabSize();
                    double moved = 0;
                    for (int s = 0; s < xs.length; s++) {
                        int[] cat = new int[p + xs[s].length];
                        System.arraycopy(init, 0, cat, 0, p);
                        System.arraycopy(xs[s], 0, cat, p, xs[s].length);
                        float[] want = ops.toHost(model.forward(new RestartPositions(ops, p, cat.length), frozen,
                                Batch.of(cat)));
                        for (int i = 0; i < xs[s].length; i++) {
                            for (int c = 0; c < vocab; c++) {
                                float e = want[(p + i) * vocab + c];
                                float g = got[(s * batch.seq() + i) * vocab + c];
                                assertEquals(e, g, 1e-5 + 1e-5 * Math.abs(e), model.config().family() + " seq " + s
                                        + " token " + i + " logit " + c);
                                moved = Math.max(moved, Math.abs(g - plain[(s * batch.seq() + i) * vocab + c]));
                            }
                        }
                    }
                    assertTrue(moved > 1e-2, model.config().family() + ": the prefix changes the logits (" + moved
                            + ")");
                }
            }
        }
    }

    @Test
    void initialTokensComeFromTheRunSeed() {
        Prefix prefix = Prefix.of(LLAMA.config(), 16, 8);
        int[] a = prefix.initialTokens(7);
        assertArrayEquals(a, prefix.initialTokens(7));
        assertFalse(Arrays.equals(a, prefix.initialTokens(8)));
        for (int id : a) {
            assertTrue(id >= 0 && id < 17, "a vocabulary token: " + id);
        }
        assertTrue(Arrays.stream(a).distinct().count() > 4, "spread over the vocabulary: " + Arrays.toString(a));
        assertEquals(List.of("prefix.layers.0.keys", "prefix.layers.0.values", "prefix.layers.1.keys"),
                prefix.tensors().subList(0, 3).stream().map(ParamSpec::name).toList());
        assertArrayEquals(new long[] {16, 12}, prefix.tensors().get(1).shape(), "[p, Hkv·D] = [16, 2·6]");
    }

    private static ZoEngine engine(Prefix prefix, List<HostTensor> base, PerturbationStrategy strategy) {
        ZoOptimizer opt = new ZoAdam.Config(LrSchedule.constant(1e-2), 0.9, 0.999, 1e-8, 0.0, DType.F32)
                .reference(new NoiseLayout(prefix.tensors()));
        ZoStep.Config c = new ZoStep.Config(1e-2, 1, strategy, 1, 5, DType.F32, 11);
        return new CpuZoEngine(LLAMA, base, prefix, LM, opt, LrSchedule.constant(1e-2), c);
    }

    @Test
    void zoStepsTrainThePrefixOnlyAndResumeBitwise() {
        Prefix prefix = Prefix.of(LLAMA.config(), 3, 8);
        List<HostTensor> base = parameters(LLAMA.params(), 5);
        PromptBatch pb = PromptBatch.ofChunks(List.of(new int[] {1, 4, 2, 9, 3, 7}, new int[] {5, 3, 8, 6, 10, 2}), 0);
        List<PromptBatch> mb = List.of(pb);
        List<HostTensor> init;
        try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(base, DType.F32)) {
            init = prefix.bind(ops, LLAMA, frozen, 11).initial();
        }
        for (PerturbationStrategy strategy : PerturbationStrategy.values()) {
            List<HostTensor> after;
            float[] losses = new float[4];
            try (ZoEngine e = engine(prefix, base, strategy)) {
                List<HostTensor> start = e.exportParameters();
                for (int k = 0; k < init.size(); k++) {
                    assertArrayEquals(init.get(k).toFloats(), start.get(k).toFloats(), "θ_0 is the initialisation");
                }
                for (int t = 0; t < 4; t++) {
                    losses[t] = e.step(mb).loss();
                }
                after = e.exportParameters();
                assertEquals(prefix.tensors().size(), after.size(), "the engine's θ is the prefix");
                for (int k = 0; k < after.size(); k++) {
                    assertFalse(Arrays.equals(init.get(k).toFloats(), after.get(k).toFloats()),
                            strategy + ": " + after.get(k).name() + " trained");
                }
                float trained = e.evaluate((ops, m, w) -> {
                    for (int p = 0; p < LLAMA.params().size(); p++) {
                        assertArrayEquals(base.get(p).toFloats(), ops.toHost(w.weight(p)), "frozen " + p);
                    }
                    return LM.loss(ops, LLAMA, w, pb);
                });
                try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(base, DType.F32);
                     Parameters theta = ops.createParameters(after, DType.F32)) {
                    Adapter.Bound b = prefix.bind(ops, LLAMA, frozen, 11);
                    assertEquals(LM.loss(ops, LLAMA, TrainableStorage.own(b.set(), theta).weights(frozen), pb),
                            trained, strategy + ": the trained prefix over the untouched base");
                }
            }
            ZoEngine.State mid;
            try (ZoEngine e = engine(prefix, base, strategy)) {
                e.step(mb);
                e.step(mb);
                mid = e.state();
            }
            try (ZoEngine e = engine(prefix, base, strategy)) {
                e.restore(mid);
                assertEquals(losses[2], e.step(mb).loss());
                assertEquals(losses[3], e.step(mb).loss());
                List<HostTensor> resumed = e.exportParameters();
                for (int k = 0; k < after.size(); k++) {
                    assertArrayEquals(after.get(k).toFloats(), resumed.get(k).toFloats(), after.get(k).name());
                }
                long state = mid.optimizerState().stream().mapToLong(HostTensor::numel).sum();
                assertEquals(2L * 3 * 3 * 2 * 12, state, "ZO-Adam's m and v over 3 layers × (keys, values) × [3, 12]");
            }
        }
    }

    /** PEFT's prompt_embeddings [p, 2·L·Hkv·D]: row i = layer 0 key i | layer 0 value i | layer 1 key i | ... */
    @Test
    void peftLayoutInterleavesLayersKeysAndValuesPerToken() {
        Prefix prefix = Prefix.of(LLAMA.config(), 2, 8);
        List<HostTensor> ours = new ArrayList<>();
        for (ParamSpec s : prefix.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = ours.size() * 1000 + i; // tensor number and element, readable in the layout
            }
            ours.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        HostTensor peft = prefix.toPeft(ours);
        assertEquals("prompt_embeddings", peft.name());
        assertArrayEquals(new long[] {2, 2 * 3 * 12}, peft.shape());
        float[] e = peft.toFloats();
        assertEquals(0f, e[0], "token 0: layer 0 key 0");
        assertEquals(1000f, e[12], "token 0: layer 0 value 0");
        assertEquals(2000f + 11, e[2 * 12 + 11], "token 0: layer 1 key, last feature");
        assertEquals(5000f + 12, e[72 + 5 * 12], "token 1: layer 2 value, its row starts at element 12");
        List<HostTensor> back = prefix.fromPeft(peft, "adapter_model.safetensors");
        for (int k = 0; k < ours.size(); k++) {
            assertArrayEquals(ours.get(k).toFloats(), back.get(k).toFloats(), ours.get(k).name());
        }
        ZotuneException x = assertThrows(ZotuneException.class, () -> Prefix.of(LLAMA.config(), 3, 8)
                .fromPeft(peft, "a/adapter_model.safetensors"));
        assertEquals("a/adapter_model.safetensors: tensor prompt_embeddings has shape [2, 72], this model's prefix "
                + "of 3 tokens needs [3, 72] (2 × 3 layers × 12)", x.getMessage());
    }

    @Test
    void badSizesAreOneLine() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> Prefix.of(GPT2.config(), 0, 8));
        assertEquals("key 'peft.tokens' must be >= 1, got 0", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Prefix.of(GPT2.config(), 5, 12));
        assertEquals("key 'peft.tokens': 5 prefix tokens + max_length 12 = 17 keys, more than the model's 16 "
                + "positions; lower peft.tokens or max_length", e.getMessage());
        Prefix.of(GPT2.config(), 4, 12); // exactly the positions
    }
}
