package org.zotune.dfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.dfo.AttentionTargets.Projection;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.Philox4x32;

/**
 * DFO-LoRA's per-layer subspaces (ALGORITHMS.md §7): layer l's point z_l ∈ R^D is four blocks of d = D/4, mapped by
 * fixed random linear maps P_{l,j} (j = 0..3: A_Q, B_Q, A_K, B_K) to the LoRA factors of the layer's query and key
 * projections, A [r, in] and B [out, r] (row-major), W' = W + B·A with no α/r scaling; z_l = 0 gives zero factors.
 *
 * <p>Map P_{l,j} is an [elements, d] matrix whose element (e, c) is drawn from Philox at index e·d + c of stream 0
 * under the seed {@link #mapSeed}(run seed, l, j), so the maps are regenerated from the run seed, never stored. The A
 * maps are N(0, s_l²): float32(s_l·g) with g {@link Noise#gaussian}; the B maps are PyTorch's default Linear(d, ·)
 * weight, uniform ±1/√d without a bias: float32((2u − 1)/√d) with u {@link Noise#uniform} of the element's word.
 * A factor is Σ_c P[e][c]·z[c], accumulated in double and rounded once to float32.
 */
public final class Subspace {
    /** Map blocks in z's order. */
    public static final int A_Q = 0;
    public static final int B_Q = 1;
    public static final int A_K = 2;
    public static final int B_K = 3;

    /**
     * One layer's factors (row-major float32).
     *
     * @param aQ [r, in] of the query projection
     * @param bQ [outQ, r]
     * @param aK [r, in] of the key projection
     * @param bK [outK, r]
     */
    public record Factors(int rank, float[] aQ, float[] bQ, float[] aK, float[] bK) {
    }

    /**
     * One low-rank update on one matrix's output: B [rows, rank]·A [rank, in] added to the output of
     * {@code target.weight()}.
     *
     * @param target the projection (for a packed q|k|v, the query's, whose matrix holds both)
     * @param rows   the matrix's output width (B's rows)
     */
    public record Pair(Projection target, int rank, int in, int rows, float[] a, float[] b) {
    }

    private final AttentionTargets targets;
    private final int dimension;
    private final int rank;
    private final long runSeed;
    private final double[] aScales;
    // the maps of the last layer used (a whole model's maps can be hundreds of MB; a generation uses one layer's)
    private int cachedLayer = -1;
    private float[][] cachedMaps;
    // per layer, the last point asked for and its factors (the layers not being searched keep their point)
    private final double[][] lastPoint;
    private final Factors[] lastFactors;

    private Subspace(AttentionTargets targets, int dimension, int rank, long runSeed, double[] aScales) {
        this.targets = targets;
        this.dimension = dimension;
        this.rank = rank;
        this.runSeed = runSeed;
        this.aScales = aScales.clone();
        this.lastPoint = new double[targets.layers()][];
        this.lastFactors = new Factors[targets.layers()];
    }

    /**
     * @param dimension D, a positive multiple of 4
     * @param rank      r, between 1 and the smallest projection width
     * @param aScales   per layer, the A maps' standard deviation s_l ({@link #aScale})
     */
    public static Subspace of(AttentionTargets targets, int dimension, int rank, long runSeed, double[] aScales) {
        if (dimension <= 0 || dimension % 4 != 0) {
            throw new ZotuneException("key 'dfo.subspace' must be a positive multiple of 4 (four blocks: A_Q, B_Q, "
                    + "A_K, B_K), got " + dimension);
        }
        int widest = Integer.MAX_VALUE;
        for (int l = 0; l < targets.layers(); l++) {
            widest = Math.min(widest, Math.min(Math.min(targets.q().get(l).in(), targets.q().get(l).out()),
                    targets.k().get(l).out()));
        }
        if (rank < 1 || rank > widest) {
            throw new ZotuneException("key 'dfo.rank' must be between 1 and the projections' size " + widest
                    + ", got " + rank);
        }
        if (aScales.length != targets.layers()) {
            throw new IllegalArgumentException(aScales.length + " A-map scales for " + targets.layers() + " layers");
        }
        for (double s : aScales) {
            if (!Double.isFinite(s) || s < 0) {
                throw new IllegalArgumentException("A-map scale " + s);
            }
        }
        return new Subspace(targets, dimension, rank, runSeed, aScales);
    }

    /**
     * A run's subspace over every layer's query and key projections of {@code model}, its A maps scaled from the model's
     * own statistics: s_l = {@link #aScale}(σ̂_l, α, D, σ0) with σ̂ from {@link HiddenStatistics#sigmaHat} on the first
     * training batch.
     *
     * @param embedding the word-embedding table's values ({@link HiddenStatistics#wordEmbedding})
     */
    public static Subspace forModel(Ops ops, LanguageModel model, WeightSource weights, float[] embedding,
            Batch firstBatch, int dimension, int rank, long runSeed, double alpha, double sigma0) {
        if (!(sigma0 > 0) || Double.isInfinite(sigma0)) {
            throw new ZotuneException("key 'dfo.sigma0' must be a finite number > 0, got " + sigma0);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new ZotuneException("key 'dfo.alpha' must be a finite number > 0, got " + alpha);
        }
        AttentionTargets targets = AttentionTargets.of(model);
        of(targets, dimension, rank, runSeed, new double[targets.layers()]); // D and r refused before the forward
        double[] sigma = HiddenStatistics.sigmaHat(ops, model, weights, embedding, firstBatch);
        double[] scales = new double[sigma.length];
        for (int l = 0; l < sigma.length; l++) {
            scales[l] = aScale(sigma[l], alpha, dimension, sigma0);
        }
        return of(targets, dimension, rank, runSeed, scales);
    }

    /** s_l = α·σ̂_l / (√D·σ0): the A maps' standard deviation for hidden-state deviation σ̂_l. */
    public static double aScale(double sigmaHat, double alpha, int dimension, double sigma0) {
        return alpha * sigmaHat / (Math.sqrt(dimension) * sigma0);
    }

    /**
     * The seed of map P_{layer, block}: words (x, y) of Philox4x32_10(counter = (layer, block, 0, 2), key = (lo32(run
     * seed), hi32(run seed))), x | y << 32. The counter's last word 2 is used by no noise (0) or step seed (1).
     */
    public static long mapSeed(long runSeed, int layer, int block) {
        int[] w = Philox4x32.generate(layer, block, 0, 2, (int) runSeed, (int) (runSeed >>> 32));
        return (w[0] & 0xffffffffL) | ((long) w[1] << 32);
    }

    public AttentionTargets targets() {
        return targets;
    }

    public int layers() {
        return targets.layers();
    }

    public int dimension() {
        return dimension;
    }

    public int rank() {
        return rank;
    }

    public double aScale(int layer) {
        return aScales[layer];
    }

    /** Elements of factor {@code block} of {@code layer}: r·in for A, out·r for B. */
    public int elements(int layer, int block) {
        Projection p = block < A_K ? targets.q().get(layer) : targets.k().get(layer);
        return rank * (block % 2 == 0 ? p.in() : p.out());
    }

    /** P_{layer, block} as a row-major [elements, D/4] matrix, regenerated from the run seed. */
    public float[] map(int layer, int block) {
        int d = dimension / 4;
        int m = elements(layer, block);
        float[] p = new float[Math.multiplyExact(m, d)];
        long seed = mapSeed(runSeed, layer, block);
        if (block % 2 == 0) {
            Noise.fill(seed, Noise.STREAM_N0, 0, p, 0, p.length, Noise.Distribution.GAUSSIAN);
            double s = aScales[layer];
            for (int i = 0; i < p.length; i++) {
                p[i] = (float) (s * p[i]);
            }
        } else {
            int[] words = new int[p.length];
            Noise.fillWords(seed, Noise.STREAM_N0, 0, words, 0, words.length);
            double bound = 1.0 / Math.sqrt(d);
            for (int i = 0; i < p.length; i++) {
                p[i] = (float) (bound * (2.0 * Noise.uniform(words[i]) - 1.0));
            }
        }
        return p;
    }

    /** Layer {@code layer}'s factors at point z (D values). */
    public synchronized Factors factors(int layer, double[] z) {
        return factors(layer, new double[][] {z}).get(0);
    }

    /**
     * Layer {@code layer}'s factors at each of the points (a generation's candidates), computed in parallel over the
     * points: each factor is the same ordered double sum as one point at a time, so the values do not depend on the
     * threads.
     */
    public synchronized List<Factors> factors(int layer, double[][] zs) {
        for (double[] z : zs) {
            if (z.length != dimension) {
                throw new IllegalArgumentException("a point of " + z.length + " values for a subspace of "
                        + dimension);
            }
        }
        Factors[] out = new Factors[zs.length];
        boolean miss = false;
        for (int i = 0; i < zs.length; i++) {
            if (lastPoint[layer] != null && Arrays.equals(lastPoint[layer], zs[i])) {
                out[i] = lastFactors[layer];
            } else {
                miss = true;
            }
        }
        if (miss && cachedLayer != layer) {
            cachedMaps = new float[4][];
            for (int j = 0; j < 4; j++) {
                cachedMaps[j] = map(layer, j);
            }
            cachedLayer = layer;
        }
        float[][] maps = cachedMaps;
        IntStream range = IntStream.range(0, zs.length).filter(i -> out[i] == null);
        (zs.length > 1 ? range.parallel() : range).forEach(i -> out[i] = compute(rank, maps, dimension / 4, zs[i]));
        if (zs.length > 0) {
            lastPoint[layer] = zs[zs.length - 1].clone();
            lastFactors[layer] = out[zs.length - 1];
        }
        return List.of(out);
    }

    /** Σ_c P[e][c]·z[c] for every row e of the four maps, in double in c order, rounded once to float32. */
    private static Factors compute(int rank, float[][] maps, int d, double[] z) {
        float[][] f = new float[4][];
        for (int j = 0; j < 4; j++) {
            float[] p = maps[j];
            int from = j * d;
            float[] out = new float[p.length / d];
            int e = 0;
            // four rows at a time: four independent sums in flight instead of one chain of dependent additions
            for (; e + 3 < out.length; e += 4) {
                double a0 = 0;
                double a1 = 0;
                double a2 = 0;
                double a3 = 0;
                int r0 = e * d;
                for (int c = 0; c < d; c++) {
                    double zc = z[from + c];
                    a0 += (double) p[r0 + c] * zc;
                    a1 += (double) p[r0 + d + c] * zc;
                    a2 += (double) p[r0 + 2 * d + c] * zc;
                    a3 += (double) p[r0 + 3 * d + c] * zc;
                }
                out[e] = (float) a0;
                out[e + 1] = (float) a1;
                out[e + 2] = (float) a2;
                out[e + 3] = (float) a3;
            }
            for (; e < out.length; e++) {
                double acc = 0;
                for (int c = 0; c < d; c++) {
                    acc += (double) p[e * d + c] * z[from + c];
                }
                out[e] = (float) acc;
            }
            f[j] = out;
        }
        return new Factors(rank, f[A_Q], f[B_Q], f[A_K], f[B_K]);
    }

    /**
     * Layer l's factors as updates of its matrices: one pair per projection, or, for GPT-2's packed q|k|v output, one
     * pair of rank 2r: A = [A_Q; A_K], B with B_Q in the q rows' first r columns, B_K in the k rows' last r columns and
     * zero over v, so that B·A adds B_Q·A_Q to the q rows and B_K·A_K to the k rows.
     */
    public List<Pair> pairs(int layer, Factors f) {
        Projection q = targets.q().get(layer);
        Projection k = targets.k().get(layer);
        int r = f.rank();
        if (q.weight() != k.weight()) {
            return List.of(new Pair(q, r, q.in(), q.out(), f.aQ(), f.bQ()),
                    new Pair(k, r, k.in(), k.out(), f.aK(), f.bK()));
        }
        float[] a = new float[2 * r * q.in()];
        System.arraycopy(f.aQ(), 0, a, 0, r * q.in());
        System.arraycopy(f.aK(), 0, a, r * q.in(), r * k.in());
        float[] b = new float[q.width() * 2 * r];
        for (int o = 0; o < q.out(); o++) {
            System.arraycopy(f.bQ(), o * r, b, (q.offset() + o) * 2 * r, r);
        }
        for (int o = 0; o < k.out(); o++) {
            System.arraycopy(f.bK(), o * r, b, (k.offset() + o) * 2 * r + r, r);
        }
        return List.of(new Pair(q, 2 * r, q.in(), q.width(), a, b));
    }

    /** The factors of every layer at its best point (the adapter to export: W' = W + B·A, scale 1). */
    public List<Factors> materialise(double[][] best) {
        if (best.length != layers()) {
            throw new IllegalArgumentException(best.length + " points for " + layers() + " layers");
        }
        List<Factors> out = new ArrayList<>();
        for (int l = 0; l < best.length; l++) {
            out.add(factors(l, best[l]));
        }
        return out;
    }

    @Override
    public String toString() {
        return "Subspace[D=" + dimension + ", r=" + rank + ", layers=" + layers() + ", s=" + Arrays.toString(aScales)
                + "]";
    }
}
