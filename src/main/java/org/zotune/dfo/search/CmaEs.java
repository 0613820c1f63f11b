package org.zotune.dfo.search;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.Arrays;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;
import org.zotune.ZotuneException;
import org.zotune.zo.noise.Philox4x32;

/**
 * CMA-ES, the (μ/μ_w, λ) covariance matrix adaptation evolution strategy (ALGORITHMS.md §7), with the default
 * parameters of Hansen's tutorial ("The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, Table 1, positive
 * recombination weights only: no active update), no restarts and no bounds.
 *
 * <ul>
 *   <li>μ = ⌊λ/2⌋, w_i ∝ ln((λ+1)/2) − ln i (i = 1..μ, summing to 1), μ_eff = 1/Σw_i²;</li>
 *   <li>c_σ = (μ_eff+2)/(n+μ_eff+5), d_σ = 1 + 2·max(0, √((μ_eff−1)/(n+1)) − 1) + c_σ;</li>
 *   <li>c_c = (4+μ_eff/n)/(n+4+2μ_eff/n), c_1 = 2/((n+1.3)²+μ_eff),
 *       c_μ = min(1−c_1, 2(μ_eff−2+1/μ_eff)/((n+2)²+μ_eff));</li>
 *   <li>h_σ = 1 when ‖p_σ‖/√(1−(1−c_σ)^{2(g+1)}) &lt; (1.4 + 2/(n+1))·E‖N(0,I)‖, with
 *       E‖N(0,I)‖ ≈ √n(1 − 1/(4n) + 1/(21n²)); c_m = 1.</li>
 * </ul>
 * Full covariance: C is decomposed as B·diag(D²)·Bᵀ (EJML's symmetric QR algorithm) lazily, as Hansen's
 * reference code does: after a tell, when the evaluations since the last decomposition exceed
 * λ/((c_1+c_μ)·n·10); in between, sampling and C^{-1/2} use the last B and D. Separable (sep-CMA-ES, Ros and
 * Hansen, PPSN 2008): C is diagonal, D = √diag(C) after every tell, and both learning rates are multiplied by
 * (n+2)/3 (c_1 capped at 1, c_μ at 1−c_1), so one generation costs O(λ·n) instead of O(λ·n²).
 *
 * <h2>Randomness</h2>
 * z_{g,k,i} ~ N(0,1) for generation g (tells before this ask), member k and coordinate i comes from one Philox4x32-10
 * call per coordinate pair p = ⌊i/2⌋: counter (p, k, g, {@link #PHILOX_DOMAIN}), key (lo32(seed), hi32(seed));
 * with the words (w0, w1, w2, w3), u1 = ((w1·2³² + w0) ≫ 11 + 1)·2⁻⁵³ ∈ (0, 1], u2 = ((w3·2³² + w2) ≫ 11)·2⁻⁵³ ∈ [0, 1),
 * r = √(−2 ln u1), z_{2p} = r·cos(2πu2), z_{2p+1} = r·sin(2πu2) (Box–Muller in double, {@link StrictMath} so every
 * JVM gives the same bits). The counter's last word keeps these draws apart from zotune's noise streams (last word 0)
 * and step seeds (1) under the same seed. The candidates of a generation are therefore a pure function of
 * (seed, g, state): a restored optimiser needs no generator object and asks exactly what the saved one would have.
 */
public final class CmaEs implements AskTell {
    /** The fourth Philox counter word of every CMA-ES draw ("CMA1"). */
    public static final int PHILOX_DOMAIN = 0x434D4131;
    static final int STATE_MAGIC = 0x434D4553; // "CMES"
    static final int STATE_VERSION = 1;

    private final int n;
    private final int lambda;
    private final int mu;
    private final boolean separable;
    private final long seed;
    private final double[] weights;
    private final double muEff;
    private final double cSigma;
    private final double dSigma;
    private final double cC;
    private final double c1;
    private final double cMu;
    private final double chiN;
    /** Generations between two decompositions of C, in evaluations (Hansen's λ/((c_1+c_μ)·n·10)). */
    private final double eigenGap;

    private long generation;
    private double sigma;
    private final double[] mean;
    private final double[] pSigma;
    private final double[] pC;
    /** Full: C row-major n×n; separable: its diagonal. */
    private final double[] c;
    /** Full: the eigenvectors of C as columns, row-major n×n; separable: unused (null). */
    private final double[] b;
    /** √ of C's eigenvalues (separable: √ of its diagonal). */
    private final double[] d;
    private long eigenEvaluations;
    private final double[] best;
    private double bestValue = Double.POSITIVE_INFINITY;

    // The last ask's samples (y = B·D·z, x = m + σ·y), regenerated on demand after a restore.
    private double[][] y;
    private double[][] x;
    private boolean sampled;

    private CmaEs(int n, int lambda, double sigma0, boolean separable, long seed, double[] start) {
        this.n = n;
        this.lambda = lambda;
        this.separable = separable;
        this.seed = seed;
        this.mu = lambda / 2;
        double[] w = new double[mu];
        double sum = 0;
        for (int i = 0; i < mu; i++) {
            w[i] = Math.log((lambda + 1) / 2.0) - Math.log(i + 1);
            sum += w[i];
        }
        double sq = 0;
        for (int i = 0; i < mu; i++) {
            w[i] /= sum;
            sq += w[i] * w[i];
        }
        this.weights = w;
        this.muEff = 1.0 / sq;
        this.cSigma = (muEff + 2) / (n + muEff + 5);
        this.dSigma = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cSigma;
        this.cC = (4 + muEff / n) / (n + 4 + 2 * muEff / n);
        double c1Full = 2 / ((n + 1.3) * (n + 1.3) + muEff);
        double cMuFull = Math.min(1 - c1Full, 2 * (muEff - 2 + 1 / muEff) / ((n + 2.0) * (n + 2.0) + muEff));
        if (separable) {
            double scale = (n + 2) / 3.0;
            this.c1 = Math.min(1, c1Full * scale);
            this.cMu = Math.min(1 - c1, cMuFull * scale);
        } else {
            this.c1 = c1Full;
            this.cMu = cMuFull;
        }
        this.chiN = Math.sqrt(n) * (1 - 1.0 / (4 * n) + 1.0 / (21.0 * n * n));
        this.eigenGap = lambda / ((c1 + cMu) * n * 10);

        this.sigma = sigma0;
        this.mean = start.clone();
        this.pSigma = new double[n];
        this.pC = new double[n];
        this.d = new double[n];
        Arrays.fill(d, 1);
        if (separable) {
            this.c = new double[n];
            Arrays.fill(c, 1);
            this.b = null;
        } else {
            this.c = new double[n * n];
            this.b = new double[n * n];
            for (int i = 0; i < n; i++) {
                c[i * n + i] = 1;
                b[i * n + i] = 1;
            }
        }
        this.best = start.clone();
    }

    /** CMA-ES from the origin. */
    public static CmaEs create(int dimension, int population, double sigma0, boolean separable, long seed) {
        check(dimension, population, sigma0);
        checkSize(dimension, population, separable);
        return new CmaEs(dimension, population, sigma0, separable, seed, new double[dimension]);
    }

    /** CMA-ES from {@code start} (copied; its length is the dimension). */
    public static CmaEs create(int dimension, int population, double sigma0, boolean separable, long seed,
            double[] start) {
        check(dimension, population, sigma0);
        checkSize(dimension, population, separable);
        if (start == null || start.length != dimension) {
            throw new ZotuneException("CMA-ES: start has " + (start == null ? "no" : start.length)
                    + " values, expected the dimension " + dimension);
        }
        for (int i = 0; i < dimension; i++) {
            if (!Double.isFinite(start[i])) {
                throw new ZotuneException("CMA-ES: start[" + i + "] is " + start[i] + ", must be finite");
            }
        }
        return new CmaEs(dimension, population, sigma0, separable, seed, start);
    }

    /**
     * Refuses sizes that cannot be allocated, in one line before any allocation: a full covariance of n² entries
     * beyond a Java array, and state (C and B, the λ samples twice, the weights) beyond the JVM's heap.
     */
    private static void checkSize(int n, int lambda, boolean separable) {
        long square = (long) n * n;
        if (!separable && square > Integer.MAX_VALUE - 8) {
            throw new ZotuneException("CMA-ES: a full covariance of dimension " + n + " has " + square
                    + " entries, beyond one array; use covariance separable or a smaller subspace");
        }
        long bytes = 8 * ((separable ? 0 : 2 * square) + 2L * lambda * n + lambda + 8L * n);
        long heap = Runtime.getRuntime().maxMemory();
        if (bytes > heap) {
            throw new ZotuneException("CMA-ES: dimension " + n + ", population " + lambda + (separable ? "" : ", full "
                    + "covariance") + " need at least " + (bytes >> 20) + " MiB, more than the JVM's " + (heap >> 20)
                    + " MiB heap; use a smaller population or subspace" + (separable ? "" : " or covariance separable"));
        }
    }

    private static void check(int dimension, int population, double sigma0) {
        if (dimension < 1) {
            throw new ZotuneException("CMA-ES: dimension must be >= 1, got " + dimension);
        }
        if (population < 2) {
            throw new ZotuneException("CMA-ES: population must be >= 2, got " + population);
        }
        if (!(sigma0 > 0) || Double.isInfinite(sigma0)) {
            throw new ZotuneException("CMA-ES: sigma0 must be a finite number > 0, got " + sigma0);
        }
    }

    @Override
    public int dimension() {
        return n;
    }

    @Override
    public int populationSize() {
        return lambda;
    }

    @Override
    public long generation() {
        return generation;
    }

    /** Whether C is diagonal (sep-CMA-ES). */
    public boolean separable() {
        return separable;
    }

    /** The current step size σ. */
    public double sigma() {
        return sigma;
    }

    /** The current mean (a copy). */
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[][] ask() {
        ensureSampled();
        double[][] out = new double[lambda][];
        for (int k = 0; k < lambda; k++) {
            out[k] = x[k].clone();
        }
        return out;
    }

    private void ensureSampled() {
        if (sampled) {
            return;
        }
        if (generation >= (1L << 32)) {
            throw new IllegalStateException("CMA-ES: more than 2^32 generations");
        }
        if (y == null) {
            y = new double[lambda][n];
            x = new double[lambda][n];
        }
        double[] z = new double[n];
        for (int k = 0; k < lambda; k++) {
            normals(seed, generation, k, z);
            double[] yk = y[k];
            if (separable) {
                for (int i = 0; i < n; i++) {
                    yk[i] = d[i] * z[i];
                }
            } else {
                for (int j = 0; j < n; j++) {
                    z[j] *= d[j];
                }
                for (int i = 0; i < n; i++) {
                    double s = 0;
                    int row = i * n;
                    for (int j = 0; j < n; j++) {
                        s += b[row + j] * z[j];
                    }
                    yk[i] = s;
                }
            }
            for (int i = 0; i < n; i++) {
                x[k][i] = mean[i] + sigma * yk[i];
            }
        }
        sampled = true;
    }

    /** The standard normals z_{g,k,·} of member k in generation g (see the class comment), into {@code out}. */
    static void normals(long seed, long generation, int member, double[] out) {
        int[] w = new int[4];
        int k0 = (int) seed;
        int k1 = (int) (seed >>> 32);
        for (int p = 0; 2 * p < out.length; p++) {
            Philox4x32.generate(p, member, (int) generation, PHILOX_DOMAIN, k0, k1, w);
            long a = (w[0] & 0xffffffffL) | ((long) w[1] << 32);
            long bits = (w[2] & 0xffffffffL) | ((long) w[3] << 32);
            double u1 = ((a >>> 11) + 1) * 0x1p-53;
            double u2 = (bits >>> 11) * 0x1p-53;
            double r = StrictMath.sqrt(-2 * StrictMath.log(u1));
            double angle = 2 * Math.PI * u2;
            out[2 * p] = r * StrictMath.cos(angle);
            if (2 * p + 1 < out.length) {
                out[2 * p + 1] = r * StrictMath.sin(angle);
            }
        }
    }

    @Override
    public void tell(double[] values) {
        if (values == null || values.length != lambda) {
            throw new ZotuneException("CMA-ES tell: expected " + lambda + " values (the population), got "
                    + (values == null ? "none" : values.length));
        }
        ensureSampled();
        Integer[] order = new Integer[lambda];
        for (int k = 0; k < lambda; k++) {
            order[k] = k;
        }
        // stable sort, NaN last (counts as +inf; ties keep the ask order)
        Arrays.sort(order, (p, q) -> Double.compare(key(values[p]), key(values[q])));
        for (int k = 0; k < lambda; k++) {
            if (values[k] < bestValue) {
                bestValue = values[k];
                System.arraycopy(x[k], 0, best, 0, n);
            }
        }

        double[] yw = new double[n];
        for (int r = 0; r < mu; r++) {
            double[] yr = y[order[r]];
            double wr = weights[r];
            for (int i = 0; i < n; i++) {
                yw[i] += wr * yr[i];
            }
        }
        for (int i = 0; i < n; i++) {
            mean[i] += sigma * yw[i];
        }

        // p_σ with C^{-1/2}·y_w = B·D⁻¹·Bᵀ·y_w (separable: y_w / D)
        double[] cInvSqrtYw = new double[n];
        if (separable) {
            for (int i = 0; i < n; i++) {
                cInvSqrtYw[i] = yw[i] / d[i];
            }
        } else {
            double[] t = new double[n];
            for (int i = 0; i < n; i++) {
                double yi = yw[i];
                int row = i * n;
                for (int j = 0; j < n; j++) {
                    t[j] += b[row + j] * yi; // t = Bᵀ·y_w
                }
            }
            for (int j = 0; j < n; j++) {
                t[j] /= d[j];
            }
            for (int i = 0; i < n; i++) {
                double s = 0;
                int row = i * n;
                for (int j = 0; j < n; j++) {
                    s += b[row + j] * t[j];
                }
                cInvSqrtYw[i] = s;
            }
        }
        double sigmaGain = Math.sqrt(cSigma * (2 - cSigma) * muEff);
        double psNormSq = 0;
        for (int i = 0; i < n; i++) {
            pSigma[i] = (1 - cSigma) * pSigma[i] + sigmaGain * cInvSqrtYw[i];
            psNormSq += pSigma[i] * pSigma[i];
        }
        double psNorm = Math.sqrt(psNormSq);
        double hSigma = psNorm / Math.sqrt(1 - Math.pow(1 - cSigma, 2.0 * (generation + 1)))
                < (1.4 + 2.0 / (n + 1)) * chiN ? 1 : 0;
        double cGain = hSigma * Math.sqrt(cC * (2 - cC) * muEff);
        for (int i = 0; i < n; i++) {
            pC[i] = (1 - cC) * pC[i] + cGain * yw[i];
        }

        // C ← (1 − c_1 − c_μ + (1−h_σ)c_1c_c(2−c_c))·C + c_1·p_c·p_cᵀ + c_μ·Σ w_r·y_r·y_rᵀ  (Σw = 1)
        double keep = 1 - c1 - cMu + (1 - hSigma) * c1 * cC * (2 - cC);
        if (separable) {
            for (int i = 0; i < n; i++) {
                double rankMu = 0;
                for (int r = 0; r < mu; r++) {
                    double v = y[order[r]][i];
                    rankMu += weights[r] * v * v;
                }
                c[i] = keep * c[i] + c1 * pC[i] * pC[i] + cMu * rankMu;
            }
        } else {
            double[][] sel = new double[mu][];
            for (int r = 0; r < mu; r++) {
                sel[r] = y[order[r]];
            }
            for (int i = 0; i < n; i++) {
                int row = i * n;
                for (int j = i; j < n; j++) {
                    double rankMu = 0;
                    for (int r = 0; r < mu; r++) {
                        rankMu += weights[r] * sel[r][i] * sel[r][j];
                    }
                    double v = keep * c[row + j] + c1 * pC[i] * pC[j] + cMu * rankMu;
                    c[row + j] = v;
                    c[j * n + i] = v; // C stays exactly symmetric
                }
            }
        }

        sigma *= Math.exp((cSigma / dSigma) * (psNorm / chiN - 1));
        generation++;
        sampled = false;

        if (separable) {
            for (int i = 0; i < n; i++) {
                d[i] = Math.sqrt(c[i]);
            }
        } else if (generation * (double) lambda - eigenEvaluations > eigenGap) {
            eigenEvaluations = generation * lambda;
            decompose();
        }
    }

    private static double key(double v) {
        return Double.isNaN(v) ? Double.POSITIVE_INFINITY : v;
    }

    /** B and D from the current C. */
    private void decompose() {
        DMatrixRMaj m = new DMatrixRMaj(n, n);
        System.arraycopy(c, 0, m.data, 0, n * n);
        EigenDecomposition_F64<DMatrixRMaj> eig = DecompositionFactory_DDRM.eig(n, true, true);
        if (!eig.decompose(m)) {
            throw new IllegalStateException("CMA-ES: the eigendecomposition of C failed in generation " + generation);
        }
        for (int j = 0; j < n; j++) {
            double ev = eig.getEigenvalue(j).getReal();
            // C is positive definite in exact arithmetic; a rounding-level negative eigenvalue must not give NaN
            d[j] = Math.sqrt(Math.max(ev, Double.MIN_NORMAL));
            DMatrixRMaj v = eig.getEigenVector(j);
            for (int i = 0; i < n; i++) {
                b[i * n + j] = v.data[i];
            }
        }
    }

    @Override
    public double[] best() {
        return best.clone();
    }

    @Override
    public double bestValue() {
        return bestValue;
    }

    // Package-private views for the tests' reference comparison.
    double[] pathSigma() {
        return pSigma.clone();
    }

    double[] pathC() {
        return pC.clone();
    }

    /** Full: C row-major; separable: its diagonal. */
    double[] covariance() {
        return c.clone();
    }

    long eigenEvaluations() {
        return eigenEvaluations;
    }

    /**
     * Layout (big-endian, {@link DataOutput}): magic "CMES", version 1, n, λ, separable, seed, generation,
     * σ, mean[n], p_σ[n], p_c[n], C (n² or n), B (n², full only), D[n], evaluations at the last decomposition,
     * best value, best[n]. Doubles are written as their bits, so a restore is exact.
     */
    @Override
    public void writeState(DataOutput out) throws IOException {
        out.writeInt(STATE_MAGIC);
        out.writeInt(STATE_VERSION);
        out.writeInt(n);
        out.writeInt(lambda);
        out.writeBoolean(separable);
        out.writeLong(seed);
        out.writeLong(generation);
        out.writeDouble(sigma);
        writeAll(out, mean);
        writeAll(out, pSigma);
        writeAll(out, pC);
        writeAll(out, c);
        if (!separable) {
            writeAll(out, b);
        }
        writeAll(out, d);
        out.writeLong(eigenEvaluations);
        out.writeDouble(bestValue);
        writeAll(out, best);
    }

    @Override
    public void readState(DataInput in) throws IOException {
        int magic = in.readInt();
        if (magic != STATE_MAGIC) {
            throw new ZotuneException("CMA-ES state: not a CMA-ES state (magic 0x" + Integer.toHexString(magic) + ")");
        }
        int version = in.readInt();
        if (version != STATE_VERSION) {
            throw new ZotuneException("CMA-ES state: version " + version + " is not supported (expected "
                    + STATE_VERSION + ")");
        }
        expect("dimension", in.readInt(), n);
        expect("population", in.readInt(), lambda);
        boolean sep = in.readBoolean();
        if (sep != separable) {
            throw new ZotuneException("CMA-ES state: covariance is " + (sep ? "separable" : "full")
                    + " in the state but " + (separable ? "separable" : "full") + " here");
        }
        long s = in.readLong();
        if (s != seed) {
            throw new ZotuneException("CMA-ES state: seed " + s + " in the state but " + seed + " here");
        }
        long g = in.readLong();
        double sg = in.readDouble();
        // read everything before touching the live state, so a truncated file leaves this optimiser as it was
        double[] m = readAll(in, n);
        double[] ps = readAll(in, n);
        double[] pc = readAll(in, n);
        double[] cc = readAll(in, c.length);
        double[] bb = separable ? null : readAll(in, b.length);
        double[] dd = readAll(in, n);
        long eig = in.readLong();
        double bv = in.readDouble();
        double[] bx = readAll(in, n);
        // a hand-edited or corrupt state must not turn every later candidate into NaN
        if (g < 0 || eig < 0 || eig > g * (double) lambda) {
            throw new ZotuneException("CMA-ES state: generation " + g + " with eigendecomposition at " + eig
                    + " evaluations (corrupt)");
        }
        if (!Double.isFinite(sg) || sg <= 0) {
            throw new ZotuneException("CMA-ES state: sigma " + sg + " is not a finite step size > 0 (corrupt)");
        }
        finite("mean", m);
        finite("p_sigma", ps);
        finite("p_c", pc);
        finite("C", cc);
        finite("B", bb);
        finite("best point", bx);
        for (double v : dd) {
            if (!(v > 0) || !Double.isFinite(v)) {
                throw new ZotuneException("CMA-ES state: a square-rooted eigenvalue is " + v + ", not finite and > 0 "
                        + "(corrupt)");
            }
        }
        if (Double.isNaN(bv)) {
            throw new ZotuneException("CMA-ES state: the best value is NaN (corrupt)");
        }
        generation = g;
        sigma = sg;
        System.arraycopy(m, 0, mean, 0, n);
        System.arraycopy(ps, 0, pSigma, 0, n);
        System.arraycopy(pc, 0, pC, 0, n);
        System.arraycopy(cc, 0, c, 0, c.length);
        if (!separable) {
            System.arraycopy(bb, 0, b, 0, b.length);
        }
        System.arraycopy(dd, 0, d, 0, n);
        eigenEvaluations = eig;
        bestValue = bv;
        System.arraycopy(bx, 0, best, 0, n);
        sampled = false;
    }

    private static void finite(String what, double[] a) throws ZotuneException {
        if (a == null) {
            return;
        }
        for (double v : a) {
            if (!Double.isFinite(v)) {
                throw new ZotuneException("CMA-ES state: " + what + " holds the non-finite value " + v + " (corrupt)");
            }
        }
    }

    private static void expect(String what, int got, int want) {
        if (got != want) {
            throw new ZotuneException("CMA-ES state: " + what + " " + got + " in the state but " + want + " here");
        }
    }

    private static void writeAll(DataOutput out, double[] a) throws IOException {
        for (double v : a) {
            out.writeDouble(v);
        }
    }

    private static double[] readAll(DataInput in, int len) throws IOException {
        double[] a = new double[len];
        for (int i = 0; i < len; i++) {
            a[i] = in.readDouble();
        }
        return a;
    }
}
