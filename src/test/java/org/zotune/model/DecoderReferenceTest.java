package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * GPT-2 and OPT forwards (Architectures.arrange + CpuOps) against direct double-precision transcriptions of
 * HF's GPT2LMHeadModel and OPTForCausalLM written here on the checkpoint's own (HF) layout, on random tiny
 * checkpoints, including padded batches: GPT-2 right padding and OPT left padding must leave the real
 * tokens' logits equal to those of the unpadded sequence.
 */
class DecoderReferenceTest {
    private final Map<String, HostTensor> tensors = new LinkedHashMap<>();
    private final SplittableRandom random = new SplittableRandom(7);

    private void rand(String name, double scale, double mean, long... shape) {
        int n = 1;
        for (long s : shape) {
            n *= (int) s;
        }
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (mean + scale * (2 * random.nextDouble() - 1));
        }
        tensors.put(name, HostTensor.ofFloats(name, a, shape));
    }

    private float[] t(String name) {
        return tensors.get(name).toFloats();
    }

    // ---- double-precision building blocks ----

    /** y = x·W + b with W stored [in, out] (Conv1D). */
    private static double[] conv1d(double[] x, float[] w, float[] b, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double acc = b == null ? 0 : b[o];
            for (int i = 0; i < in; i++) {
                acc += x[i] * w[i * out + o];
            }
            y[o] = acc;
        }
        return y;
    }

    /** y = W·x + b with W stored [out, in] (nn.Linear). */
    private static double[] linear(double[] x, float[] w, float[] b, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double acc = b == null ? 0 : b[o];
            for (int i = 0; i < in; i++) {
                acc += x[i] * w[o * in + i];
            }
            y[o] = acc;
        }
        return y;
    }

    private static double[] layerNorm(double[] x, float[] w, float[] b, double eps) {
        double mean = 0;
        for (double v : x) {
            mean += v;
        }
        mean /= x.length;
        double var = 0;
        for (double v : x) {
            var += (v - mean) * (v - mean);
        }
        var /= x.length;
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = (x[i] - mean) / Math.sqrt(var + eps) * w[i] + b[i];
        }
        return y;
    }

    /** Causal multi-head attention of position p over 0..p: softmax(q·k·scale)·v per head. */
    private static double[] attend(double[][] q, double[][] k, double[][] v, int p, int heads, double scale) {
        int dim = q[p].length;
        int d = dim / heads;
        double[] out = new double[dim];
        for (int h = 0; h < heads; h++) {
            double[] s = new double[p + 1];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j <= p; j++) {
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += q[p][h * d + c] * k[j][h * d + c];
                }
                s[j] = dot * scale;
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j <= p; j++) {
                s[j] = Math.exp(s[j] - max);
                sum += s[j];
            }
            for (int j = 0; j <= p; j++) {
                for (int c = 0; c < d; c++) {
                    out[h * d + c] += s[j] / sum * v[j][h * d + c];
                }
            }
        }
        return out;
    }

    private static void addTo(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }

    // ---- GPT-2 ----

    private static final int V = 23;
    private static final int H = 12;
    private static final int HEADS = 3;

    private ModelConfig gpt2Config() {
        return new ModelConfig(ModelFamily.GPT2, V, H, 2, HEADS, HEADS, H / HEADS, 4 * H, 10, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, H, 0, null, true, true, -1, -1, -1);
    }

    private void gpt2Weights(int layers) {
        rand("wte.weight", 1, 0, V, H);
        rand("wpe.weight", 0.5, 0, 10, H);
        for (int l = 0; l < layers; l++) {
            String p = "h." + l + ".";
            rand(p + "ln_1.weight", 0.3, 1, H);
            rand(p + "ln_1.bias", 0.2, 0, H);
            rand(p + "attn.c_attn.weight", 0.5, 0, H, 3 * H);
            rand(p + "attn.c_attn.bias", 0.2, 0, 3 * H);
            rand(p + "attn.c_proj.weight", 0.4, 0, H, H);
            rand(p + "attn.c_proj.bias", 0.2, 0, H);
            rand(p + "ln_2.weight", 0.3, 1, H);
            rand(p + "ln_2.bias", 0.2, 0, H);
            rand(p + "mlp.c_fc.weight", 0.5, 0, H, 4 * H);
            rand(p + "mlp.c_fc.bias", 0.2, 0, 4 * H);
            rand(p + "mlp.c_proj.weight", 0.3, 0, 4 * H, H);
            rand(p + "mlp.c_proj.bias", 0.2, 0, H);
        }
        rand("ln_f.weight", 0.3, 1, H);
        rand("ln_f.bias", 0.2, 0, H);
    }

    private double[][] gpt2Reference(int[] ids, int layers) {
        int n = ids.length;
        double[][] x = new double[n][H];
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < H; i++) {
                x[p][i] = t("wte.weight")[ids[p] * H + i] + t("wpe.weight")[p * H + i];
            }
        }
        for (int l = 0; l < layers; l++) {
            String pre = "h." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int p = 0; p < n; p++) {
                double[] a = layerNorm(x[p], t(pre + "ln_1.weight"), t(pre + "ln_1.bias"), 1e-5);
                double[] qkv = conv1d(a, t(pre + "attn.c_attn.weight"), t(pre + "attn.c_attn.bias"), H, 3 * H);
                q[p] = java.util.Arrays.copyOfRange(qkv, 0, H);
                k[p] = java.util.Arrays.copyOfRange(qkv, H, 2 * H);
                v[p] = java.util.Arrays.copyOfRange(qkv, 2 * H, 3 * H);
            }
            for (int p = 0; p < n; p++) {
                double[] att = attend(q, k, v, p, HEADS, 1 / Math.sqrt(H / HEADS));
                addTo(x[p], conv1d(att, t(pre + "attn.c_proj.weight"), t(pre + "attn.c_proj.bias"), H, H));
            }
            for (int p = 0; p < n; p++) {
                double[] m = layerNorm(x[p], t(pre + "ln_2.weight"), t(pre + "ln_2.bias"), 1e-5);
                double[] f = conv1d(m, t(pre + "mlp.c_fc.weight"), t(pre + "mlp.c_fc.bias"), H, 4 * H);
                for (int i = 0; i < f.length; i++) {
                    double z = f[i];
                    f[i] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
                }
                addTo(x[p], conv1d(f, t(pre + "mlp.c_proj.weight"), t(pre + "mlp.c_proj.bias"), 4 * H, H));
            }
        }
        double[][] logits = new double[n][];
        for (int p = 0; p < n; p++) {
            logits[p] = linear(layerNorm(x[p], t("ln_f.weight"), t("ln_f.bias"), 1e-5), t("wte.weight"), null, H, V);
        }
        return logits;
    }

    private float[] run(ModelConfig config, Batch batch) {
        CausalLM m = Architectures.create(config);
        Checkpoint c = new Checkpoint(Path.of("tiny"), config, tensors);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(Architectures.arrange(m, c), DType.F32)) {
            return ops.toHost(m.forward(ops, p, batch));
        }
    }

    /** Rows [row0, row0 + want.length) of got (vocab wide) equal want within 1e-4 (abs + rel). */
    private static double assertRows(double[][] want, float[] got, int row0, int vocab) {
        double maxAbs = 0;
        for (int p = 0; p < want.length; p++) {
            for (int v = 0; v < vocab; v++) {
                double w = want[p][v];
                double g = got[(row0 + p) * vocab + v];
                maxAbs = Math.max(maxAbs, Math.abs(w));
                assertTrue(Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w),
                        "row " + (row0 + p) + " token " + v + ": " + g + " vs reference " + w);
            }
        }
        assertTrue(maxAbs > 0.5, "logits not trivially small");
        return maxAbs;
    }

    @Test
    void gpt2MatchesReferenceWithRightPadding() {
        gpt2Weights(2);
        int[] a = {3, 14, 1, 22, 7, 9};
        int[] b = {5, 0, 18};
        float[] got = run(gpt2Config(), Batch.rightPadded(new int[][] {a, b}, 4));
        assertRows(gpt2Reference(a, 2), got, 0, V);
        assertRows(gpt2Reference(b, 2), got, a.length, V);
    }

    @Test
    void gpt2RejectsSequencesLongerThanItsPositions() {
        gpt2Weights(2);
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> run(gpt2Config(), Batch.of(new int[11])));
        assertTrue(e.getMessage().contains("11") && e.getMessage().contains("10"), e.getMessage());
        e = assertThrows(ZotuneException.class, () -> run(gpt2Config(), Batch.of(1, V)));
        assertTrue(e.getMessage().contains("token id " + V), e.getMessage());
    }

    // ---- OPT ----

    private ModelConfig optConfig(boolean before, int proj) {
        return new ModelConfig(ModelFamily.OPT, V, H, 2, HEADS, HEADS, H / HEADS, 20, 10, 1e-5,
                ModelConfig.Activation.RELU, true, before, before, proj, 0, null, true, true, 2, 2, 1);
    }

    private void optWeights(boolean before, int proj) {
        String d = "decoder.";
        rand(d + "embed_tokens.weight", 1, 0, V, proj);
        rand(d + "embed_positions.weight", 0.5, 0, 12, H);
        if (proj != H) {
            rand(d + "project_in.weight", 0.5, 0, H, proj);
            rand(d + "project_out.weight", 0.5, 0, proj, H);
        }
        for (int l = 0; l < 2; l++) {
            String p = d + "layers." + l + ".";
            for (String m : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                rand(p + "self_attn." + m + ".weight", 0.5, 0, H, H);
                rand(p + "self_attn." + m + ".bias", 0.2, 0, H);
            }
            rand(p + "self_attn_layer_norm.weight", 0.3, 1, H);
            rand(p + "self_attn_layer_norm.bias", 0.2, 0, H);
            rand(p + "fc1.weight", 0.5, 0, 20, H);
            rand(p + "fc1.bias", 0.2, 0, 20);
            rand(p + "fc2.weight", 0.3, 0, H, 20);
            rand(p + "fc2.bias", 0.2, 0, H);
            rand(p + "final_layer_norm.weight", 0.3, 1, H);
            rand(p + "final_layer_norm.bias", 0.2, 0, H);
        }
        if (before) {
            rand(d + "final_layer_norm.weight", 0.3, 1, H);
            rand(d + "final_layer_norm.bias", 0.2, 0, H);
        }
    }

    /** HF's OPT on one unpadded sequence: positions 0..n-1 looked up at +2, q scaled after q_proj. */
    private double[][] optReference(int[] ids, boolean before, int proj) {
        String d = "decoder.";
        int n = ids.length;
        double[][] x = new double[n][];
        for (int p = 0; p < n; p++) {
            double[] e = new double[proj];
            for (int i = 0; i < proj; i++) {
                e[i] = t(d + "embed_tokens.weight")[ids[p] * proj + i];
            }
            x[p] = proj != H ? linear(e, t(d + "project_in.weight"), null, proj, H) : e;
            for (int i = 0; i < H; i++) {
                x[p][i] += t(d + "embed_positions.weight")[(p + 2) * H + i];
            }
        }
        double scaling = Math.pow(H / HEADS, -0.5);
        for (int l = 0; l < 2; l++) {
            String pre = d + "layers." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int p = 0; p < n; p++) {
                double[] h = before ? layerNorm(x[p], t(pre + "self_attn_layer_norm.weight"),
                        t(pre + "self_attn_layer_norm.bias"), 1e-5) : x[p];
                q[p] = linear(h, t(pre + "self_attn.q_proj.weight"), t(pre + "self_attn.q_proj.bias"), H, H);
                for (int i = 0; i < H; i++) {
                    q[p][i] *= scaling;
                }
                k[p] = linear(h, t(pre + "self_attn.k_proj.weight"), t(pre + "self_attn.k_proj.bias"), H, H);
                v[p] = linear(h, t(pre + "self_attn.v_proj.weight"), t(pre + "self_attn.v_proj.bias"), H, H);
            }
            for (int p = 0; p < n; p++) {
                double[] att = attend(q, k, v, p, HEADS, 1.0);
                addTo(x[p], linear(att, t(pre + "self_attn.out_proj.weight"), t(pre + "self_attn.out_proj.bias"),
                        H, H));
                if (!before) {
                    x[p] = layerNorm(x[p], t(pre + "self_attn_layer_norm.weight"),
                            t(pre + "self_attn_layer_norm.bias"), 1e-5);
                }
                double[] h = before ? layerNorm(x[p], t(pre + "final_layer_norm.weight"),
                        t(pre + "final_layer_norm.bias"), 1e-5) : x[p];
                double[] f = linear(h, t(pre + "fc1.weight"), t(pre + "fc1.bias"), H, 20);
                for (int i = 0; i < f.length; i++) {
                    f[i] = Math.max(0, f[i]);
                }
                addTo(x[p], linear(f, t(pre + "fc2.weight"), t(pre + "fc2.bias"), 20, H));
                if (!before) {
                    x[p] = layerNorm(x[p], t(pre + "final_layer_norm.weight"), t(pre + "final_layer_norm.bias"), 1e-5);
                }
            }
        }
        double[][] logits = new double[n][];
        for (int p = 0; p < n; p++) {
            double[] h = x[p];
            if (before) {
                h = layerNorm(h, t(d + "final_layer_norm.weight"), t(d + "final_layer_norm.bias"), 1e-5);
            }
            if (proj != H) {
                h = linear(h, t(d + "project_out.weight"), null, H, proj);
            }
            logits[p] = linear(h, t(d + "embed_tokens.weight"), null, proj, V);
        }
        return logits;
    }

    private void optCase(boolean before, int proj) {
        optWeights(before, proj);
        int[] a = {2, 14, 1, 22, 7, 9};
        int[] b = {2, 5, 19};
        // left padding: positions come from the mask, so b's logits equal the unpadded ones
        int[] ids = new int[12];
        int[] mask = new int[12];
        System.arraycopy(a, 0, ids, 0, 6);
        java.util.Arrays.fill(mask, 0, 6, 1);
        ids[6] = 1;
        ids[7] = 1;
        ids[8] = 1;
        System.arraycopy(b, 0, ids, 9, 3);
        java.util.Arrays.fill(mask, 9, 12, 1);
        float[] got = run(optConfig(before, proj), new Batch(2, 6, ids, mask));
        assertRows(optReference(a, before, proj), got, 0, V);
        assertRows(optReference(b, before, proj), got, 9, V);
    }

    @Test
    void optPreNormMatchesReferenceWithLeftPadding() {
        optCase(true, H);
    }

    @Test
    void optPostNormWithProjectionMatchesReference() {
        optCase(false, 8);
    }
    // ---- Llama (HF layout: biases, head_dim != hidden / heads, GQA, untied head, Llama-3 RoPE scaling) ----

    private static final int LH = 10;
    private static final int LHEADS = 4;
    private static final int LKV = 2;
    private static final int LD = 4;
    private static final int LFFN = 14;

    private ModelConfig llamaConfig(ModelConfig.RopeScaling scaling) {
        return new ModelConfig(ModelFamily.LLAMA, V, LH, 2, LHEADS, LKV, LD, LFFN, 64, 1e-6,
                ModelConfig.Activation.SILU, false, true, true, LH, 500.0, scaling, true, true, 1, 2, -1);
    }

    private void llamaWeights() {
        rand("model.embed_tokens.weight", 1, 0, V, LH);
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            rand(p + "input_layernorm.weight", 0.3, 1, LH);
            rand(p + "self_attn.q_proj.weight", 0.5, 0, LHEADS * LD, LH);
            rand(p + "self_attn.q_proj.bias", 0.3, 0, LHEADS * LD);
            rand(p + "self_attn.k_proj.weight", 0.5, 0, LKV * LD, LH);
            rand(p + "self_attn.k_proj.bias", 0.3, 0, LKV * LD);
            rand(p + "self_attn.v_proj.weight", 0.5, 0, LKV * LD, LH);
            rand(p + "self_attn.v_proj.bias", 0.3, 0, LKV * LD);
            rand(p + "self_attn.o_proj.weight", 0.4, 0, LH, LHEADS * LD);
            rand(p + "self_attn.o_proj.bias", 0.2, 0, LH);
            rand(p + "post_attention_layernorm.weight", 0.3, 1, LH);
            rand(p + "mlp.gate_proj.weight", 0.5, 0, LFFN, LH);
            rand(p + "mlp.gate_proj.bias", 0.2, 0, LFFN);
            rand(p + "mlp.up_proj.weight", 0.5, 0, LFFN, LH);
            rand(p + "mlp.up_proj.bias", 0.2, 0, LFFN);
            rand(p + "mlp.down_proj.weight", 0.3, 0, LH, LFFN);
            rand(p + "mlp.down_proj.bias", 0.2, 0, LH);
        }
        rand("model.norm.weight", 0.3, 1, LH);
        rand("lm_head.weight", 0.5, 0, V, LH);
    }

    private static double[] rms(double[] x, float[] w, double eps) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double inv = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = w[i] * x[i] * inv;
        }
        return y;
    }

    /** HF's inv_freq, with the "llama3" rope_type adjustment when scaling is given. */
    private static double[] invFreq(double theta, ModelConfig.RopeScaling s) {
        double[] f = new double[LD / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = 1 / Math.pow(theta, 2.0 * i / LD);
            if (s != null) {
                double wavelen = 2 * Math.PI / f[i];
                double low = s.originalMaxPositions() / s.lowFreqFactor();
                double high = s.originalMaxPositions() / s.highFreqFactor();
                if (wavelen > low) {
                    f[i] /= s.factor();
                } else if (wavelen >= high) {
                    double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor())
                            / (s.highFreqFactor() - s.lowFreqFactor());
                    f[i] = (1 - smooth) * f[i] / s.factor() + smooth * f[i];
                }
            }
        }
        return f;
    }

    /** rotate_half RoPE: (x1, x2) halves of each head → (x1·cos − x2·sin, x2·cos + x1·sin). */
    private static void rope(double[] x, int heads, int pos, double[] inv) {
        int half = LD / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                double c = Math.cos(pos * inv[i]);
                double s = Math.sin(pos * inv[i]);
                double a = x[h * LD + i];
                double b = x[h * LD + i + half];
                x[h * LD + i] = a * c - b * s;
                x[h * LD + i + half] = b * c + a * s;
            }
        }
    }

    private double[][] llamaReference(int[] ids, ModelConfig.RopeScaling scaling) {
        int n = ids.length;
        double[] inv = invFreq(500.0, scaling);
        double[][] x = new double[n][LH];
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < LH; i++) {
                x[p][i] = t("model.embed_tokens.weight")[ids[p] * LH + i];
            }
        }
        for (int l = 0; l < 2; l++) {
            String pre = "model.layers." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int p = 0; p < n; p++) {
                double[] a = rms(x[p], t(pre + "input_layernorm.weight"), 1e-6);
                q[p] = linear(a, t(pre + "self_attn.q_proj.weight"), t(pre + "self_attn.q_proj.bias"), LH, LHEADS * LD);
                k[p] = linear(a, t(pre + "self_attn.k_proj.weight"), t(pre + "self_attn.k_proj.bias"), LH, LKV * LD);
                v[p] = linear(a, t(pre + "self_attn.v_proj.weight"), t(pre + "self_attn.v_proj.bias"), LH, LKV * LD);
                rope(q[p], LHEADS, p, inv);
                rope(k[p], LKV, p, inv);
            }
            // GQA: query head h reads key/value head h / (heads / kv heads); repeat kv heads to full width
            double[][] kf = new double[n][LHEADS * LD];
            double[][] vf = new double[n][LHEADS * LD];
            for (int p = 0; p < n; p++) {
                for (int h = 0; h < LHEADS; h++) {
                    int g = h / (LHEADS / LKV);
                    System.arraycopy(k[p], g * LD, kf[p], h * LD, LD);
                    System.arraycopy(v[p], g * LD, vf[p], h * LD, LD);
                }
            }
            for (int p = 0; p < n; p++) {
                double[] att = attend(q, kf, vf, p, LHEADS, 1 / Math.sqrt(LD));
                addTo(x[p], linear(att, t(pre + "self_attn.o_proj.weight"), t(pre + "self_attn.o_proj.bias"),
                        LHEADS * LD, LH));
                double[] m = rms(x[p], t(pre + "post_attention_layernorm.weight"), 1e-6);
                double[] g = linear(m, t(pre + "mlp.gate_proj.weight"), t(pre + "mlp.gate_proj.bias"), LH, LFFN);
                double[] u = linear(m, t(pre + "mlp.up_proj.weight"), t(pre + "mlp.up_proj.bias"), LH, LFFN);
                for (int i = 0; i < LFFN; i++) {
                    g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                }
                addTo(x[p], linear(g, t(pre + "mlp.down_proj.weight"), t(pre + "mlp.down_proj.bias"), LFFN, LH));
            }
        }
        double[][] logits = new double[n][];
        for (int p = 0; p < n; p++) {
            logits[p] = linear(rms(x[p], t("model.norm.weight"), 1e-6), t("lm_head.weight"), null, LH, V);
        }
        return logits;
    }

    @Test
    void llamaWithBiasesGqaAndUntiedHeadMatchesReference() {
        llamaWeights();
        int[] a = {1, 14, 3, 22, 7, 9, 0, 5};
        int[] b = {1, 5, 19};
        float[] got = run(llamaConfig(null), Batch.rightPadded(new int[][] {a, b}, 0));
        assertRows(llamaReference(a, null), got, 0, V);
        assertRows(llamaReference(b, null), got, a.length, V);
    }

    @Test
    void llamaWithLlama3RopeScalingMatchesReference() {
        llamaWeights();
        // original 8 positions, factor 4, low 1, high 4: wavelengths above 8 are scaled, below 2 kept,
        // between smoothed (inv_freq 1, 0.045, i.e. wavelengths 6.3 and 140 at theta 500, head_dim 4)
        ModelConfig.RopeScaling s = new ModelConfig.RopeScaling(4.0, 1.0, 4.0, 8);
        int[] a = {1, 14, 3, 22, 7, 9, 0, 5, 12, 2, 8, 8, 17};
        float[] got = run(llamaConfig(s), Batch.of(a));
        assertRows(llamaReference(a, s), got, 0, V);
        // and the scaling matters here
        double[][] unscaled = llamaReference(a, null);
        double diff = 0;
        for (int v = 0; v < V; v++) {
            diff = Math.max(diff, Math.abs(unscaled[a.length - 1][v] - got[(a.length - 1) * V + v]));
        }
        assertTrue(diff > 1e-3, "rope scaling changed nothing: " + diff);
    }
}
