package org.zotune.zo.cuda;

import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.zotune.ZotuneException;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.Kernel;
import org.zotune.cuda.KernelModule;
import org.zotune.tensor.DType;
import org.zotune.zo.optim.ZoOptimizerConfig;

/**
 * Launchers of the zeroth-order kernels (native/kernels/zo_noise.cu, zo_perturb.cu, zo_update.cu) with the
 * argument order of their {@code extern "C"} signatures. Every per-step scalar is read by the kernels from the
 * device scalar block ({@link ZoScalars}), so launches captured in a graph stay valid across steps. Results do
 * not depend on the block size or grid (each element is a pure function of its index): tests vary them.
 * The noise, perturbation and update kernels are those of one {@link NoiseVariant}, fixed at construction.
 * Owns its own copy of the kernel module. Not thread-safe.
 */
public final class ZoKernels implements AutoCloseable {
    private final KernelModule module;
    private final Map<String, Kernel> kernels = new HashMap<>();
    private final int maxGrid;
    private final NoiseVariant noise;
    private int block = 256;
    private DType state = DType.F32;

    /**
     * Kernels of the configured noise variant ({@link NoiseVariant#configured()}, {@code -Dzotune.noise}: tests and
     * benchmarks; a run's step passes its variant, {@link #ZoKernels(int, NoiseVariant)}).
     *
     * @param maxGrid the most blocks of a noise-fill launch (e.g. 8 per SM). Launches over the chunk table take one
     *                block per chunk and shadow launches one thread per unit of elements, up to 64 × maxGrid
     *                blocks (beyond that blocks loop): the
     *                hardware then balances the load, where a fixed grid of 8 blocks per SM ran in two uneven waves
     *                whenever the kernel's registers let fewer blocks reside (benchmarks/NOTES.md).
     */
    public ZoKernels(int maxGrid) {
        this(maxGrid, NoiseVariant.configured());
    }

    /** As {@link #ZoKernels(int)} with the given noise variant (a run's, or one a test pins). */
    public ZoKernels(int maxGrid, NoiseVariant noise) {
        this.maxGrid = Math.max(1, maxGrid);
        this.noise = noise;
        this.module = KernelModule.loadDefault();
        try {
            // the chosen variant's kernels under the exact kernels' names, which the launchers below look up
            String suffix = noise.kernelSuffix();
            exactSignatures().forEach((name, sig) ->
                    kernels.put(name, module.kernel(VARIANT_KERNELS.contains(name) ? name + suffix : name, sig)));
        } catch (RuntimeException e) {
            module.close();
            throw e;
        }
    }

    /** The noise variant of this instance's noise, perturbation and update kernels. */
    public NoiseVariant noise() {
        return noise;
    }

    /** The kernels that regenerate Gaussian noise: each also exists as name + "_fast" ({@link NoiseVariant}). */
    private static final Set<String> VARIANT_KERNELS = variantKernels();

    private static Set<String> variantKernels() {
        Set<String> names = new HashSet<>();
        names.add("zo_noise_fill");
        for (String t : new String[] {"f32", "bf16", "f16"}) {
            for (String st : new String[] {"f32", "bf16", "f16"}) {
                names.add("zo_perturb_" + t + "_" + st);
                names.add("zo_shadow_" + t + "_" + st);
                names.add("zo_shadow_segments_" + t + "_" + st);
                if (t.equals("f32")) {
                    names.add("zo_shadow_split_f32_" + st);
                }
                for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
                    if (!c.stateVectors().isEmpty() || st.equals("f32")) {
                        names.add("zo_update_" + c.deviceRule().kernel() + "_" + t + "_" + st);
                    }
                }
            }
        }
        return Set.copyOf(names);
    }

    /**
     * Every kernel launched here, name → launch signature (KernelSignaturesTest checks them against native/), the
     * fast noise variant's included.
     */
    public static Map<String, String> signatures() {
        Map<String, String> s = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : exactSignatures().entrySet()) {
            s.put(e.getKey(), e.getValue());
            if (VARIANT_KERNELS.contains(e.getKey())) {
                s.put(e.getKey() + NoiseVariant.FAST.kernelSuffix(), e.getValue());
            }
        }
        return s;
    }

    private static Map<String, String> exactSignatures() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("zo_noise_fill", "plilli");
        for (String t : new String[] {"f32", "bf16", "f16"}) {
            for (String st : new String[] {"f32", "bf16", "f16"}) {
                s.put("zo_perturb_" + t + "_" + st, "ppippif");
                s.put("zo_shadow_" + t + "_" + st, "ppllppif");
                s.put("zo_shadow_segments_" + t + "_" + st, "pippif");
                if (t.equals("f32")) {
                    s.put("zo_shadow_split_f32_" + st, "piilppifip");
                }
                for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
                    if (!c.stateVectors().isEmpty() || st.equals("f32")) {
                        s.put("zo_update_" + c.deviceRule().kernel() + "_" + t + "_" + st, "ppipppii");
                    }
                }
            }
        }
        s.put("zo_grad", "p");
        s.put("loss_pair_sum", "piip");
        // the device losses of the objectives that are not one token cross-entropy (choice_loss.cu)
        s.put("choice_row_sums", "pppi");
        s.put("choice_loss", "ppiiip");
        s.put("loss_mean", "pip");
        for (String t : new String[] {"f32", "bf16", "f16"}) {
            s.put("masked_choice_loss_" + t, "pipiip");
            s.put("pool_rows_" + t, "ppiiiip");
            s.put("head_loss_" + t, "ppppiiip");
        }
        s.put("similarity_loss", "ppiiidp");
        return s;
    }

    /** Threads per block for the following launches (a multiple of 32, at most 1024). */
    public ZoKernels blockSize(int threads) {
        if (threads < 32 || threads > 1024 || threads % 32 != 0) {
            throw new IllegalArgumentException("block size must be a multiple of 32 in [32, 1024], got " + threads);
        }
        this.block = threads;
        return this;
    }

    /**
     * The storage type of the optimiser state (m, v) the following launches read and write: F32 (default), BF16
     * or F16 (GpuOptimizer.stateDType()).
     */
    public ZoKernels stateDType(DType t) {
        stateSuffix(t);
        this.state = t;
        return this;
    }

    private static String stateSuffix(DType t) {
        switch (t) {
            case F32: return "f32";
            case BF16: return "bf16";
            case F16: return "f16";
            default: throw new ZotuneException("zeroth-order kernels keep optimiser state in f32, bf16 or f16, not " + t);
        }
    }

    private static String suffix(DType t) {
        switch (t) {
            case F32: return "f32";
            case BF16: return "bf16";
            case F16: return "f16";
            default: throw new ZotuneException("zeroth-order kernels support f32, bf16 and f16 parameters, not " + t);
        }
    }

    private int grid(long units) {
        return (int) Math.max(1, Math.min(units, maxGrid));
    }

    private int chunkGrid(int nchunks) {
        return (int) Math.max(1, Math.min(nchunks, 64L * maxGrid));
    }

    /**
     * out[k] = noise(seed, stream, start + k), k < n, as float32: dist 0 Gaussian, 1 Rademacher, 2 the raw
     * Philox word's bits, 3 the element's 16 stochastic-rounding bits ({@code StochasticRounding.bits >>> 16}, an
     * int; stream ignored).
     */
    public void noiseFill(long out, long seed, int stream, long start, long n, int dist, CudaStream s) {
        if (n <= 0) {
            return;
        }
        Kernel k = kernels.get("zo_noise_fill");
        k.args().ptr(0, out).i64(1, seed).i32(2, stream).i64(3, start).i64(4, n).i32(5, dist);
        long groups = ((start + n - 1) >> 2) - (start >> 2) + 1;
        k.launch(grid((groups + block - 1) / block), block, s);
    }

    /** In place over every chunk: θ = R(θ + c·(ε·u)). */
    public void perturb(DType dtype, long theta, long chunks, int nchunks, long scalars, long m, int dir, float c,
                        CudaStream s) {
        if (nchunks == 0) {
            return;
        }
        Kernel k = kernels.get("zo_perturb_" + suffix(dtype) + "_" + stateSuffix(state));
        k.args().ptr(0, theta).ptr(1, chunks).i32(2, nchunks).ptr(3, scalars).ptr(4, m).i32(5, dir).f32(6, c);
        k.launch(chunkGrid(nchunks), block, s);
    }

    /** One tensor of n elements whose global noise index starts at {@code noise}: out = R(θ + sign·(ε·u)). */
    public void shadow(DType dtype, long theta, long out, long n, long noise, long scalars, long m, int dir,
                       float sign, CudaStream s) {
        if (n <= 0) {
            return;
        }
        Kernel k = kernels.get("zo_shadow_" + suffix(dtype) + "_" + stateSuffix(state));
        k.args().ptr(0, theta).ptr(1, out).i64(2, n).i64(3, noise).ptr(4, scalars).ptr(5, m).i32(6, dir)
                .f32(7, sign);
        long units = (n + 7) / 8; // 8 bf16 or 4 + 4 f32 elements a thread (tails in units of 4)
        k.launch((int) Math.max(1, Math.min((units + block - 1) / block, 64L * maxGrid)), block, s);
    }

    /**
     * {@link #shadow} over a table of {@code count} segments ({@code ShadowWeights.SEGMENT_BYTES} each: source address,
     * global noise index of its first element (a multiple of 4), destination address, length) in one launch, one
     * block per segment at a time: bitwise what shadow writes for the same elements.
     */
    public void shadowSegments(DType dtype, long segments, int count, long scalars, long m, int dir, float sign,
                               CudaStream s) {
        if (count <= 0) {
            return;
        }
        Kernel k = kernels.get("zo_shadow_segments_" + suffix(dtype) + "_" + stateSuffix(state));
        k.args().ptr(0, segments).i32(1, count).ptr(2, scalars).ptr(3, m).i32(4, dir).f32(5, sign);
        k.launch(chunkGrid(count), block, s);
    }

    /**
     * {@link #shadow} of float32 rows [0, rows) of {@code cols} columns (a multiple of 4; {@code noise} the global noise
     * index of the first element, a multiple of 4) written straight as the 3xTF32 split of those values into
     * {@code out} [rows, 3·cols]: rows [lo | hi | hi] for {@code loPart} 0, [hi | lo | hi] for 1 (tf32_split.cu's
     * layout), bitwise the split of what shadow writes.
     */
    public void shadowSplit(long theta, int rows, int cols, long noise, long scalars, long m, int dir, float sign,
                            int loPart, long out, CudaStream s) {
        if (rows <= 0 || cols <= 0) {
            return;
        }
        if (cols % 4 != 0 || noise % 4 != 0) {
            throw new IllegalArgumentException("shadowSplit: " + cols + " columns from noise index " + noise
                    + " (both must be multiples of 4)");
        }
        Kernel k = kernels.get("zo_shadow_split_f32_" + stateSuffix(state));
        k.args().ptr(0, theta).i32(1, rows).i32(2, cols).i64(3, noise).ptr(4, scalars).ptr(5, m).i32(6, dir)
                .f32(7, sign).i32(8, loPart).ptr(9, out);
        long units = (long) rows * (cols / 4);
        k.launch((int) Math.max(1, Math.min((units + block - 1) / block, 64L * maxGrid)), block, s);
    }

    /** ℓ±, g and the non-finite flag from the cross-entropy pairs in the scalar block. */
    public void grad(long scalars, CudaStream s) {
        Kernel k = kernels.get("zo_grad");
        k.args().ptr(0, scalars);
        k.launch(1, 32, s);
    }

    /**
     * Per candidate row r of {@code rows} rows of {@code seq} positions: rowSc[2r] = Σ of its token losses,
     * rowSc[2r + 1] = its number of targets, reduced as one cross-entropy over the row (1024 threads, as
     * cross_entropy_reduce: the block size is part of the summation order).
     */
    public void choiceRowSums(long tokenLoss, long targets, long rowSc, int rows, int seq, CudaStream s) {
        Kernel k = kernels.get("choice_row_sums");
        k.args().ptr(0, tokenLoss).ptr(1, targets).ptr(2, rowSc).i32(3, seq);
        k.launch(rows, 1024, s);
    }

    /**
     * out = (loss, 1) of {@code examples} examples from the rows' (sum, count) pairs; meta = [first row | candidates
     * | gold] per example; metric 0 cross-entropy, 1 −accuracy, 2 −F1 over {@code classes}.
     */
    public void choiceLoss(long rowSc, long meta, int examples, int metric, int classes, long out, CudaStream s) {
        Kernel k = kernels.get("choice_loss");
        k.args().ptr(0, rowSc).ptr(1, meta).i32(2, examples).i32(3, metric).i32(4, classes).ptr(5, out);
        k.launch(1, 32, s);
    }

    /**
     * out = (loss, 1) of a masked-LM prompt: logits [examples, ld] of {@code dtype} at the mask rows, meta = [label
     * tokens | gold per example].
     */
    public void maskedChoiceLoss(DType dtype, long logits, int ld, long meta, int examples, int labels, long out,
                                 CudaStream s) {
        Kernel k = kernels.get("masked_choice_loss_" + suffix(dtype));
        k.args().ptr(0, logits).i32(1, ld).ptr(2, meta).i32(3, examples).i32(4, labels).ptr(5, out);
        k.launch(1, 32, s);
    }

    /**
     * pooled [rows, h] (double) = the mean of hidden [rows·seq, h] of {@code dtype} over each row's real positions
     * (mode 0) or each row's first position (mode 1).
     */
    public void poolRows(DType dtype, long hidden, long mask, int seq, int h, int rows, int mode, long pooled,
                         CudaStream s) {
        Kernel k = kernels.get("pool_rows_" + suffix(dtype));
        k.args().ptr(0, hidden).ptr(1, mask).i32(2, seq).i32(3, h).i32(4, rows).i32(5, mode).ptr(6, pooled);
        long n = (long) rows * h;
        k.launch((int) Math.max(1, Math.min((n + 255) / 256, 64L * maxGrid)), 256, s);
    }

    /**
     * out = (loss, 1) of the classification head on pooled rows: scores W·pooled[row[x]] + b (W, b of
     * {@code dtype}), meta = [row per example | gold].
     */
    public void headLoss(DType dtype, long pooled, long w, long bias, long meta, int n, int labels, int h, long out,
                         CudaStream s) {
        Kernel k = kernels.get("head_loss_" + suffix(dtype));
        k.args().ptr(0, pooled).ptr(1, w).ptr(2, bias).ptr(3, meta).i32(4, n).i32(5, labels).i32(6, h).ptr(7, out);
        k.launch(1, 1, 1, 256, 1, 1, 8 * n * labels, s);
    }

    /**
     * out = (loss, 1) of label similarity: pooled rows 0 .. n-1 the examples, n .. n+labels-1 the labels' descriptions,
     * meta = gold per example.
     */
    public void similarityLoss(long pooled, long meta, int n, int labels, int h, double temperature, long out,
                               CudaStream s) {
        Kernel k = kernels.get("similarity_loss");
        k.args().ptr(0, pooled).ptr(1, meta).i32(2, n).i32(3, labels).i32(4, h).f64(5, temperature).ptr(6, out);
        k.launch(1, 1, 1, 256, 1, 1, 8 * (n + labels + n * labels), s);
    }

    /** out = (mean over the m pairs of sum / count, summed in order then divided by m; 1). */
    /**
     * Data-parallel loss pairs: {@code gathered} holds {@code world} ranks' {@code pairs} (value, count) float pairs in
     * rank order; out[i] = ((float) (S / C), 1) with S and C each rank's values added in double in rank order from 0
     * (the host all-reduce's order), so every rank gets the same bits.
     */
    public void lossPairSum(long gathered, int world, int pairs, long out, CudaStream s) {
        Kernel k = kernels.get("loss_pair_sum");
        k.args().ptr(0, gathered).i32(1, world).i32(2, pairs).ptr(3, out);
        k.launch(Math.max(1, Math.min(64, (pairs + 127) / 128)), 128, s);
    }

    public void lossMean(long pairs, int m, long out, CudaStream s) {
        Kernel k = kernels.get("loss_mean");
        k.args().ptr(0, pairs).i32(1, m).ptr(2, out);
        k.launch(1, 32, s);
    }

    /**
     * The fused (restore +) update of every chunk; m and v are the state vectors (0 when unused), of the
     * {@link #stateDType} set last.
     */
    public void update(GpuOptimizer opt, DType dtype, long theta, long chunks, int nchunks, long scalars,
                       long m, long v, int dir, boolean restore, CudaStream s) {
        if (nchunks == 0) {
            return;
        }
        String st = opt.stateVectors() > 0 ? stateSuffix(state) : "f32"; // without state (ZO-SGD): f32, unused
        Kernel k = kernels.get("zo_update_" + opt.kernel() + "_" + suffix(dtype) + "_" + st);
        k.args().ptr(0, theta).ptr(1, chunks).i32(2, nchunks).ptr(3, scalars).ptr(4, m).ptr(5, v).i32(6, dir)
                .i32(7, restore ? 1 : 0);
        k.launch(chunkGrid(nchunks), block, s);
    }

    @Override
    public void close() {
        for (Kernel k : kernels.values()) {
            k.args().close();
        }
        kernels.clear();
        module.close();
    }
}
