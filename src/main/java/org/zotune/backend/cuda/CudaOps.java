package org.zotune.backend.cuda;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.cuda.Cublas;
import org.zotune.cuda.CublasLt;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaGraph;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.KernelModule;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * {@link Ops} on one CUDA device: cuBLAS for the matrix products, zotune's kernels (native/kernels)
 * for everything else, all on one non-blocking stream. It checks the arguments, picks the path (fused or
 * separate kernels, vector or scalar) and composes: {@link DeviceMemory} (the activation arena, reset per
 * {@link #scope()}, so the same sequence of ops gets the same addresses and can be captured once as a CUDA graph
 * ({@link #captureGraph}) and replayed; host copies), {@link MatrixProducts} (cuBLAS / cuBLASLt), one launcher per
 * kernel file ({@link EmbeddingKernels}, {@link ElementwiseKernels}, {@link NormKernels}, {@link AttentionKernels},
 * {@link FlashAttentionKernels}, {@link CrossEntropyKernels}, {@link ArgmaxKernels}), {@link AttentionPaths} (which
 * attention, and the unfused one's products) and the switches of {@link CudaOptions}.
 * Nothing here allocates device memory or waits for the device per launch, except {@link #toHost} (which must
 * synchronise). Not thread-safe.
 */
public final class CudaOps implements Ops {
    private final DType computeType;
    private final CudaOptions options;
    private final Cuda.Availability device;
    private final CudaStream stream;
    private final KernelModule module;
    private final DeviceMemory memory;
    private final KernelSet kernelSet;
    private final EmbeddingKernels embedding;
    private final ElementwiseKernels elementwise;
    private final NormKernels norm;
    private final CrossEntropyKernels crossEntropy;
    private final ArgmaxKernels argmax;
    private final MatrixProducts products;
    private final Tf32SplitKernels tf32Split;
    private final AttentionPaths attentionPaths;
    /** Whether the fused attention runs the Hopper kernels (FlashAttentionKernels#hopper). */
    private final boolean hopperAttention;
    /** Whether float32 attention runs the 3xTF32 fused kernels (FlashAttentionKernels#x3). */
    private final boolean x3Attention;
    private int scopeDepth;
    private boolean closed;

    private CudaOps(DType computeType, CudaOptions options) {
        this.computeType = computeType;
        this.options = options;
        this.device = Cuda.require();
        CudaStream s = null;
        Cublas c = null;
        KernelModule m = null;
        PinnedStaging st = null;
        try {
            s = CudaStream.create();
            c = Cublas.create(s, Cublas.DEFAULT_WORKSPACE);
            m = KernelModule.loadDefault();
            st = new PinnedStaging(s, 4L << 20);
        } catch (RuntimeException e) {
            if (st != null) {
                st.close();
            }
            if (m != null) {
                m.close();
            }
            if (c != null) {
                c.close();
            }
            if (s != null) {
                s.close();
            }
            throw e;
        }
        this.stream = s;
        this.module = m;
        this.memory = new DeviceMemory(s, st, options);
        this.kernelSet = new KernelSet(m, s, computeType, device.multiprocessors() * 32);
        this.tf32Split = new Tf32SplitKernels(kernelSet);
        this.products = new MatrixProducts(c, memory, computeType, options, tf32Split);
        this.embedding = new EmbeddingKernels(kernelSet);
        this.elementwise = new ElementwiseKernels(kernelSet);
        this.norm = new NormKernels(kernelSet);
        AttentionKernels attention = new AttentionKernels(kernelSet);
        FlashAttentionKernels flash = new FlashAttentionKernels(kernelSet, options, device.multiprocessors());
        this.hopperAttention = flash.hopper();
        this.x3Attention = flash.x3();
        this.crossEntropy = new CrossEntropyKernels(kernelSet);
        this.argmax = new ArgmaxKernels(kernelSet);
        this.attentionPaths = new AttentionPaths(memory, computeType, options, attention, flash, products,
                new DecodeAttentionKernels(kernelSet));
    }

    /** Whether the fused attention runs the Hopper kernels here (tests check which kernel they measured). */
    boolean hopperAttention() {
        return hopperAttention;
    }

    /** Whether float32 attention runs the 3xTF32 fused kernels here (tests check which kernel they measured). */
    boolean x3Attention() {
        return x3Attention;
    }

    /** Whether a float32 product X·Wᵀ of this size runs in 3xTF32 here (tests check which path they measured). */
    boolean x3Product(int outputs, int rows, int inner) {
        return products.x3(outputs, rows, inner);
    }

    /** Whether a producer of an [rows, cols] output writes its split for the next product (tests). */
    boolean producerWritesSplit(int rows, int cols) {
        return products.takesSplitOf(rows, cols);
    }

    /** Products that took the split their input's producer wrote (tests). */
    long offeredSplits() {
        return products.offeredTaken();
    }

    /** Products that took the split of a hidden activation never written in float32 (tests, benchmarks). */
    public long splitOnlyActivations() {
        return products.unwrittenTaken();
    }

    /** 3xTF32 products that ran with the algorithm {@link org.zotune.cuda.Tf32Tuner} chose so far (tests). */
    public long tunedProducts() {
        return products.tunedProducts();
    }

    /** Whether a {@link #sharedInput} holds a split input now (tests). */
    boolean sharesInput() {
        return products.sharing();
    }

    /**
     * y = GELU(y + bias) (erf form) with y's split [rows, 3·cols] as rows [lo | hi | hi] written into a new tensor, the
     * kernel the FFN's hidden activation takes ({@code storeY} false: only the split; tests).
     */
    CudaTensor biasGeluErfSplit(CudaTensor y, CudaTensor bias, boolean storeY) {
        CudaTensor out = memory.alloc(y.rows(), 3 * y.cols(), DType.F32);
        elementwise.biasGeluErfSplit(y, bias, out.address(), storeY);
        return out;
    }

    /** x's rows as the 3xTF32 products split them (tf32_split.cu): a new [rows, 3·cols] float32 tensor (tests). */
    CudaTensor tf32SplitRows(CudaTensor x, int loPart) {
        CudaTensor out = memory.alloc(x.rows(), 3 * x.cols(), DType.F32);
        tf32Split.splitRows(x.address(), x.ld(), x.rows(), x.cols(), loPart, out.address());
        return out;
    }

    /**
     * The CUDA backend with activations in {@code computeType}: f32, or bf16 / f16 with fp32 accumulation, and the
     * options the system properties set ({@link CudaOptions#fromSystemProperties()}).
     *
     * @throws org.zotune.cuda.CudaUnavailableException when no device, driver or kernels are usable
     */
    public static CudaOps create(DType computeType) {
        return create(computeType, CudaOptions.fromSystemProperties());
    }

    /** {@link #create(DType)} with explicit options. */
    public static CudaOps create(DType computeType, CudaOptions options) {
        KernelSet.suffix(computeType); // every DType has kernels; a new one must get them before it gets here
        return new CudaOps(computeType, options);
    }

    /**
     * Every kernel the backend launches, name → launch signature (see {@link org.zotune.cuda.KernelArgs}): the
     * union of the kernel-file launchers' tables. KernelSignaturesTest checks them against native/kernels.
     */
    public static Map<String, String> kernelSignatures() {
        Map<String, String> all = new LinkedHashMap<>();
        all.putAll(EmbeddingKernels.signatures());
        all.putAll(ElementwiseKernels.signatures());
        all.putAll(NormKernels.signatures());
        all.putAll(AttentionKernels.signatures());
        all.putAll(FlashAttentionKernels.signatures());
        all.putAll(CrossEntropyKernels.signatures());
        all.putAll(ArgmaxKernels.signatures());
        all.putAll(DecodeAttentionKernels.signatures());
        all.putAll(Tf32SplitKernels.signatures());
        return all;
    }

    /** The switches this backend was created with. */
    public CudaOptions options() {
        return options;
    }

    // ---- facts and lifetime -------------------------------------------------------------------------

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public DType computeType() {
        return computeType;
    }

    public Cuda.Availability device() {
        return device;
    }

    /** The stream every op is queued on. */
    public CudaStream stream() {
        return stream;
    }

    /** Device memory held by the main activation arena (it grows, never shrinks, until close; regions apart). */
    public long arenaBytes() {
        return memory.reservedBytes();
    }

    /** Waits until all queued work is done. */
    public void synchronize() {
        stream.synchronize();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        stream.synchronize();
        memory.close();
        kernelSet.close();
        module.close();
        products.close(); // the cuBLAS handle
        stream.close();
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("CudaOps is closed");
        }
    }

    // ---- memory -------------------------------------------------------------------------------------

    @Override
    public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
        open();
        if (memory.capturing()) {
            throw new ZotuneException("createParameters cannot run inside a CUDA graph capture");
        }
        return CudaParameters.upload(tensors, dtype, stream);
    }

    /** Cleared where they are: no host array, no upload. */
    @Override
    public Parameters createZeroParameters(int[][] shapes, DType dtype) {
        open();
        if (memory.capturing()) {
            throw new ZotuneException("createZeroParameters cannot run inside a CUDA graph capture");
        }
        return CudaParameters.zeros(shapes, dtype, stream);
    }

    @Override
    public Scope scope() {
        open();
        final DeviceArena.Mark mark = memory.mark();
        return nested(() -> memory.reset(mark));
    }

    /**
     * In float32 with the 3xTF32 products on, splits x now into the buffer its products then read instead of each
     * splitting it again (MatrixProducts#share); the buffer stays in the activation scope open now. One shared input
     * at a time: opening another replaces it.
     */
    @Override
    public Scope sharedInput(Tensor x) {
        open();
        products.share((CudaTensor) x);
        return products::unshare;
    }

    /**
     * Whether {@link #defer} takes an [rows, cols] matrix: float32 with the 3xTF32 products on, at least 128 x 128,
     * columns a multiple of 4.
     */
    public boolean defers(int rows, int cols) {
        return products.defers(rows, cols);
    }

    /**
     * Declares that t (a dense float32 tensor, {@link #defers} its shape) holds no values yet: {@code values} writes
     * them right before an op of this backend reads t, or, where a 3xTF32 product reads t as its weight, writes that
     * product's split of them instead (ZO shadow weights: the float32 copy is then never written). One matrix at a
     * time: deferring another drops this one, unread. Code that reads t's memory other than through these ops
     * ({@link CudaTensors#address}) calls {@link #settle} first.
     */
    public void defer(Tensor t, DeferredMatrix values) {
        products.defer((CudaTensor) t, values);
    }

    /**
     * Drops a matrix deferred into {@code bytes} of memory from {@code address}, unwritten: its owner writes that
     * memory otherwise now, or frees it.
     */
    public void forgetDeferred(long address, long bytes) {
        products.forget(address, bytes);
    }

    /** How many times a product read a deferred matrix's split (from θ, not a written copy) so far. */
    public long deferredSplits() {
        return products.deferredSplits();
    }

    /** Writes t's deferred values ({@link #defer}) if they are not written yet; returns t. */
    public Tensor settle(Tensor t) {
        products.settle((CudaTensor) t);
        return t;
    }

    /** A scope one level deeper than those open, which runs {@code onClose} when it closes (innermost first). */
    private Scope nested(Runnable onClose) {
        final int depth = ++scopeDepth;
        return new Scope() {
            private boolean done;

            @Override
            public void close() {
                if (done) {
                    return;
                }
                if (scopeDepth != depth) {
                    throw new IllegalStateException("scopes must close innermost first (closing depth " + depth
                            + " while " + scopeDepth + " is open)");
                }
                done = true;
                scopeDepth--;
                onClose.run();
            }
        };
    }

    /**
     * Device memory for activations apart from the ops' main arena, owned by whoever asked for it (closing it frees
     * it). Allocations go there between {@link #enter} and the close of the scope it returns; the main arena, and
     * the scopes open on it, are untouched meanwhile. The captured ZO step keeps its graphs' activations in one
     * (zo/cuda/StepGraph), so that eager work between replays (evaluations) never reuses a graph's memory.
     */
    public final class Region implements AutoCloseable {
        private final DeviceArena arena;

        private Region(DeviceArena arena) {
            this.arena = arena;
        }

        /** Device memory the region holds (it grows, never shrinks, until close). */
        public long reservedBytes() {
            return arena.reservedBytes();
        }

        /** Frees the region's memory (waits for the stream: a replay in flight may still use it). */
        @Override
        public void close() {
            if (memory.using(arena)) {
                throw new IllegalStateException("closing an activation region while its scope is open");
            }
            if (!closed) {
                stream.synchronize();
            }
            arena.close();
        }
    }

    /** A new, empty activation region (see {@link Region}). */
    public Region region() {
        open();
        return new Region(memory.newArena());
    }

    /**
     * Allocations go to {@code region}, from its start, until the returned scope closes (innermost first, like
     * {@link #scope()}); then they go to the arena they went to before, where they were.
     */
    public Scope enter(Region region) {
        open();
        if (memory.capturing()) {
            throw new IllegalStateException("entering an activation region inside a capture");
        }
        region.arena.reset(new DeviceArena.Mark(0, 0));
        final DeviceArena before = memory.use(region.arena);
        return nested(() -> memory.use(before));
    }

    private CudaTensor alloc(int rows, int cols, DType t) {
        return memory.alloc(rows, cols, t);
    }

    private void noCapture(String what) {
        if (memory.capturing()) {
            throw new ZotuneException(what + " reads the device from the host and cannot run inside a CUDA graph"
                    + " capture: read results after replay()");
        }
    }

    /**
     * Int values on the device. Inside {@link #captureGraph} the values become constants of the graph
     * (each replay copies them again from host memory the graph owns); to change inputs between
     * replays, create the tensor before capturing and {@link #write} it.
     */
    @Override
    public IntTensor ints(int[] values) {
        open();
        return memory.ints(values);
    }

    /** Overwrites an int tensor's values (asynchronously, ordered on the stream): inputs of a graph replay. */
    public void write(IntTensor target, int[] values) {
        open();
        CudaIntTensor t = (CudaIntTensor) target;
        if (values.length != t.length()) {
            throw new IllegalArgumentException("writing " + values.length + " ints into an int tensor of " + t.length());
        }
        memory.write(t, values);
    }

    /** A [rows, cols] tensor in the compute type holding {@code values} (rounded to the compute type). */
    public Tensor tensor(float[] values, int rows, int cols) {
        if (values.length != (long) rows * cols) {
            throw new IllegalArgumentException(values.length + " values for a " + rows + "x" + cols + " tensor");
        }
        open();
        return memory.tensor(values, rows, cols, computeType);
    }

    @Override
    public float[] toHost(Tensor t) {
        open();
        noCapture("toHost()");
        products.settle((CudaTensor) t);
        return memory.toHost((CudaTensor) t);
    }

    /** Reads int values back (synchronises). */
    public int[] toHost(IntTensor t) {
        open();
        noCapture("toHost()");
        return memory.toHost((CudaIntTensor) t);
    }

    @Override
    public Tensor rows(Tensor t, int from, int to) {
        CudaTensor c = (CudaTensor) t;
        products.settle(c);
        if (from < 0 || to > c.rows() || from > to) {
            throw new IndexOutOfBoundsException("rows [" + from + ", " + to + ") of a " + c.rows() + "x" + c.cols()
                    + " tensor");
        }
        return new CudaTensor(c.address() + (long) from * c.ld() * c.dtype().bytes(), to - from, c.cols(), c.dtype(),
                c.ld());
    }

    // ---- graphs -------------------------------------------------------------------------------------

    /** A captured sequence of ops; {@link #replay()} enqueues it again on the ops' stream. */
    public final class Graph implements AutoCloseable {
        private final CudaGraph graph;
        private final PinnedBuffer hostInputs;

        private Graph(CudaGraph graph, PinnedBuffer hostInputs) {
            this.graph = graph;
            this.hostInputs = hostInputs;
        }

        /** Enqueues the captured work (asynchronous; read results with toHost, which synchronises). */
        public void replay() {
            open();
            graph.replay(stream);
        }

        @Override
        public void close() {
            if (!closed) {
                stream.synchronize(); // a replay in flight may still read the graph's host inputs
            }
            graph.close();
            hostInputs.close();
        }
    }

    /**
     * Captures the ops {@code body} enqueues as a CUDA graph. Int tensors and tensors the body creates
     * from host values become constants of the graph; inputs that change between replays are created
     * before capturing and updated with {@link #write}. The body must not read back (no toHost).
     * Tensors the body allocates stay valid (and are rewritten by each replay) until the enclosing
     * scope closes.
     */
    public Graph captureGraph(Runnable body) {
        open();
        if (memory.capturing()) {
            throw new IllegalStateException("already capturing a graph");
        }
        PinnedBuffer pool = memory.beginCapture();
        try {
            return new Graph(CudaGraph.capture(stream, body), pool);
        } catch (RuntimeException | Error e) {
            pool.close();
            throw e;
        } finally {
            memory.endCapture();
        }
    }

    // ---- checks -------------------------------------------------------------------------------------

    private CudaTensor act(Tensor t, String op, String what) {
        if (!(t instanceof CudaTensor)) {
            throw new IllegalArgumentException(op + ": " + what + " is not a CUDA tensor");
        }
        CudaTensor c = (CudaTensor) t;
        if (!c.dense()) {
            throw new ZotuneException(op + ": " + what + " is a padded logits tensor, which only crossEntropy, rows"
                    + " and toHost read");
        }
        if (c.dtype() != computeType) {
            throw new ZotuneException(op + ": " + what + " is " + c.dtype() + " but the CUDA backend computes in "
                    + computeType + " (create parameters in the compute type)");
        }
        products.settle(c);
        return c;
    }

    /** {@link #act} for a product's weight, left deferred ({@link #defer}): the product may read its split instead. */
    private CudaTensor weight(Tensor t, String op) {
        if (!(t instanceof CudaTensor c) || !c.dense() || c.dtype() != computeType) {
            return act(t, op, "w");
        }
        return c;
    }

    private static void sameShape(CudaTensor a, CudaTensor b, String op) {
        if (a.rows() != b.rows() || a.cols() != b.cols()) {
            throw new IllegalArgumentException(op + ": shapes " + a.rows() + "x" + a.cols() + " and " + b.rows() + "x"
                    + b.cols() + " differ");
        }
    }

    /** Elements of the compute type in one 16-byte vector (the vector kernels' unit). */
    private int vecWidth() {
        return kernelSet.vecWidth();
    }

    /** Whether every address is 16-byte aligned (0 = absent counts as aligned). */
    private static boolean aligned(long... addresses) {
        return KernelSet.aligned(addresses);
    }

    // ---- ops ----------------------------------------------------------------------------------------

    @Override
    public Tensor embedding(IntTensor ids, Tensor table) {
        CudaTensor tab = act(table, "embedding", "table");
        CudaIntTensor id = (CudaIntTensor) ids;
        CudaTensor out = alloc(id.length(), tab.cols(), computeType);
        if (id.length() == 0) {
            return out;
        }
        embedding.gather(id, tab, out);
        return out;
    }

    @Override
    public void addInPlace(Tensor x, Tensor y) {
        CudaTensor a = act(x, "addInPlace", "x");
        CudaTensor b = act(y, "addInPlace", "y");
        sameShape(a, b, "addInPlace");
        elementwise.elementwise("add_inplace", a.numel(), a.address(), b.address());
    }

    /**
     * {@inheritDoc} A float32 {@code src} under a bf16/f16 compute type (a prefix adapter's keys and values, copied
     * into a key/value cache) is rounded as the prefix attention rounds it when it reads a float32 prefix.
     */
    @Override
    public void copy(Tensor dst, Tensor src) {
        CudaTensor a = act(dst, "copy", "dst");
        if (computeType != DType.F32 && src instanceof CudaTensor f && f.dense() && f.dtype() == DType.F32) {
            sameShape(a, f, "copy");
            if (a.numel() > 0) {
                elementwise.cast(f, a);
            }
            return;
        }
        CudaTensor b = act(src, "copy", "src");
        sameShape(a, b, "copy");
        if (a.numel() > 0 && a.address() != b.address()) {
            memory.copy(a.address(), b.address(), a.numel() * computeType.bytes());
        }
    }

    @Override
    public void geluTanhInPlace(Tensor x) {
        CudaTensor a = act(x, "geluTanhInPlace", "x");
        elementwise.elementwise("gelu_tanh_inplace", a.numel(), a.address());
    }

    @Override
    public void geluErfInPlace(Tensor x) {
        CudaTensor a = act(x, "geluErfInPlace", "x");
        elementwise.elementwise("gelu_erf_inplace", a.numel(), a.address());
    }

    @Override
    public void tanhInPlace(Tensor x) {
        CudaTensor a = act(x, "tanhInPlace", "x");
        elementwise.elementwise("tanh_inplace", a.numel(), a.address());
    }

    @Override
    public void reluInPlace(Tensor x) {
        CudaTensor a = act(x, "reluInPlace", "x");
        elementwise.elementwise("relu_inplace", a.numel(), a.address());
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        CudaTensor g = act(gate, "siluMul", "gate");
        CudaTensor u = act(up, "siluMul", "up");
        sameShape(g, u, "siluMul");
        CudaTensor out = alloc(g.rows(), g.cols(), computeType);
        elementwise.elementwise("silu_mul", g.numel(), g.address(), u.address(), out.address());
        return out;
    }

    /** A copy of {@code t} converted to {@code to} (f32 ↔ bf16, f32 ↔ f16; same dtype copies). */
    public Tensor cast(Tensor t, DType to) {
        CudaTensor c = (CudaTensor) t;
        products.settle(c);
        if (!c.dense()) {
            throw new ZotuneException("cast: padded logits tensors are only read by crossEntropy, rows and toHost");
        }
        CudaTensor out = alloc(c.rows(), c.cols(), to);
        if (c.numel() == 0) {
            return out;
        }
        if (c.dtype() == to) {
            memory.copy(out.address(), c.address(), c.bytes());
            return out;
        }
        elementwise.cast(c, out);
        return out;
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s) {
        CudaTensor base = act(w, "loraWeight", "W");
        return loraWeightInto(base, b, at, s, alloc(base.rows(), base.cols(), computeType));
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot) {
        CudaTensor base = act(w, "loraWeight", "W");
        CudaTensor into = act(slot, "loraWeight", "the slot");
        if (into.numel() < base.numel()) {
            throw new IllegalArgumentException("loraWeight: the slot holds " + into.numel() + " elements, W' needs "
                    + base.numel());
        }
        return loraWeightInto(base, b, at, s, new CudaTensor(into.address(), base.rows(), base.cols(), computeType));
    }

    private CudaTensor loraWeightInto(CudaTensor base, Tensor b, Tensor at, float s, CudaTensor out) {
        CudaTensor bt = adapter(b, "B");
        CudaTensor a = adapter(at, "Aᵀ");
        if (bt.rows() != base.rows() || a.rows() != base.cols() || a.cols() != bt.cols()) {
            throw new IllegalArgumentException("loraWeight: W is " + base.rows() + "x" + base.cols() + ", B "
                    + bt.rows() + "x" + bt.cols() + ", Aᵀ " + a.rows() + "x" + a.cols()
                    + " (expected B [out, r], Aᵀ [in, r])");
        }
        if (out.numel() > 0) {
            elementwise.loraWeight(base, bt, a, s, out);
        }
        return out;
    }

    /**
     * Two kernels (elementwise.cu): t = x·Aᵀ [n, r] in float32 into the arena (one warp per row, x read in the compute
     * type and widened in registers), then y += s·t·Bᵀ in one pass over y. A mixed-precision pair of our own rather
     * than cuBLAS, which has no bf16 × f32 GEMM: no float32 copy of x, the factors never rounded to bf16/f16.
     */
    @Override
    public void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y) {
        CudaTensor xs = act(x, "loraDelta", "x");
        CudaTensor ys = act(y, "loraDelta", "y");
        CudaTensor a = adapter(at, "Aᵀ");
        CudaTensor bt = adapter(b, "B");
        if (a.rows() != xs.cols() || bt.rows() != ys.cols() || bt.cols() != a.cols() || ys.rows() != xs.rows()) {
            throw new IllegalArgumentException("loraDelta: x is " + xs.rows() + "x" + xs.cols() + ", Aᵀ " + a.rows()
                    + "x" + a.cols() + ", B " + bt.rows() + "x" + bt.cols() + ", y " + ys.rows() + "x" + ys.cols()
                    + " (expected Aᵀ [in, r], B [out, r], y [n, out])");
        }
        if (ys.numel() == 0 || a.cols() == 0) {
            return;
        }
        CudaTensor t = alloc(xs.rows(), a.cols(), DType.F32);
        elementwise.loraDelta(xs, a, bt, s, t, ys);
    }

    /** A LoRA factor: a dense float32 CUDA tensor whatever the compute type (the adapters train in float32). */
    private static CudaTensor adapter(Tensor t, String what) {
        if (!(t instanceof CudaTensor c) || !c.dense() || c.dtype() != DType.F32) {
            throw new IllegalArgumentException("loraWeight: " + what + " must be a dense float32 CUDA tensor, got " + t);
        }
        return c;
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        CudaTensor a = act(x, "linear", "x");
        CudaTensor wt = weight(w, "linear");
        if (a.cols() != wt.cols()) {
            throw new IllegalArgumentException("linear: x is " + a.rows() + "x" + a.cols() + " but w is " + wt.rows()
                    + "x" + wt.cols() + " (expected [out, " + a.cols() + "])");
        }
        CudaTensor out = alloc(a.rows(), wt.rows(), computeType);
        if (out.numel() == 0) {
            return out;
        }
        products.linear(a, wt, out);
        if (bias != null) {
            addBias(out, bias, "linear");
        }
        return out;
    }

    /**
     * The LM head. With an output width that is not a multiple of 16 bytes the result keeps its padded
     * rows (no copy): crossEntropy, rows and toHost read it; other ops reject it.
     */
    @Override
    public Tensor logits(Tensor x, Tensor w) {
        CudaTensor a = act(x, "logits", "x");
        CudaTensor wt = act(w, "logits", "w");
        if (!products.keepsPaddedRows(a, wt)) {
            return linear(x, w, null);
        }
        return products.padded(a, wt);
    }

    /** out[r, :] += bias (one kernel pass). */
    private void addBias(CudaTensor out, Tensor bias, String op) {
        CudaTensor b = act(bias, op, "bias");
        if (b.numel() != out.cols()) {
            throw new IllegalArgumentException(op + ": bias has " + b.numel() + " values for " + out.cols() + " outputs");
        }
        if (out.numel() == 0) {
            return;
        }
        elementwise.addBiasRows(out, b);
    }

    /** A bias that a 16-byte vector kernel can fuse after the GEMM (null when it cannot). */
    private CudaTensor fusableBias(CudaTensor out, Tensor bias, String op) {
        if (!options.fuseBias() || bias == null) {
            return null;
        }
        CudaTensor b = act(bias, op, "bias");
        if (b.numel() != out.cols()) {
            throw new IllegalArgumentException(op + ": bias has " + b.numel() + " values for " + out.cols() + " outputs");
        }
        return out.cols() % vecWidth() == 0 && aligned(out.address(), b.address()) ? b : null;
    }

    /**
     * Whether {@link #linearGeluTanh} and {@link #linearRelu} in bf16 / f16 take cuBLASLt's bias + activation epilogue
     * or the GEMM and a fused pass of ours (default: {@link CudaOptions#ltEpilogue()}, false).
     */
    public CudaOps ltEpilogue(boolean on) {
        products.ltEpilogue(on);
        return this;
    }

    /** Products that took cuBLASLt's epilogue so far (diagnostics and tests). */
    public long ltProducts() {
        return products.ltProducts();
    }

    @Override
    public Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
        return linearActivated(x, w, bias, "linearGeluTanh", "bias_gelu_rows_v", this::geluTanhInPlace,
                CublasLt.Epilogue.GELU_BIAS);
    }

    /** No cuBLASLt epilogue computes the erf form: the GEMM, then bias and GELU in one pass of ours. */
    @Override
    public Tensor linearGeluErf(Tensor x, Tensor w, Tensor bias) {
        return linearActivated(x, w, bias, "linearGeluErf", "bias_gelu_erf_rows_v", this::geluErfInPlace, null);
    }

    @Override
    public Tensor linearRelu(Tensor x, Tensor w, Tensor bias) {
        return linearActivated(x, w, bias, "linearRelu", "bias_relu_rows_v", this::reluInPlace,
                CublasLt.Epilogue.RELU_BIAS);
    }

    /**
     * The GEMM with bias and activation: cuBLASLt's epilogue where it applies, else the GEMM, then bias and activation
     * in one pass (or the separate ops where the vector kernel cannot).
     */
    private Tensor linearActivated(Tensor x, Tensor w, Tensor bias, String op, String fused,
                                   java.util.function.Consumer<Tensor> activation, CublasLt.Epilogue epilogue) {
        CudaTensor lt = ltLinear(x, w, bias, op, epilogue);
        if (lt != null) {
            return lt;
        }
        return activated((CudaTensor) linear(x, w, null), bias, op, fused, activation, true);
    }

    /**
     * y = activation(y + bias) in place, the bias and activation in one pass where the vector kernel can. A float32
     * GELU (erf) output a 3xTF32 product takes as its input also writes its split, offered to the next product; with
     * {@code keepValues} false y itself is not written, only its split (the caller's next product is y's only reader).
     */
    private CudaTensor activated(CudaTensor y, Tensor bias, String op, String fused,
                                 java.util.function.Consumer<Tensor> activation, boolean keepValues) {
        CudaTensor b = fusableBias(y, bias, op);
        if (b == null) {
            if (bias != null) {
                addBias(y, bias, op);
            }
            activation.accept(y);
            return y;
        }
        if (y.numel() > 0 && fused.equals("bias_gelu_erf_rows_v") && computeType == DType.F32
                && products.takesSplitOf(y.rows(), y.cols())) {
            // the FFN's hidden activation: its split written here, for the product that reads it next
            long split = memory.allocate((long) y.rows() * 3 * y.cols() * Float.BYTES);
            elementwise.biasGeluErfSplit(y, b, split, keepValues);
            products.offer(y, split, keepValues);
            return y;
        }
        if (y.numel() > 0) {
            elementwise.biasActivation(fused, y, b);
        }
        return y;
    }

    /** epilogue(X·Wᵀ + b) as one cuBLASLt product into a new tensor, or null where that does not apply. */
    private CudaTensor ltLinear(Tensor x, Tensor w, Tensor bias, String op, CublasLt.Epilogue epilogue) {
        if (bias == null || epilogue == null || !products.epilogueEnabled()) {
            return null;
        }
        return products.epilogue(act(x, op, "x"), act(w, op, "w"), act(bias, op, "bias"), epilogue);
    }

    @Override
    public void addLinearInPlace(Tensor residual, Tensor x, Tensor w, Tensor bias) {
        CudaTensor r = act(residual, "addLinearInPlace", "residual");
        CudaTensor y = (CudaTensor) linear(x, w, null);
        sameShape(r, y, "addLinearInPlace");
        CudaTensor b = fusableBias(y, bias, "addLinearInPlace");
        if (b == null || !aligned(r.address())) {
            if (bias != null) {
                addBias(y, bias, "addLinearInPlace");
            }
            addInPlace(r, y);
            return;
        }
        if (y.numel() > 0) {
            elementwise.addBiasResidual(r, y, b);
        }
    }

    @Override
    public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                     Tensor normBias, float eps, Tensor out) {
        CudaTensor r = addLinearNorm(residual, x, w, bias, normWeight, normBias, eps, true, out);
        return r != null ? r : Ops.super.addLinearLayerNorm(residual, x, w, bias, normWeight, normBias, eps, out);
    }

    /**
     * The up product, then bias + GELU: in float32 where the down product is one 3xTF32 product that takes the hidden
     * activation's split whole, only that split is written (no float32 hidden activation: it has no other reader),
     * else as {@link #linearGeluErf}; then {@link #addLinearLayerNorm} with the down weight.
     */
    @Override
    public Tensor addGeluErfMlpLayerNorm(Tensor residual, Tensor x, Tensor up, Tensor upBias, Supplier<Tensor> down,
                                         Tensor downBias, Tensor normWeight, Tensor normBias, float eps, Tensor out) {
        if (!options.splitOnlyMlp()) {
            return Ops.super.addGeluErfMlpLayerNorm(residual, x, up, upBias, down, downBias, normWeight, normBias, eps,
                    out);
        }
        String op = "addGeluErfMlpLayerNorm";
        CudaTensor h = (CudaTensor) linear(x, up, null);
        Tensor dw = down.get(); // after the up product has read its weight
        boolean splitOnly = dw instanceof CudaTensor d && d.dense() && d.dtype() == computeType
                && d.cols() == h.cols() && products.linearTakesSplit(d.rows(), h.rows(), h.cols());
        activated(h, upBias, op, "bias_gelu_erf_rows_v", this::geluErfInPlace, !splitOnly);
        try {
            return addLinearLayerNorm(residual, h, dw, downBias, normWeight, normBias, eps, out);
        } finally {
            products.endOffer(); // spent by the down product; never left behind by a failure before it
        }
    }

    @Override
    public Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps,
                                   Tensor out) {
        CudaTensor r = addLinearNorm(residual, x, w, bias, normWeight, null, eps, false, out);
        return r != null ? r : Ops.super.addLinearRmsNorm(residual, x, w, bias, normWeight, eps, out);
    }

    /**
     * The GEMM, then one row kernel: residual += y + bias (rounded as the separate kernels round it, written
     * back) and out = norm(residual). Null when the shapes or alignment need the separate ops (nothing done).
     */
    private CudaTensor addLinearNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                     Tensor normBias, float eps, boolean layerNorm, Tensor into) {
        if (!options.fuseNorm()) {
            return null;
        }
        String op = layerNorm ? "addLinearLayerNorm" : "addLinearRmsNorm";
        CudaTensor r = act(residual, op, "residual");
        CudaTensor wt = weight(w, op);
        CudaTensor nw = act(normWeight, op, "normWeight");
        CudaTensor nb = normBias == null ? null : act(normBias, op, "normBias");
        CudaTensor yb = bias == null ? null : act(bias, op, "bias");
        int cols = wt.rows();
        if (r.cols() != cols || nw.numel() != cols || (nb != null && nb.numel() != cols)
                || (yb != null && yb.numel() != cols)) {
            return null; // the separate ops report the mismatch
        }
        CudaTensor given = into == null ? null : act(into, op, "out");
        if (given != null) {
            sameShape(r, given, op);
        }
        int vt = norm.vectorThreads(cols, r.address(), nw.address(), nb == null ? 0L : nb.address(),
                yb == null ? 0L : yb.address(), given == null ? 0L : given.address());
        if (vt == 0 || r.rows() == 0) {
            return null;
        }
        CudaTensor y = (CudaTensor) linear(x, w, null);
        sameShape(r, y, op);
        // out may be the residual itself: each thread writes back its own elements only, after reading them
        CudaTensor out = given != null ? given : alloc(r.rows(), cols, computeType);
        if (!aligned(y.address(), out.address())) {
            throw new IllegalStateException(op + ": arena tensors must be 16-byte aligned");
        }
        norm.addNorm(layerNorm, r, y, yb == null ? 0L : yb.address(), nw.address(), nb == null ? 0L : nb.address(),
                out, eps, vt);
        return out;
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        CudaTensor a = act(x, "layerNorm", "x");
        CudaTensor w = act(weight, "layerNorm", "weight");
        CudaTensor b = bias == null ? null : act(bias, "layerNorm", "bias");
        if (w.numel() != a.cols() || (b != null && b.numel() != a.cols())) {
            throw new IllegalArgumentException("layerNorm: weight/bias sizes do not match " + a.cols() + " features");
        }
        CudaTensor out = alloc(a.rows(), a.cols(), computeType);
        if (a.rows() == 0) {
            return out;
        }
        norm.layerNorm(a, w.address(), b == null ? 0L : b.address(), out, eps);
        return out;
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        CudaTensor a = act(x, "rmsNorm", "x");
        CudaTensor w = act(weight, "rmsNorm", "weight");
        if (w.numel() != a.cols()) {
            throw new IllegalArgumentException("rmsNorm: weight has " + w.numel() + " values for " + a.cols()
                    + " features");
        }
        CudaTensor out = alloc(a.rows(), a.cols(), computeType);
        if (a.rows() == 0) {
            return out;
        }
        norm.rmsNorm(a, w.address(), out, eps);
        return out;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        CudaTensor cq = act(q, "attention", "q");
        CudaTensor ck = act(k, "attention", "k");
        CudaTensor cv = act(v, "attention", "v");
        final int h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkQkv(cq, ck, cv, spec, "attention");
        return attentionPaths.attend(cq.address(), h * d, ck.address(), hkv * d, cv.address(), hkv * d, 0L, mask,
                positions, spec);
    }

    /** q [B·T, H·D], k and v [B·T, Hkv·D] for this spec, or a one-line error naming {@code op}. */
    private void checkQkv(CudaTensor cq, CudaTensor ck, CudaTensor cv, AttentionSpec spec, String op) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkHeads(spec);
        if (cq.rows() != b * t || cq.cols() != h * d || ck.rows() != b * t || ck.cols() != hkv * d
                || cv.rows() != b * t || cv.cols() != hkv * d) {
            throw new IllegalArgumentException(op + ": q " + cq.rows() + "x" + cq.cols() + ", k " + ck.rows() + "x"
                    + ck.cols() + ", v " + cv.rows() + "x" + cv.cols() + " do not match B=" + b + " T=" + t + " H=" + h
                    + " Hkv=" + hkv + " D=" + d);
        }
    }

    @Override
    public boolean foldsAttentionBias() {
        return options.flashBias();
    }

    /**
     * The three biases copied side by side into one packed q|k|v bias (a few KB) and taken by the fused kernel as
     * {@link #attentionPacked}'s is; where that kernel does not apply, each bias in its own pass, then {@link #attention}
     * (the bits of adding them in the products).
     */
    @Override
    public Tensor attentionBiased(Tensor q, Tensor k, Tensor v, Tensor bq, Tensor bk, Tensor bv, IntTensor mask,
                                  IntTensor positions, AttentionSpec spec) {
        CudaTensor cq = act(q, "attentionBiased", "q");
        CudaTensor ck = act(k, "attentionBiased", "k");
        CudaTensor cv = act(v, "attentionBiased", "v");
        final int h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        CudaTensor[] biases = {act(bq, "attentionBiased", "q bias"), act(bk, "attentionBiased", "k bias"),
            act(bv, "attentionBiased", "v bias")};
        long[] widths = {(long) h * d, (long) hkv * d, (long) hkv * d};
        for (int i = 0; i < 3; i++) {
            if (biases[i].numel() != widths[i]) {
                throw new IllegalArgumentException("attentionBiased: the " + "qkv".charAt(i) + " bias has "
                        + biases[i].numel() + " values for " + widths[i] + " columns");
            }
        }
        checkQkv(cq, ck, cv, spec, "attentionBiased");
        CudaTensor packed = alloc(1, (h + 2 * hkv) * d, computeType);
        if (attentionPaths.fusesBias(spec, packed.address(), cq.address(), h * d, ck.address(), hkv * d,
                cv.address(), hkv * d)) {
            long at = packed.address();
            for (int i = 0; i < 3; i++) {
                memory.copy(at, biases[i].address(), biases[i].bytes());
                at += biases[i].bytes();
            }
            return attentionPaths.attend(cq.address(), h * d, ck.address(), hkv * d, cv.address(), hkv * d,
                    packed.address(), mask, positions, spec);
        }
        addBias(cq, bq, "attentionBiased");
        addBias(ck, bk, "attentionBiased");
        addBias(cv, bv, "attentionBiased");
        return attention(q, k, v, mask, positions, spec);
    }

    /** Attention over q|k|v packed in one activation (one fused projection): no copies to split it. */
    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        CudaTensor c = act(qkv, "attentionPacked", "qkv");
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkHeads(spec);
        int ld = (h + 2 * hkv) * d;
        if (c.rows() != b * t || c.cols() != ld) {
            throw new IllegalArgumentException("attentionPacked: qkv " + c.rows() + "x" + c.cols() + " does not match"
                    + " B=" + b + " T=" + t + " H=" + h + " Hkv=" + hkv + " D=" + d + " (expected [B·T, (H + 2·Hkv)·D])");
        }
        long biasAddr = 0;
        if (bias != null) {
            CudaTensor bt = act(bias, "attentionPacked", "bias");
            if (bt.numel() != ld) {
                throw new IllegalArgumentException("attentionPacked: bias has " + bt.numel() + " values for " + ld
                        + " columns");
            }
            if (attentionPaths.fusesPackedBias(spec, bt.address(), c.address(), (long) t * ld)) {
                biasAddr = bt.address(); // the fused kernel adds it while loading q, k and v
            } else {
                CudaTensor biased = alloc(c.rows(), c.cols(), computeType);
                if (biased.numel() > 0) {
                    memory.copy(biased.address(), c.address(), c.bytes());
                    addBias(biased, bt, "attentionPacked");
                }
                c = biased;
            }
        }
        long eb = computeType.bytes();
        return attentionPaths.attend(c.address(), ld, c.address() + (long) h * d * eb, ld,
                c.address() + (long) (h + hkv) * d * eb, ld, biasAddr, mask, positions, spec);
    }

    /**
     * Attention with a key/value prefix: the decode kernel where it applies ({@link AttentionPaths#attendDecode}),
     * else the unfused prefix path ({@link AttentionPaths#attendPrefix}).
     */
    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec,
                            KvPrefix prefix) {
        if (prefix == null || prefix.length() == 0) {
            return attention(q, k, v, mask, positions, spec);
        }
        CudaTensor cq = act(q, "attention", "q");
        CudaTensor ck = act(k, "attention", "k");
        CudaTensor cv = act(v, "attention", "v");
        final int h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkQkv(cq, ck, cv, spec, "attention");
        CudaTensor[] kv = prefixTensors(prefix, spec);
        if (attentionPaths.decodes(spec, kv[0], kv[1], prefix.length())) {
            return attentionPaths.attendDecode(cq.address(), h * d, ck.address(), hkv * d, cv.address(), hkv * d, 0L,
                    0L, 0L, mask, positions, spec, kv[0], kv[1], prefix.length(), prefix.stride(),
                    prefix.fixedRows());
        }
        return attentionPaths.attendPrefix(cq.address(), h * d, ck.address(), hkv * d, cv.address(), hkv * d, mask,
                positions, spec, kv[0], kv[1], prefix.length(), prefix.stride(), prefix.fixedRows());
    }

    /**
     * Packed attention with a key/value prefix: the decode kernel where it applies (the bias added as q, k, v are
     * read), else the unfused prefix path with the bias added in its own pass first.
     */
    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec,
                                  KvPrefix prefix) {
        if (prefix == null || prefix.length() == 0) {
            return attentionPacked(qkv, bias, mask, positions, spec);
        }
        CudaTensor c = act(qkv, "attentionPacked", "qkv");
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkHeads(spec);
        int ld = (h + 2 * hkv) * d;
        if (c.rows() != b * t || c.cols() != ld) {
            throw new IllegalArgumentException("attentionPacked: qkv " + c.rows() + "x" + c.cols() + " does not match"
                    + " B=" + b + " T=" + t + " H=" + h + " Hkv=" + hkv + " D=" + d + " (expected [B·T, (H + 2·Hkv)·D])");
        }
        CudaTensor[] kv = prefixTensors(prefix, spec);
        long eb = computeType.bytes();
        CudaTensor bt = null;
        if (bias != null) {
            bt = act(bias, "attentionPacked", "bias");
            if (bt.numel() != ld) {
                throw new IllegalArgumentException("attentionPacked: bias has " + bt.numel() + " values for " + ld
                        + " columns");
            }
        }
        if (attentionPaths.decodes(spec, kv[0], kv[1], prefix.length())) {
            long qb = bt == null ? 0L : bt.address();
            return attentionPaths.attendDecode(c.address(), ld, c.address() + (long) h * d * eb, ld,
                    c.address() + (long) (h + hkv) * d * eb, ld, qb, qb == 0 ? 0L : qb + (long) h * d * eb,
                    qb == 0 ? 0L : qb + (long) (h + hkv) * d * eb, mask, positions, spec, kv[0], kv[1],
                    prefix.length(), prefix.stride(), prefix.fixedRows());
        }
        if (bt != null) {
            CudaTensor biased = alloc(c.rows(), c.cols(), computeType);
            if (biased.numel() > 0) {
                memory.copy(biased.address(), c.address(), c.bytes());
                addBias(biased, bt, "attentionPacked");
            }
            c = biased;
        }
        return attentionPaths.attendPrefix(c.address(), ld, c.address() + (long) h * d * eb, ld,
                c.address() + (long) (h + hkv) * d * eb, ld, mask, positions, spec, kv[0], kv[1], prefix.length(),
                prefix.stride(), prefix.fixedRows());
    }

    /** The prefix's keys and values, checked: dense CUDA tensors [p, Hkv·D] of the compute type or float32. */
    private CudaTensor[] prefixTensors(KvPrefix prefix, AttentionSpec spec) {
        CudaTensor[] kv = new CudaTensor[2];
        Tensor[] in = {prefix.keys(), prefix.values()};
        for (int i = 0; i < 2; i++) {
            String what = i == 0 ? "prefix keys" : "prefix values";
            if (!(in[i] instanceof CudaTensor) || !((CudaTensor) in[i]).dense()) {
                throw new IllegalArgumentException("attention: " + what + " are not a dense CUDA tensor");
            }
            CudaTensor c = (CudaTensor) in[i];
            products.settle(c);
            if (c.dtype() != computeType && c.dtype() != DType.F32) {
                throw new ZotuneException("attention: " + what + " are " + c.dtype() + " but the CUDA backend computes in "
                        + computeType + " (a prefix is the compute type or float32)");
            }
            if (c.cols() != spec.numKvHeads() * spec.headDim()) {
                throw new IllegalArgumentException("attention: prefix [" + c.rows() + ", " + c.cols() + "] does not match"
                        + " Hkv=" + spec.numKvHeads() + " D=" + spec.headDim() + " (expected [p, Hkv·D])");
            }
            kv[i] = c;
        }
        if (kv[0].dtype() != kv[1].dtype()) {
            throw new ZotuneException("attention: prefix keys are " + kv[0].dtype() + " but its values "
                    + kv[1].dtype());
        }
        if (prefix.perSequence() && prefix.sequences() != spec.batch()) {
            throw new IllegalArgumentException("attention: a per-sequence prefix of " + prefix.sequences()
                    + " sequences over a batch of " + spec.batch());
        }
        return kv;
    }

    /** The batched cache's store: the rows follow from the positions on the device ({@code attention_store_kv_seq}). */
    @Override
    public void storeKeysValues(Tensor k, int kCol, Tensor v, int vCol, Tensor bias, IntTensor positions,
                                AttentionSpec spec, Tensor keys, Tensor values, int stride, int fixedRows) {
        CudaTensor ck = act(k, "storeKeysValues", "k");
        CudaTensor cv = act(v, "storeKeysValues", "v");
        CudaTensor ko = act(keys, "storeKeysValues", "keys");
        CudaTensor vo = act(values, "storeKeysValues", "values");
        checkHeads(spec);
        int n = spec.batch() * spec.seq();
        int w = spec.numKvHeads() * spec.headDim();
        if (ck.rows() != n || cv.rows() != n || kCol < 0 || kCol + w > ck.cols() || vCol < 0 || vCol + w > cv.cols()
                || ko.cols() != w || vo.cols() != w || ko.rows() != vo.rows() || stride <= 0 || fixedRows < 0
                || fixedRows + spec.seq() > stride || (long) spec.batch() * stride != ko.rows()) {
            throw new IllegalArgumentException("storeKeysValues: k " + ck.rows() + "x" + ck.cols() + " from column "
                    + kCol + ", v " + cv.rows() + "x" + cv.cols() + " from column " + vCol + " into " + spec.batch()
                    + " blocks of " + stride + " rows (fixed " + fixedRows + ") of " + ko.rows() + "x" + ko.cols()
                    + " do not match B=" + spec.batch() + " T=" + spec.seq() + " Hkv=" + spec.numKvHeads() + " D="
                    + spec.headDim());
        }
        CudaIntTensor pos = (CudaIntTensor) positions;
        if (pos == null || pos.length() != n) {
            throw new IllegalArgumentException("storeKeysValues: a batched cache needs " + n + " positions");
        }
        long kBias = 0;
        long vBias = 0;
        long eb = computeType.bytes();
        if (bias != null) {
            CudaTensor bt = act(bias, "storeKeysValues", "bias");
            if (bt.numel() != ck.cols() || bt.numel() != cv.cols()) {
                throw new IllegalArgumentException("storeKeysValues: bias has " + bt.numel() + " values for "
                        + ck.cols() + " columns");
            }
            kBias = bt.address() + kCol * eb;
            vBias = bt.address() + vCol * eb;
        }
        if (n == 0) {
            return;
        }
        attentionPaths.storeKvSeq(ck.address() + kCol * eb, ck.cols(), cv.address() + vCol * eb, cv.cols(), kBias,
                vBias, pos, ko.address(), vo.address(), n, spec, stride, fixedRows);
    }

    private static void checkHeads(AttentionSpec spec) {
        int h = spec.numHeads(), hkv = spec.numKvHeads();
        if (h <= 0 || hkv <= 0 || h % hkv != 0) {
            throw new IllegalArgumentException("attention: " + h + " heads are not a multiple of " + hkv + " kv heads");
        }
    }

    /**
     * Each row's argmax on the device, [rows] ints: the lowest index on ties, NaN never chosen, -1 for a row of NaN
     * only (greedy decoding's next tokens, read back as B ints rather than B rows of logits). Capturable.
     */
    public IntTensor argmaxRows(Tensor x) {
        if (!(x instanceof CudaTensor)) {
            throw new IllegalArgumentException("argmaxRows: x is not a CUDA tensor");
        }
        CudaTensor c = (CudaTensor) x;
        products.settle(c);
        CudaIntTensor out = new CudaIntTensor(memory.allocate(4L * Math.max(1, c.rows())), c.rows());
        if (c.rows() > 0) {
            if (c.cols() == 0) {
                throw new IllegalArgumentException("argmaxRows: rows of 0 values have no argmax");
            }
            argmax.rows(c, out);
        }
        return out;
    }

    @Override
    public Tensor crossEntropy(Tensor logits, IntTensor targets) {
        if (!(logits instanceof CudaTensor)) {
            throw new IllegalArgumentException("crossEntropy: logits is not a CUDA tensor");
        }
        CudaTensor x = (CudaTensor) logits;
        products.settle(x);
        if (x.dtype() != computeType) {
            throw new ZotuneException("crossEntropy: logits is " + x.dtype() + " but the CUDA backend computes in "
                    + computeType);
        }
        CudaIntTensor tg = (CudaIntTensor) targets;
        if (tg.length() != x.rows()) {
            throw new IllegalArgumentException("crossEntropy: " + tg.length() + " targets for " + x.rows() + " rows");
        }
        CudaTensor out = alloc(1, 2, DType.F32);
        DeviceArena.Mark mark = memory.mark();
        try {
            long rowLoss = memory.allocate(4L * Math.max(1, x.rows()));
            if (x.rows() > 0) {
                crossEntropy.rows(x, tg, rowLoss);
            }
            crossEntropy.reduce(rowLoss, tg, out, x.rows());
        } finally {
            memory.reset(mark);
        }
        return out;
    }

    /**
     * The per-position losses of {@link #crossEntropy} before its reduction: a [rows, 1] float32 tensor with
     * −log softmax(logits[r])[targets[r]] (0 where the target is negative), the values crossEntropy sums. For losses
     * computed on the device from them (the captured ZO step's choice losses).
     */
    public Tensor tokenLosses(Tensor logits, IntTensor targets) {
        if (!(logits instanceof CudaTensor x) || x.dtype() != computeType) {
            throw new IllegalArgumentException("tokenLosses: logits is not a CUDA tensor in " + computeType);
        }
        CudaIntTensor tg = (CudaIntTensor) targets;
        if (tg.length() != x.rows() || x.rows() == 0) {
            throw new IllegalArgumentException("tokenLosses: " + tg.length() + " targets for " + x.rows() + " rows");
        }
        CudaTensor out = alloc(x.rows(), 1, DType.F32);
        crossEntropy.rows(x, tg, out.address());
        return out;
    }

    /** An uninitialised [rows, cols] float32 tensor in the current scope, for kernels outside the ops to write. */
    public Tensor scratch(int rows, int cols) {
        open();
        return alloc(rows, cols, DType.F32);
    }
}
