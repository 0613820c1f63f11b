package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.DType;

/**
 * The llama2.c → HF q/k row permutation, checked end to end: a random tiny llama2.c model (GQA, untied
 * classifier) run by a direct transcription of llama2.c's forward pass (interleaved RoPE pairs (2i, 2i+1),
 * written here in plain double arithmetic on the file's raw tensors) must give the logits of ModelLoader +
 * the Llama architecture (rotate-half RoPE on the permuted weights) on the CPU backend.
 */
class Llama2cForwardTest {
    @TempDir
    Path tmp;

    static final int DIM = 16;
    static final int HIDDEN = 24;
    static final int LAYERS = 2;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int VOCAB = 20;
    static final int SEQ_LEN = 12;
    static final int HS = DIM / HEADS;
    static final int KV_DIM = KV_HEADS * HS;

    /** Raw llama2.c tensors, [out][in] row-major as run.c reads them. */
    static final class Raw {
        float[] emb;
        float[][] attNorm = new float[LAYERS][];
        float[][] wq = new float[LAYERS][];
        float[][] wk = new float[LAYERS][];
        float[][] wv = new float[LAYERS][];
        float[][] wo = new float[LAYERS][];
        float[][] ffnNorm = new float[LAYERS][];
        float[][] w1 = new float[LAYERS][];
        float[][] w2 = new float[LAYERS][];
        float[][] w3 = new float[LAYERS][];
        float[] finalNorm;
        float[] cls;
    }

    private static float[] gauss(SplittableRandom r, int n, double scale, double mean) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller; only needs to be random-looking
            double u = 1 - r.nextDouble();
            double v = r.nextDouble();
            a[i] = (float) (mean + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
        }
        return a;
    }

    static Raw randomModel(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Raw m = new Raw();
        m.emb = gauss(r, VOCAB * DIM, 1.0, 0);
        for (int l = 0; l < LAYERS; l++) {
            m.attNorm[l] = gauss(r, DIM, 0.2, 1);
            m.wq[l] = gauss(r, DIM * DIM, 0.5, 0);
            m.wk[l] = gauss(r, KV_DIM * DIM, 0.5, 0);
            m.wv[l] = gauss(r, KV_DIM * DIM, 0.3, 0);
            m.wo[l] = gauss(r, DIM * DIM, 0.3, 0);
            m.ffnNorm[l] = gauss(r, DIM, 0.2, 1);
            m.w1[l] = gauss(r, HIDDEN * DIM, 0.3, 0);
            m.w2[l] = gauss(r, DIM * HIDDEN, 0.3, 0);
            m.w3[l] = gauss(r, HIDDEN * DIM, 0.3, 0);
        }
        m.finalNorm = gauss(r, DIM, 0.2, 1);
        m.cls = gauss(r, VOCAB * DIM, 0.5, 0);
        return m;
    }

    static Path write(Raw m, Path file) throws IOException {
        int floats = VOCAB * DIM * 2 + LAYERS * (2 * DIM + 2 * DIM * DIM + 2 * KV_DIM * DIM + 3 * HIDDEN * DIM)
                + DIM + SEQ_LEN * HS;
        ByteBuffer b = ByteBuffer.allocate(28 + 4 * floats).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(DIM).putInt(HIDDEN).putInt(LAYERS).putInt(HEADS).putInt(KV_HEADS).putInt(-VOCAB).putInt(SEQ_LEN);
        put(b, m.emb);
        for (float[][] t : new float[][][] {m.attNorm, m.wq, m.wk, m.wv, m.wo, m.ffnNorm, m.w1, m.w2, m.w3}) {
            for (float[] layer : t) {
                put(b, layer);
            }
        }
        put(b, m.finalNorm);
        for (int i = 0; i < SEQ_LEN * HS; i++) {
            b.putFloat(Float.NaN); // the RoPE tables must be ignored
        }
        put(b, m.cls);
        Files.write(file, b.array());
        return file;
    }

    private static void put(ByteBuffer b, float[] a) {
        for (float f : a) {
            b.putFloat(f);
        }
    }

    private static double[] matvec(float[] w, double[] x, int out, int in) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            double acc = 0;
            for (int i = 0; i < in; i++) {
                acc += w[o * in + i] * x[i];
            }
            y[o] = acc;
        }
        return y;
    }

    private static double[] rmsnorm(double[] x, float[] w) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double inv = 1 / Math.sqrt(ss / x.length + 1e-5);
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            o[i] = w[i] * x[i] * inv;
        }
        return o;
    }

    /** llama2.c's forward for the whole sequence; logits[t][v]. */
    static double[][] reference(Raw m, int[] tokens) {
        int n = tokens.length;
        double[][][] keys = new double[LAYERS][n][];
        double[][][] values = new double[LAYERS][n][];
        double[][] logits = new double[n][];
        for (int pos = 0; pos < n; pos++) {
            double[] x = new double[DIM];
            for (int i = 0; i < DIM; i++) {
                x[i] = m.emb[tokens[pos] * DIM + i];
            }
            for (int l = 0; l < LAYERS; l++) {
                double[] xb = rmsnorm(x, m.attNorm[l]);
                double[] q = matvec(m.wq[l], xb, DIM, DIM);
                double[] k = matvec(m.wk[l], xb, KV_DIM, DIM);
                double[] v = matvec(m.wv[l], xb, KV_DIM, DIM);
                // interleaved RoPE: element pairs (i, i+1), frequency from i within the head
                for (int i = 0; i < DIM; i += 2) {
                    int hd = i % HS;
                    double freq = 1.0 / Math.pow(10000.0, hd / (double) HS);
                    double c = Math.cos(pos * freq);
                    double s = Math.sin(pos * freq);
                    double q0 = q[i];
                    double q1 = q[i + 1];
                    q[i] = q0 * c - q1 * s;
                    q[i + 1] = q0 * s + q1 * c;
                    if (i < KV_DIM) {
                        double k0 = k[i];
                        double k1 = k[i + 1];
                        k[i] = k0 * c - k1 * s;
                        k[i + 1] = k0 * s + k1 * c;
                    }
                }
                keys[l][pos] = k;
                values[l][pos] = v;
                double[] att = new double[DIM];
                for (int h = 0; h < HEADS; h++) {
                    int kvh = h / (HEADS / KV_HEADS);
                    double[] sc = new double[pos + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t <= pos; t++) {
                        double dot = 0;
                        for (int i = 0; i < HS; i++) {
                            dot += q[h * HS + i] * keys[l][t][kvh * HS + i];
                        }
                        sc[t] = dot / Math.sqrt(HS);
                        max = Math.max(max, sc[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t <= pos; t++) {
                        sc[t] = Math.exp(sc[t] - max);
                        sum += sc[t];
                    }
                    for (int t = 0; t <= pos; t++) {
                        for (int i = 0; i < HS; i++) {
                            att[h * HS + i] += sc[t] / sum * values[l][t][kvh * HS + i];
                        }
                    }
                }
                double[] o = matvec(m.wo[l], att, DIM, DIM);
                for (int i = 0; i < DIM; i++) {
                    x[i] += o[i];
                }
                xb = rmsnorm(x, m.ffnNorm[l]);
                double[] h1 = matvec(m.w1[l], xb, HIDDEN, DIM);
                double[] h3 = matvec(m.w3[l], xb, HIDDEN, DIM);
                for (int i = 0; i < HIDDEN; i++) {
                    h1[i] = h1[i] / (1 + Math.exp(-h1[i])) * h3[i];
                }
                double[] f = matvec(m.w2[l], h1, DIM, HIDDEN);
                for (int i = 0; i < DIM; i++) {
                    x[i] += f[i];
                }
            }
            logits[pos] = matvec(m.cls, rmsnorm(x, m.finalNorm), VOCAB, DIM);
        }
        return logits;
    }

    @Test
    void rotateHalfForwardOnPermutedWeightsMatchesInterleavedReference() throws IOException {
        Raw raw = randomModel(20261123L);
        Path bin = write(raw, tmp.resolve("tiny.bin"));
        int[] tokens = {1, 7, 3, 19, 0, 12, 7, 5, 9, 2, 11};
        double[][] want = reference(raw, tokens);

        LoadedModel m = ModelLoader.load(bin);
        float[] got;
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            got = ops.toHost(m.model().forward(ops, p, Batch.of(tokens)));
        }
        assertEquals(tokens.length * VOCAB, got.length);
        double maxErr = 0;
        double maxAbs = 0;
        for (int t = 0; t < tokens.length; t++) {
            for (int v = 0; v < VOCAB; v++) {
                double w = want[t][v];
                double g = got[t * VOCAB + v];
                maxAbs = Math.max(maxAbs, Math.abs(w));
                maxErr = Math.max(maxErr, Math.abs(g - w));
                assertTrue(Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w),
                        "position " + t + " token " + v + ": " + g + " vs reference " + w);
            }
        }
        assertTrue(maxAbs > 1, "logits are not trivially small: " + maxAbs);
        System.out.printf("llama2.c interleaved reference vs zotune: max |diff| %.3g over logits up to %.3g%n",
                maxErr, maxAbs);
    }
}
