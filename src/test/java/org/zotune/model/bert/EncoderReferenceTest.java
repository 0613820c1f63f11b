package org.zotune.model.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.Checkpoint;
import org.zotune.model.EncoderModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.io.HfConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Tiny random BertForMaskedLM and RobertaForMaskedLM on the CPU against a naive double-precision definition written
 * here from the Hugging Face modelling code (embeddings + LayerNorm, post-norm blocks, exact GELU from an
 * independent erf approximation, bidirectional attention over real keys, the MLM head with the tied decoder), on a
 * right-padded batch with token types; every real position's logits within 1e-4 (abs + rel).
 */
class EncoderReferenceTest {
    private static final int V = 17;
    private static final int H = 8;
    private static final int HEADS = 2;
    private static final int LAYERS = 2;
    private static final int INNER = 12;
    private static final int MAX_POS = 12;
    private static final double EPS = 1e-12;

    private final Map<String, HostTensor> tensors = new HashMap<>();
    private final Map<String, double[]> values = new HashMap<>();
    private final Random random = new Random(7);

    private static String config(String arch, String type, int pad) {
        return "{\"architectures\": [\"" + arch + "\"], \"model_type\": \"" + type + "\", \"vocab_size\": " + V
                + ", \"hidden_size\": " + H + ", \"num_hidden_layers\": " + LAYERS + ", \"num_attention_heads\": "
                + HEADS + ", \"intermediate_size\": " + INNER + ", \"hidden_act\": \"gelu\", "
                + "\"max_position_embeddings\": " + MAX_POS + ", \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, "
                + "\"pad_token_id\": " + pad + "}";
    }

    private void put(String name, int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        double[] v = new double[n];
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        boolean norm = name.contains("LayerNorm.weight") || name.contains("layer_norm.weight");
        for (int i = 0; i < n; i++) {
            float f = (float) ((norm ? 1.0 : 0.0) + random.nextGaussian() * (norm ? 0.1 : 0.5));
            v[i] = f;
            b.putFloat(f);
        }
        b.flip();
        long[] ls = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            ls[i] = shape[i];
        }
        tensors.put(name, new HostTensor(name, DType.F32, ls, b));
        values.put(name, v);
    }

    private void weights(String body, boolean roberta) {
        put(body + "embeddings.word_embeddings.weight", V, H);
        put(body + "embeddings.position_embeddings.weight", MAX_POS, H);
        put(body + "embeddings.token_type_embeddings.weight", 2, H);
        put(body + "embeddings.LayerNorm.weight", H);
        put(body + "embeddings.LayerNorm.bias", H);
        for (int l = 0; l < LAYERS; l++) {
            String p = body + "encoder.layer." + l + ".";
            for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense"}) {
                put(p + m + ".weight", H, H);
                put(p + m + ".bias", H);
            }
            put(p + "attention.output.LayerNorm.weight", H);
            put(p + "attention.output.LayerNorm.bias", H);
            put(p + "intermediate.dense.weight", INNER, H);
            put(p + "intermediate.dense.bias", INNER);
            put(p + "output.dense.weight", H, INNER);
            put(p + "output.dense.bias", H);
            put(p + "output.LayerNorm.weight", H);
            put(p + "output.LayerNorm.bias", H);
        }
        String head = roberta ? "lm_head." : "cls.predictions.transform.";
        put(head + "dense.weight", H, H);
        put(head + "dense.bias", H);
        put(head + (roberta ? "layer_norm" : "LayerNorm") + ".weight", H);
        put(head + (roberta ? "layer_norm" : "LayerNorm") + ".bias", H);
        put((roberta ? "lm_head." : "cls.predictions.") + "bias", V);
    }

    private double[] t(String name) {
        return values.get(name);
    }

    /** Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): independent of the code under test. */
    private static double erf(double x) {
        double s = Math.signum(x);
        double a = Math.abs(x);
        double k = 1 / (1 + 0.3275911 * a);
        double y = 1 - (((((1.061405429 * k - 1.453152027) * k) + 1.421413741) * k - 0.284496736) * k
                + 0.254829592) * k * Math.exp(-a * a);
        return s * y;
    }

    private static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    private static double[] linear(double[] x, double[] w, double[] b, int in, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double s = b == null ? 0 : b[o];
            for (int i = 0; i < in; i++) {
                s += x[i] * w[o * in + i];
            }
            y[o] = s;
        }
        return y;
    }

    private static double[] layerNorm(double[] x, double[] w, double[] b) {
        double mean = 0;
        for (double v : x) {
            mean += v / x.length;
        }
        double var = 0;
        for (double v : x) {
            var += (v - mean) * (v - mean) / x.length;
        }
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = (x[i] - mean) / Math.sqrt(var + EPS) * w[i] + b[i];
        }
        return y;
    }

    private static double[] add(double[] a, double[] b) {
        double[] y = a.clone();
        for (int i = 0; i < y.length; i++) {
            y[i] += b[i];
        }
        return y;
    }

    /** One sequence (its real tokens only: padded keys are invisible) → MLM logits per position. */
    private double[][] reference(String body, boolean roberta, int[] ids, int[] types, int pad) {
        int n = ids.length;
        int d = H / HEADS;
        double[][] x = new double[n][];
        for (int p = 0; p < n; p++) {
            int pos = roberta ? pad + 1 + p : p;
            double[] e = new double[H];
            for (int c = 0; c < H; c++) {
                e[c] = t(body + "embeddings.word_embeddings.weight")[ids[p] * H + c]
                        + t(body + "embeddings.token_type_embeddings.weight")[types[p] * H + c]
                        + t(body + "embeddings.position_embeddings.weight")[pos * H + c];
            }
            x[p] = layerNorm(e, t(body + "embeddings.LayerNorm.weight"), t(body + "embeddings.LayerNorm.bias"));
        }
        for (int l = 0; l < LAYERS; l++) {
            String pre = body + "encoder.layer." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int p = 0; p < n; p++) {
                q[p] = linear(x[p], t(pre + "attention.self.query.weight"), t(pre + "attention.self.query.bias"), H, H);
                k[p] = linear(x[p], t(pre + "attention.self.key.weight"), t(pre + "attention.self.key.bias"), H, H);
                v[p] = linear(x[p], t(pre + "attention.self.value.weight"), t(pre + "attention.self.value.bias"), H, H);
            }
            double[][] next = new double[n][];
            for (int p = 0; p < n; p++) {
                double[] ctx = new double[H];
                for (int h = 0; h < HEADS; h++) {
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        for (int c = 0; c < d; c++) {
                            s[j] += q[p][h * d + c] * k[j][h * d + c] / Math.sqrt(d);
                        }
                        max = Math.max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < n; j++) {
                        s[j] = Math.exp(s[j] - max);
                        z += s[j];
                    }
                    for (int j = 0; j < n; j++) {
                        for (int c = 0; c < d; c++) {
                            ctx[h * d + c] += s[j] / z * v[j][h * d + c];
                        }
                    }
                }
                double[] a = linear(ctx, t(pre + "attention.output.dense.weight"),
                        t(pre + "attention.output.dense.bias"), H, H);
                double[] m = layerNorm(add(x[p], a), t(pre + "attention.output.LayerNorm.weight"),
                        t(pre + "attention.output.LayerNorm.bias"));
                double[] f = linear(m, t(pre + "intermediate.dense.weight"), t(pre + "intermediate.dense.bias"),
                        H, INNER);
                for (int i = 0; i < INNER; i++) {
                    f[i] = gelu(f[i]);
                }
                double[] o = linear(f, t(pre + "output.dense.weight"), t(pre + "output.dense.bias"), INNER, H);
                next[p] = layerNorm(add(m, o), t(pre + "output.LayerNorm.weight"), t(pre + "output.LayerNorm.bias"));
            }
            x = next;
        }
        String head = roberta ? "lm_head." : "cls.predictions.transform.";
        String norm = head + (roberta ? "layer_norm" : "LayerNorm");
        double[][] logits = new double[n][];
        for (int p = 0; p < n; p++) {
            double[] tr = linear(x[p], t(head + "dense.weight"), t(head + "dense.bias"), H, H);
            for (int i = 0; i < H; i++) {
                tr[i] = gelu(tr[i]);
            }
            tr = layerNorm(tr, t(norm + ".weight"), t(norm + ".bias"));
            logits[p] = linear(tr, t(body + "embeddings.word_embeddings.weight"),
                    t((roberta ? "lm_head." : "cls.predictions.") + "bias"), H, V);
        }
        return logits;
    }

    private void check(String arch, String type, String body, boolean roberta, int pad) {
        weights(body, roberta);
        ModelConfig c = HfConfig.parse(Path.of("config.json"), config(arch, type, pad));
        EncoderModel m = (EncoderModel) Architectures.createModel(c);
        assertTrue(m.hasMlmHead());
        int[] a = {3, 14, 5, 11, 7, 9, 2};
        int[] ta = {0, 0, 0, 1, 1, 1, 1};
        int[] b = {5, 16, 8};
        int[] tb = {0, 1, 1};
        Batch batch = Batch.rightPadded(new int[][] {a, b}, pad);
        int[] types = new int[batch.tokens()];
        System.arraycopy(ta, 0, types, 0, a.length);
        System.arraycopy(tb, 0, types, batch.seq(), b.length);
        float[] got;
        float[] atRows;
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(
                Architectures.arrange(m, new Checkpoint(Path.of("tiny"), c, tensors)), DType.F32)) {
            var hidden = m.hiddenStates(ops, p, batch, types);
            got = ops.toHost(m.mlmLogits(ops, p, hidden, rowsOf(batch.tokens())));
            atRows = ops.toHost(m.mlmLogits(ops, p, hidden, new int[] {batch.seq() + 2, 1}));
            // bad token types are refused in one line
            int[] bad = types.clone();
            bad[4] = 2;
            String msg = assertThrows(ZotuneException.class, () -> m.hiddenStates(ops, p, batch, bad)).getMessage();
            assertEquals("token type id 2 (sequence 0, position 4) is out of range for type_vocab_size 2", msg);
        }
        double[][] ra = reference(body, roberta, a, ta, pad);
        double[][] rb = reference(body, roberta, b, tb, pad);
        assertRows(ra, got, 0);
        assertRows(rb, got, batch.seq());
        assertRows(new double[][] {rb[2], ra[1]}, atRows, 0);
    }

    private static int[] rowsOf(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }

    private static void assertRows(double[][] want, float[] got, int row0) {
        double maxAbs = 0;
        for (int p = 0; p < want.length; p++) {
            for (int v = 0; v < V; v++) {
                double w = want[p][v];
                double g = got[(row0 + p) * V + v];
                maxAbs = Math.max(maxAbs, Math.abs(w));
                assertTrue(Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w),
                        "row " + (row0 + p) + " token " + v + ": " + g + " vs reference " + w);
            }
        }
        assertTrue(maxAbs > 0.5, "logits not trivially small");
    }

    @Test
    void bertForMaskedLmMatchesTheNaiveDefinition() {
        check("BertForMaskedLM", "bert", "bert.", false, 0);
    }

    @Test
    void robertaForMaskedLmMatchesTheNaiveDefinitionWithPositionsAfterPaddingIdx() {
        check("RobertaForMaskedLM", "roberta", "roberta.", true, 1);
    }
}
