package org.zotune.backend.cpu;

import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The plain-Java reference backend: readable loops, double accumulation, results rounded to the
 * compute dtype (so bf16 compute is emulated by rounding each op's output). It is the oracle for the
 * CUDA kernels and runs tiny models for real. Large row loops run in parallel; each output element is
 * computed by one thread in a fixed order, so results do not depend on the thread count.
 */
public final class CpuOps implements Ops {
    private final DType computeType;

    public CpuOps(DType computeType) {
        this.computeType = computeType;
    }

    /** A float32 reference backend. */
    public CpuOps() {
        this(DType.F32);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public DType computeType() {
        return computeType;
    }

    /**
     * The live flat float array behind parameters made by a CPU backend (θ for the CPU ZO engine, which updates
     * every parameter in one pass); view i starts at {@link Parameters#offset}(i).
     */
    public static float[] flatValues(Parameters parameters) {
        if (!(parameters instanceof CpuParameters p)) {
            throw new IllegalArgumentException("not CPU parameters: " + parameters.getClass().getSimpleName());
        }
        return p.flat();
    }

    @Override
    public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
        return new CpuParameters(tensors, dtype);
    }

    @Override
    public Scope scope() {
        return () -> { };
    }

    @Override
    public IntTensor ints(int[] values) {
        return new CpuInts(values.clone());
    }

    /** Wraps host floats as an activation (rounded to the compute dtype). */
    public Tensor tensor(float[] values, int rows, int cols) {
        if (values.length != rows * cols) {
            throw new IllegalArgumentException(values.length + " values for [" + rows + ", " + cols + "]");
        }
        CpuTensor t = new CpuTensor(rows, cols, computeType);
        for (int i = 0; i < values.length; i++) {
            t.data[i] = round(values[i]);
        }
        return t;
    }

    @Override
    public Tensor embedding(IntTensor ids, Tensor table) {
        int[] idx = ints(ids);
        CpuTensor tab = cpu(table);
        CpuTensor out = new CpuTensor(idx.length, tab.cols(), computeType);
        for (int r = 0; r < idx.length; r++) {
            int id = idx[r];
            if (id < 0 || id >= tab.rows()) {
                throw new IndexOutOfBoundsException("index " + id + " outside the table of " + tab.rows() + " rows");
            }
            for (int c = 0; c < tab.cols(); c++) {
                out.data[r * tab.cols() + c] = round(tab.get(id, c));
            }
        }
        return out;
    }

    @Override
    public void addInPlace(Tensor x, Tensor y) {
        CpuTensor a = cpu(x);
        CpuTensor b = cpu(y);
        sameShape(a, b, "addInPlace");
        int n = a.rows() * a.cols();
        for (int i = 0; i < n; i++) {
            a.data[a.offset + i] = round(a.data[a.offset + i] + b.data[b.offset + i]);
        }
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        CpuTensor a = cpu(dst);
        CpuTensor b = cpu(src);
        sameShape(a, b, "copy");
        System.arraycopy(b.data, b.offset, a.data, a.offset, a.rows() * a.cols());
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s) {
        CpuTensor base = cpu(w);
        return loraWeightInto(base, b, at, s, new CpuTensor(base.rows(), base.cols(), computeType));
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot) {
        CpuTensor base = cpu(w);
        CpuTensor into = cpu(slot);
        long n = (long) base.rows() * base.cols();
        if (into.dtype() != computeType || (long) into.rows() * into.cols() < n) {
            throw new IllegalArgumentException("loraWeight: the slot is " + into.rows() + "x" + into.cols() + " "
                    + into.dtype() + ", W' needs " + n + " elements of " + computeType);
        }
        return loraWeightInto(base, b, at, s, new CpuTensor(into.data, into.offset, base.rows(), base.cols(),
                computeType));
    }

    @Override
    public void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y) {
        CpuTensor xs = cpu(x);
        CpuTensor a = cpu(at);
        CpuTensor bt = cpu(b);
        CpuTensor ys = cpu(y);
        int n = xs.rows();
        int in = xs.cols();
        int out = ys.cols();
        int r = a.cols();
        if (a.rows() != in || bt.rows() != out || bt.cols() != r || ys.rows() != n) {
            throw new IllegalArgumentException("loraDelta: x is " + n + "x" + in + ", Aᵀ " + a.rows() + "x" + r
                    + ", B " + bt.rows() + "x" + bt.cols() + ", y " + ys.rows() + "x" + out
                    + " (expected Aᵀ [in, r], B [out, r], y [n, out])");
        }
        if (bt.dtype() != DType.F32 || a.dtype() != DType.F32) {
            throw new IllegalArgumentException("loraDelta: B and Aᵀ must be float32, got " + bt.dtype() + " and "
                    + a.dtype());
        }
        float[] sb = new float[out * r];
        for (int k = 0; k < sb.length; k++) {
            sb[k] = (float) ((double) bt.data[bt.offset + k] * s); // fl(s·B), as loraWeight forms it
        }
        IntStream.range(0, n).parallel().forEach(row -> {
            float[] t = new float[r];
            for (int j = 0; j < r; j++) {
                double acc = 0;
                for (int i = 0; i < in; i++) {
                    acc += (double) xs.data[xs.offset + row * in + i] * a.data[a.offset + i * r + j];
                }
                t[j] = (float) acc; // x·Aᵀ in float32
            }
            for (int o = 0; o < out; o++) {
                double d = 0;
                for (int j = 0; j < r; j++) {
                    d += (double) sb[o * r + j] * t[j];
                }
                int k = ys.offset + row * out + o;
                ys.data[k] = round(ys.data[k] + (float) d);
            }
        });
    }

    private CpuTensor loraWeightInto(CpuTensor base, Tensor b, Tensor at, float s, CpuTensor res) {
        CpuTensor bt = cpu(b);
        CpuTensor a = cpu(at);
        int out = base.rows();
        int in = base.cols();
        int r = bt.cols();
        if (bt.rows() != out || a.rows() != in || a.cols() != r) {
            throw new IllegalArgumentException("loraWeight: W is " + out + "x" + in + ", B " + bt.rows() + "x" + r
                    + ", Aᵀ " + a.rows() + "x" + a.cols() + " (expected B [out, r], Aᵀ [in, r])");
        }
        if (bt.dtype() != DType.F32 || a.dtype() != DType.F32) {
            throw new IllegalArgumentException("loraWeight: B and Aᵀ must be float32, got " + bt.dtype() + " and "
                    + a.dtype());
        }
        IntStream.range(0, out).parallel().forEach(o -> {
            float[] sb = new float[r];
            for (int j = 0; j < r; j++) {
                sb[j] = (float) ((double) bt.data[bt.offset + o * r + j] * s); // fl(s·B): one exact product, rounded
            }
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int j = 0; j < r; j++) {
                    acc += (double) sb[j] * a.data[a.offset + i * r + j];
                }
                // float32 sum, then the compute type: as scale, product and add were three float32 ops before
                res.data[res.offset + o * in + i] = round(base.data[base.offset + o * in + i] + (float) acc);
            }
        });
        return res;
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        CpuTensor a = cpu(x);
        CpuTensor wt = cpu(w);
        CpuTensor b = bias == null ? null : cpu(bias);
        int n = a.rows();
        int in = a.cols();
        int outDim = wt.rows();
        if (wt.cols() != in) {
            throw new IllegalArgumentException("linear: x has " + in + " features, weight is [" + outDim + ", "
                    + wt.cols() + "]");
        }
        if (b != null && b.rows() * b.cols() != outDim) {
            throw new IllegalArgumentException("linear: bias has " + b.rows() * b.cols() + " values, expected " + outDim);
        }
        CpuTensor out = new CpuTensor(n, outDim, computeType);
        float[] xd = a.data;
        float[] wd = wt.data;
        // two rows by four outputs at a time: eight independent sums (a single one waits on each add's latency) and
        // each weight load used twice; every sum still runs over k in order, so the result is bitwise the plain
        // loop's (the tails below)
        IntStream.range(0, (n + 1) / 2).parallel().forEach(pair -> {
            int r0 = 2 * pair;
            int r1 = r0 + 1;
            int x0 = a.offset + r0 * in;
            int o = 0;
            if (r1 < n) {
                int x1 = x0 + in;
                for (; o + 4 <= outDim; o += 4) {
                    int w0 = wt.offset + o * in;
                    int w1 = w0 + in;
                    int w2 = w1 + in;
                    int w3 = w2 + in;
                    double a00 = 0;
                    double a01 = 0;
                    double a02 = 0;
                    double a03 = 0;
                    double a10 = 0;
                    double a11 = 0;
                    double a12 = 0;
                    double a13 = 0;
                    for (int k = 0; k < in; k++) {
                        double u = xd[x0 + k];
                        double v = xd[x1 + k];
                        double c0 = wd[w0 + k];
                        double c1 = wd[w1 + k];
                        double c2 = wd[w2 + k];
                        double c3 = wd[w3 + k];
                        a00 += u * c0;
                        a01 += u * c1;
                        a02 += u * c2;
                        a03 += u * c3;
                        a10 += v * c0;
                        a11 += v * c1;
                        a12 += v * c2;
                        a13 += v * c3;
                    }
                    out.data[r0 * outDim + o] = linearOut(a00, b, o);
                    out.data[r0 * outDim + o + 1] = linearOut(a01, b, o + 1);
                    out.data[r0 * outDim + o + 2] = linearOut(a02, b, o + 2);
                    out.data[r0 * outDim + o + 3] = linearOut(a03, b, o + 3);
                    out.data[r1 * outDim + o] = linearOut(a10, b, o);
                    out.data[r1 * outDim + o + 1] = linearOut(a11, b, o + 1);
                    out.data[r1 * outDim + o + 2] = linearOut(a12, b, o + 2);
                    out.data[r1 * outDim + o + 3] = linearOut(a13, b, o + 3);
                }
            }
            for (int r = r0; r <= Math.min(r1, n - 1); r++) {
                int xo = a.offset + r * in;
                for (int t = o; t < outDim; t++) {
                    int wo = wt.offset + t * in;
                    double acc = 0;
                    for (int k = 0; k < in; k++) {
                        acc += (double) xd[xo + k] * wd[wo + k];
                    }
                    out.data[r * outDim + t] = linearOut(acc, b, t);
                }
            }
        });
        return out;
    }

    /** One output of {@link #linear}: the sum, plus the bias, rounded to the compute type. */
    private float linearOut(double acc, CpuTensor b, int o) {
        if (b != null) {
            acc += b.data[b.offset + o];
        }
        return round((float) acc);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        CpuTensor a = cpu(x);
        CpuTensor w = cpu(weight);
        CpuTensor b = bias == null ? null : cpu(bias);
        int cols = a.cols();
        CpuTensor out = new CpuTensor(a.rows(), cols, computeType);
        for (int r = 0; r < a.rows(); r++) {
            int o = a.offset + r * cols;
            double mean = 0;
            for (int c = 0; c < cols; c++) {
                mean += a.data[o + c];
            }
            mean /= cols;
            double var = 0;
            for (int c = 0; c < cols; c++) {
                double d = a.data[o + c] - mean;
                var += d * d;
            }
            var /= cols;
            double inv = 1.0 / Math.sqrt(var + eps);
            for (int c = 0; c < cols; c++) {
                double v = (a.data[o + c] - mean) * inv * w.data[w.offset + c];
                if (b != null) {
                    v += b.data[b.offset + c];
                }
                out.data[r * cols + c] = round((float) v);
            }
        }
        return out;
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        CpuTensor a = cpu(x);
        CpuTensor w = cpu(weight);
        int cols = a.cols();
        CpuTensor out = new CpuTensor(a.rows(), cols, computeType);
        for (int r = 0; r < a.rows(); r++) {
            int o = a.offset + r * cols;
            double ss = 0;
            for (int c = 0; c < cols; c++) {
                ss += (double) a.data[o + c] * a.data[o + c];
            }
            double inv = 1.0 / Math.sqrt(ss / cols + eps);
            for (int c = 0; c < cols; c++) {
                out.data[r * cols + c] = round((float) (a.data[o + c] * inv * w.data[w.offset + c]));
            }
        }
        return out;
    }

    @Override
    public void geluTanhInPlace(Tensor x) {
        CpuTensor a = cpu(x);
        int n = a.rows() * a.cols();
        double k = Math.sqrt(2.0 / Math.PI);
        for (int i = 0; i < n; i++) {
            double v = a.data[a.offset + i];
            a.data[a.offset + i] = round((float) (0.5 * v * (1.0 + Math.tanh(k * (v + 0.044715 * v * v * v)))));
        }
    }

    @Override
    public void geluErfInPlace(Tensor x) {
        CpuTensor a = cpu(x);
        int n = a.rows() * a.cols();
        for (int i = 0; i < n; i++) {
            double v = a.data[a.offset + i];
            a.data[a.offset + i] = round((float) (0.5 * v * (1.0 + Erf.erf(v / Math.sqrt(2.0)))));
        }
    }

    @Override
    public void tanhInPlace(Tensor x) {
        CpuTensor a = cpu(x);
        int n = a.rows() * a.cols();
        for (int i = 0; i < n; i++) {
            a.data[a.offset + i] = round((float) Math.tanh(a.data[a.offset + i]));
        }
    }

    @Override
    public void reluInPlace(Tensor x) {
        CpuTensor a = cpu(x);
        int n = a.rows() * a.cols();
        for (int i = 0; i < n; i++) {
            a.data[a.offset + i] = Math.max(a.data[a.offset + i], 0f);
        }
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        CpuTensor g = cpu(gate);
        CpuTensor u = cpu(up);
        sameShape(g, u, "siluMul");
        CpuTensor out = new CpuTensor(g.rows(), g.cols(), computeType);
        int n = g.rows() * g.cols();
        for (int i = 0; i < n; i++) {
            double v = g.data[g.offset + i];
            out.data[i] = round((float) (v / (1.0 + Math.exp(-v)) * u.data[u.offset + i]));
        }
        return out;
    }

    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec s) {
        return attentionPacked(qkv, bias, mask, positions, s, null);
    }

    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec s,
                                  KvPrefix prefix) {
        CpuTensor p = cpu(qkv);
        if (bias != null) {
            CpuTensor b = cpu(bias);
            if (b.rows() * b.cols() != p.cols()) {
                throw new IllegalArgumentException("attentionPacked: bias has " + b.rows() * b.cols() + " values for "
                        + p.cols() + " columns");
            }
            CpuTensor biased = new CpuTensor(p.rows(), p.cols(), p.dtype());
            for (int r = 0; r < p.rows(); r++) {
                for (int c = 0; c < p.cols(); c++) {
                    biased.data[r * p.cols() + c] = round(p.get(r, c) + b.data[b.offset + c]);
                }
            }
            p = biased;
        }
        int qw = s.numHeads() * s.headDim();
        int kw = s.numKvHeads() * s.headDim();
        if (p.rows() != s.batch() * s.seq() || p.cols() != qw + 2 * kw) {
            throw new IllegalArgumentException("attentionPacked: qkv [" + p.rows() + ", " + p.cols() + "] does not match "
                    + s + " (expected [B·T, (H + 2·Hkv)·D])");
        }
        return attention(columns(p, 0, qw), columns(p, qw, qw + kw), columns(p, qw + kw, qw + 2 * kw), mask,
                positions, s, prefix);
    }

    private static CpuTensor columns(CpuTensor t, int from, int to) {
        CpuTensor out = new CpuTensor(t.rows(), to - from, t.dtype());
        for (int r = 0; r < t.rows(); r++) {
            System.arraycopy(t.data, t.offset + r * t.cols() + from, out.data, r * (to - from), to - from);
        }
        return out;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec s) {
        return attention(q, k, v, mask, positions, s, null);
    }

    /**
     * The prefix's keys come first in every query's score row, then the sequence's own keys, so the sums run in the
     * order a key cache [prefix | tokens] would give them; without a prefix the loops are the plain attention's.
     */
    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec s,
                            KvPrefix prefix) {
        int bsz = s.batch();
        int seq = s.seq();
        int h = s.numHeads();
        int hkv = s.numKvHeads();
        int d = s.headDim();
        CpuTensor qt = cpu(q);
        CpuTensor kt = cpu(k);
        CpuTensor vt = cpu(v);
        if (qt.rows() != bsz * seq || qt.cols() != h * d || kt.cols() != hkv * d || vt.cols() != hkv * d
                || h % hkv != 0) {
            throw new IllegalArgumentException("attention: shapes q[" + qt.rows() + ", " + qt.cols() + "] k["
                    + kt.rows() + ", " + kt.cols() + "] do not match " + s);
        }
        int[] m = ints(mask);
        int[] pos = ints(positions);
        float[] qr = copy(qt);
        float[] kr = copy(kt);
        if (s.rope()) {
            float[] invFreq = ropeInverseFrequencies(d, s.ropeTheta(), s.ropeScaling());
            applyRope(qr, bsz * seq, h, d, pos, invFreq);
            applyRope(kr, bsz * seq, hkv, d, pos, invFreq);
            // rotated q/k are activations of the compute dtype too
            for (int i = 0; i < qr.length; i++) {
                qr[i] = round(qr[i]);
            }
            for (int i = 0; i < kr.length; i++) {
                kr[i] = round(kr[i]);
            }
        }
        float[] vr = copy(vt);
        int np = prefix == null ? 0 : prefix.length();
        float[] pk = null;
        float[] pv = null;
        if (np > 0) {
            CpuTensor pkt = cpu(prefix.keys());
            CpuTensor pvt = cpu(prefix.values());
            if (pkt.cols() != hkv * d) {
                throw new IllegalArgumentException("attention: prefix [" + np + ", " + pkt.cols() + "] does not match "
                        + s + " (expected [p, Hkv·D])");
            }
            pk = copy(pkt);
            pv = copy(pvt);
        }
        int[] visible = prefixVisible(prefix, pos, s);
        int stride = prefix == null ? 0 : prefix.stride();
        float[] prefixKeys = pk;
        float[] prefixValues = pv;
        CpuTensor out = new CpuTensor(bsz * seq, h * d, computeType);
        int group = h / hkv;
        IntStream.range(0, bsz * h).parallel().forEach(bh -> {
            int b = bh / h;
            int head = bh % h;
            int kvHead = head / group;
            double[] scores = new double[seq];
            double[] prefixScores = new double[np];
            int pb = visible[b]; // the prefix rows this sequence's queries see
            int po = b * stride * hkv * d; // its block (0 when shared)
            for (int i = 0; i < seq; i++) {
                int qo = (b * seq + i) * h * d + head * d;
                int last = s.causal() ? i : seq - 1; // the last key query i may see
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < pb; j++) {
                    int ko = po + j * hkv * d + kvHead * d;
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) qr[qo + c] * prefixKeys[ko + c];
                    }
                    prefixScores[j] = dot * s.scale();
                    max = Math.max(max, prefixScores[j]);
                }
                for (int j = 0; j <= last; j++) {
                    if (m[b * seq + j] == 0) {
                        scores[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    int ko = (b * seq + j) * hkv * d + kvHead * d;
                    double dot = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) qr[qo + c] * kr[ko + c];
                    }
                    scores[j] = dot * s.scale();
                    max = Math.max(max, scores[j]);
                }
                int oo = (b * seq + i) * h * d + head * d;
                if (max == Double.NEGATIVE_INFINITY) {
                    continue; // no visible key: zeros
                }
                double sum = 0;
                for (int j = 0; j < pb; j++) {
                    prefixScores[j] = Math.exp(prefixScores[j] - max);
                    sum += prefixScores[j];
                }
                for (int j = 0; j <= last; j++) {
                    scores[j] = scores[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int c = 0; c < d; c++) {
                    double acc = 0;
                    for (int j = 0; j < pb; j++) {
                        acc += prefixScores[j] * prefixValues[po + j * hkv * d + kvHead * d + c];
                    }
                    for (int j = 0; j <= last; j++) {
                        if (scores[j] != 0) {
                            acc += scores[j] * vr[(b * seq + j) * hkv * d + kvHead * d + c];
                        }
                    }
                    out.data[oo + c] = round((float) (acc / sum));
                }
            }
        });
        return out;
    }

    /**
     * The prefix rows each sequence's queries see: all p when shared; per sequence, min(p, fixedRows + the position
     * of its first token) (KvPrefix's rule).
     */
    private static int[] prefixVisible(KvPrefix prefix, int[] pos, AttentionSpec s) {
        int[] visible = new int[s.batch()];
        if (prefix == null) {
            return visible;
        }
        if (!prefix.perSequence()) {
            Arrays.fill(visible, prefix.length());
            return visible;
        }
        if (prefix.sequences() != s.batch() || pos == null || pos.length != s.batch() * s.seq()) {
            throw new IllegalArgumentException("attention: a per-sequence prefix of " + prefix.sequences()
                    + " sequences needs " + s.batch() + " of them and " + s.batch() * s.seq() + " positions");
        }
        for (int b = 0; b < s.batch(); b++) {
            visible[b] = Math.min(prefix.length(), prefix.fixedRows() + Math.max(pos[b * s.seq()], 0));
        }
        return visible;
    }

    /**
     * The per-sequence store: token t of sequence b goes to row b·stride + fixedRows + positions[b·T] + t (the rows a
     * per-sequence {@link KvPrefix} reads back), formed as {@link #storeRows} forms them.
     */
    @Override
    public void storeKeysValues(Tensor k, int kCol, Tensor v, int vCol, Tensor bias, IntTensor positions,
                                AttentionSpec s, Tensor keys, Tensor values, int stride, int fixedRows) {
        int[] pos = ints(positions);
        int n = s.batch() * s.seq();
        CpuTensor ko = cpu(keys);
        if (pos == null || pos.length != n || stride <= 0 || fixedRows < 0 || ko.rows() != s.batch() * stride) {
            throw new IllegalArgumentException("storeKeysValues: " + s.batch() + " sequences of stride " + stride
                    + " (fixed rows " + fixedRows + ") into " + ko.rows() + " rows with "
                    + (pos == null ? 0 : pos.length) + " positions do not match " + s);
        }
        for (int b = 0; b < s.batch(); b++) {
            int row = fixedRows + Math.max(pos[b * s.seq()], 0);
            if (row + s.seq() > stride) {
                throw new IllegalArgumentException("storeKeysValues: sequence " + b + " at row " + row + " + "
                        + s.seq() + " tokens overruns its " + stride + " rows");
            }
        }
        // one sequence at a time through storeRows: the same rounding, rotation at the tokens' own positions
        AttentionSpec one = new AttentionSpec(1, s.seq(), s.numHeads(), s.numKvHeads(), s.headDim(), s.scale(),
                s.ropeTheta(), s.ropeScaling(), s.causal());
        CpuTensor kt = cpu(k);
        CpuTensor vt = cpu(v);
        for (int b = 0; b < s.batch(); b++) {
            int from = b * s.seq();
            storeRows(rows(kt, from, from + s.seq()), kCol, rows(vt, from, from + s.seq()), vCol, bias,
                    new CpuInts(Arrays.copyOfRange(pos, from, from + s.seq())), one, keys, values,
                    b * stride + fixedRows + Math.max(pos[from], 0));
        }
    }

    /**
     * The cache's rows as {@link #attentionPacked} and {@link #attention} form them: the bias added and rounded first,
     * keys rotated over the whole row and rounded only under RoPE (as attention's {@code kr}), values as they are;
     * one sequence's tokens into rows [row, row + T).
     */
    private void storeRows(Tensor k, int kCol, Tensor v, int vCol, Tensor bias, IntTensor positions,
                           AttentionSpec s, Tensor keys, Tensor values, int row) {
        CpuTensor kt = cpu(k);
        CpuTensor vt = cpu(v);
        CpuTensor ko = cpu(keys);
        CpuTensor vo = cpu(values);
        int n = s.batch() * s.seq();
        int w = s.numKvHeads() * s.headDim();
        if (kt.rows() != n || vt.rows() != n || kCol < 0 || kCol + w > kt.cols() || vCol < 0
                || vCol + w > vt.cols() || ko.cols() != w || vo.cols() != w || ko.rows() != vo.rows()
                || row < 0 || row + n > ko.rows()) {
            throw new IllegalArgumentException("storeKeysValues: k [" + kt.rows() + ", " + kt.cols() + "] from column "
                    + kCol + ", v [" + vt.rows() + ", " + vt.cols() + "] from column " + vCol + " into rows [" + row
                    + ", " + (row + n) + ") of [" + ko.rows() + ", " + ko.cols() + "] do not match " + s);
        }
        CpuTensor b = bias == null ? null : cpu(bias);
        float[] kr = new float[n * w];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < w; c++) {
                float kv = kt.get(r, kCol + c);
                float vv = vt.get(r, vCol + c);
                if (b != null) {
                    kv = round(kv + b.data[b.offset + kCol + c]);
                    vv = round(vv + b.data[b.offset + vCol + c]);
                }
                kr[r * w + c] = kv;
                vo.data[vo.offset + (row + r) * w + c] = vv;
            }
        }
        if (s.rope()) {
            applyRope(kr, n, s.numKvHeads(), s.headDim(), ints(positions),
                    ropeInverseFrequencies(s.headDim(), s.ropeTheta(), s.ropeScaling()));
            for (int i = 0; i < kr.length; i++) {
                kr[i] = round(kr[i]);
            }
        }
        System.arraycopy(kr, 0, ko.data, ko.offset + row * w, n * w);
    }

    /**
     * RoPE inverse frequencies as Hugging Face computes them (float32), with Llama-3 scaling when given:
     * low frequencies divided by {@code factor}, high ones kept, the band between interpolated smoothly.
     */
    public static float[] ropeInverseFrequencies(int headDim, double theta, ModelConfig.RopeScaling scaling) {
        int half = headDim / 2;
        float[] inv = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            float base = (float) Math.pow((float) theta, exponent);
            inv[i] = 1.0f / base;
        }
        if (scaling != null) {
            double lowWavelen = scaling.originalMaxPositions() / scaling.lowFreqFactor();
            double highWavelen = scaling.originalMaxPositions() / scaling.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                double f = inv[i];
                if (wavelen > lowWavelen) {
                    f = inv[i] / scaling.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (scaling.originalMaxPositions() / wavelen - scaling.lowFreqFactor())
                            / (scaling.highFreqFactor() - scaling.lowFreqFactor());
                    f = (1 - smooth) * inv[i] / scaling.factor() + smooth * inv[i];
                }
                inv[i] = (float) f;
            }
        }
        return inv;
    }

    /**
     * Rotate-half RoPE in place on {@code rows} rows of {@code heads}·D features at {@code positions}, as
     * {@link #attention} rotates q and k under {@code spec} (float32, not rounded to a compute type); nothing when the
     * spec has no RoPE. Prefix tuning uses it to hold its initial keys after rotary.
     */
    public static void rope(float[] x, int rows, int heads, int[] positions, AttentionSpec spec) {
        if (spec.rope()) {
            applyRope(x, rows, heads, spec.headDim(), positions,
                    ropeInverseFrequencies(spec.headDim(), spec.ropeTheta(), spec.ropeScaling()));
        }
    }

    /** Rotate-half RoPE in place on rows of {@code heads}·d features; angle = float32(pos · invFreq). */
    private static void applyRope(float[] x, int rows, int heads, int d, int[] pos, float[] invFreq) {
        int half = d / 2;
        for (int r = 0; r < rows; r++) {
            int p = Math.max(pos[r], 0);
            for (int hh = 0; hh < heads; hh++) {
                int o = r * heads * d + hh * d;
                for (int i = 0; i < half; i++) {
                    float angle = p * invFreq[i];
                    double cos = (float) Math.cos(angle);
                    double sin = (float) Math.sin(angle);
                    double a = x[o + i];
                    double b = x[o + i + half];
                    x[o + i] = (float) (a * cos - b * sin);
                    x[o + i + half] = (float) (b * cos + a * sin);
                }
            }
        }
    }

    @Override
    public Tensor crossEntropy(Tensor logits, IntTensor targets) {
        CpuTensor l = cpu(logits);
        int[] t = ints(targets);
        if (t.length != l.rows()) {
            throw new IllegalArgumentException("crossEntropy: " + t.length + " targets for " + l.rows() + " rows");
        }
        int vocab = l.cols();
        double sum = 0;
        int count = 0;
        for (int r = 0; r < l.rows(); r++) {
            if (t[r] < 0) {
                continue;
            }
            if (t[r] >= vocab) {
                throw new IndexOutOfBoundsException("target " + t[r] + " outside the vocabulary of " + vocab);
            }
            int o = l.offset + r * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < vocab; c++) {
                max = Math.max(max, l.data[o + c]);
            }
            double z = 0;
            for (int c = 0; c < vocab; c++) {
                z += Math.exp(l.data[o + c] - max);
            }
            sum += Math.log(z) + max - l.data[o + t[r]];
            count++;
        }
        return new CpuTensor(new float[] {(float) sum, count}, 0, 1, 2, DType.F32);
    }

    @Override
    public float[] toHost(Tensor t) {
        return copy(cpu(t));
    }

    @Override
    public Tensor rows(Tensor t, int from, int to) {
        CpuTensor a = cpu(t);
        if (from < 0 || to > a.rows() || from > to) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + to + ") of " + a.rows());
        }
        return new CpuTensor(a.data, a.offset + from * a.cols(), to - from, a.cols(), a.dtype());
    }

    @Override
    public void close() {
        // nothing to release
    }

    private float round(float v) {
        return computeType.round(v);
    }

    private static float[] copy(CpuTensor t) {
        float[] out = new float[t.rows() * t.cols()];
        System.arraycopy(t.data, t.offset, out, 0, out.length);
        return out;
    }

    private static void sameShape(CpuTensor a, CpuTensor b, String op) {
        if (a.rows() != b.rows() || a.cols() != b.cols()) {
            throw new IllegalArgumentException(op + ": shapes [" + a.rows() + ", " + a.cols() + "] and ["
                    + b.rows() + ", " + b.cols() + "] differ");
        }
    }

    private static CpuTensor cpu(Tensor t) {
        if (!(t instanceof CpuTensor)) {
            throw new IllegalArgumentException("not a CPU tensor: " + t);
        }
        return (CpuTensor) t;
    }

    private static int[] ints(IntTensor t) {
        if (!(t instanceof CpuInts)) {
            throw new IllegalArgumentException("not a CPU int tensor: " + t);
        }
        return ((CpuInts) t).values;
    }

    private record CpuInts(int[] values) implements IntTensor {
        @Override
        public int length() {
            return values.length;
        }
    }
}
