package org.zotune.backend.cuda;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.cuda.Cublas;
import org.zotune.cuda.CublasLt;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaGraph;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.Kernel;
import org.zotune.cuda.KernelArgs;
import org.zotune.cuda.KernelModule;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * {@link Ops} on one CUDA device: cuBLAS for the matrix products, zotune's kernels (native/kernels)
 * for everything else, all on one non-blocking stream. Activations come from a {@link DeviceArena}
 * reset per {@link #scope()}, so the same sequence of ops gets the same addresses and can be captured
 * once as a CUDA graph ({@link #captureGraph}) and replayed. Nothing here allocates device memory or
 * waits for the device per launch, except {@link #toHost} (which must synchronise). Not thread-safe.
 */
public final class CudaOps implements Ops {
    private static final int THREADS = 256;
    /** Output elements from which a GEMM with an unaligned output row is computed into padded rows. */
    private static final long PADDED_GEMM_MIN = 1L << 16;
    /** 16-byte vectors per thread in the register-held norm kernels (native/kernels/norm.cu NORM_NV). */
    private static final int NORM_NV = 4;
    /** Head dimensions with a fused (flash) attention kernel (native/kernels/flash_attention.cu), bf16 and f16. */
    private static final int[] FLASH_HEAD_DIMS = {64, 80, 96, 128};
    /** -Dzotune.cuda.flashAttention=false selects the unfused attention (scores through device memory). */
    /** -Dzotune.cuda.fuseNorm=false runs the residual addition and the following norm as separate kernels. */
    private static final boolean FUSE_NORM = Boolean.parseBoolean(System.getProperty("zotune.cuda.fuseNorm", "true"));
    /** -Dzotune.cuda.fuseBias=false runs bias, activation and residual addition as separate kernels. */
    private static final boolean FUSE_BIAS = Boolean.parseBoolean(System.getProperty("zotune.cuda.fuseBias", "true"));
    /** -Dzotune.cuda.stridedLogits=false copies padded LM-head rows out densely. */
    private static final boolean STRIDED_LOGITS =
            Boolean.parseBoolean(System.getProperty("zotune.cuda.stridedLogits", "true"));
    /** -Dzotune.cuda.flashBias=false adds a packed q|k|v bias in its own pass before fused attention. */
    private static final boolean FLASH_BIAS = Boolean.parseBoolean(System.getProperty("zotune.cuda.flashBias", "true"));
    /**
     * Head dimensions up to this use the two-stage (cp.async) fused attention, whose two K/V stages fit
     * static shared memory; -Dzotune.cuda.flashPipeline=false keeps the single-stage kernel.
     */
    private static final int FLASH_PIPE_MAX_D = 80;
    private static final boolean FLASH_PIPE =
            Boolean.parseBoolean(System.getProperty("zotune.cuda.flashPipeline", "true"));
    private static final boolean FLASH = Boolean.parseBoolean(System.getProperty("zotune.cuda.flashAttention", "true"));
    /**
     * -Dzotune.cuda.ltEpilogue=true (or {@link #ltEpilogue}): in bf16 / f16, bias + ReLU / GELU as cuBLASLt's GEMM
     * epilogue instead of a pass of ours over the rounded product. Off by default: measured 3–5 % faster forwards but
     * 10–40 % larger logit errors against transformers' f32 outputs (benchmarks/NOTES.md, session 8).
     */
    private static final boolean LT_EPILOGUE =
            Boolean.parseBoolean(System.getProperty("zotune.cuda.ltEpilogue", "false"));

    private final DType computeType;
    private boolean ltEpilogue = LT_EPILOGUE;
    private final Cuda.Availability device;
    private final CudaStream stream;
    private final Cublas cublas;
    private final KernelModule module;
    private final Map<String, Kernel> kernels = new HashMap<>();
    private final DeviceArena arena;
    private final PinnedStaging staging;
    private final int maxGrid;
    private int scopeDepth;
    private boolean capturing;
    private PinnedBuffer capturePool; // host inputs made inside a capture: owned by the graph
    private long capturePoolUsed;
    private boolean closed;

    private CudaOps(DType computeType) {
        this.computeType = computeType;
        this.device = Cuda.require();
        this.maxGrid = device.multiprocessors() * 32;
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
        this.cublas = c;
        this.module = m;
        this.staging = st;
        this.arena = new DeviceArena(Long.getLong("zotune.cuda.arenaChunkMiB", 256L) << 20);
        registerKernels();
    }

    /**
     * The CUDA backend with activations in {@code computeType}: f32, or bf16 / f16 with fp32 accumulation.
     *
     * @throws org.zotune.cuda.CudaUnavailableException when no device, driver or kernels are usable
     */
    public static CudaOps create(DType computeType) {
        suffix(computeType); // every DType has kernels; a new one must get them before it gets here
        return new CudaOps(computeType);
    }

    /** The kernel-name suffix of a storage type (native/kernels: name_f32, name_bf16, name_f16). */
    private static String suffix(DType t) {
        switch (t) {
            case F32: return "f32";
            case BF16: return "bf16";
            case F16: return "f16";
            default: throw new ZotuneException("CUDA compute type must be f32, bf16 or f16, not " + t);
        }
    }

    private void registerKernels() {
        for (String t : new String[] {"f32", "bf16", "f16"}) {
            reg("embedding_gather_" + t, "pppiii");
            reg("add_inplace_" + t, "ppl");
            reg("gelu_tanh_inplace_" + t, "pl");
            reg("relu_inplace_" + t, "pl");
            reg("silu_mul_" + t, "pppl");
            reg("add_bias_rows_" + t, "ppli");
            reg("layernorm_" + t, "ppppif");
            reg("add_layernorm_v_" + t, "ppppppif");
            reg("add_rmsnorm_v_" + t, "pppppif");
            reg("rmsnorm_" + t, "pppif");
            reg("attention_split_qkv_rope_" + t, "pppppppiiiiiiiiiddddi");
            reg("attention_split_qkv_v_" + t, "ppppppiiiiiiii");
            reg("attention_merge_heads_v_" + t, "ppiiii");
            for (String dir : new String[] {"", "bidir_"}) {
                if (!t.equals("f32")) {
                    for (int d : FLASH_HEAD_DIMS) {
                        reg("flash_attention_" + dir + "d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                        if (d <= FLASH_PIPE_MAX_D) {
                            reg("flash_attention_" + dir + "p_d" + d + "_" + t, "ppppppiiiiiiiiiiiiiiif");
                        }
                    }
                }
            }
            for (String dir : new String[] {"causal", "bidir"}) {
                for (int nj : new int[] {1, 2, 4, 8}) {
                    reg("attention_" + dir + "_softmax_w" + nj + "_" + t, "pppiil");
                }
                reg("attention_" + dir + "_softmax_" + t, "pppii");
            }
            reg("add_inplace_v_" + t, "ppl");
            reg("gelu_tanh_inplace_v_" + t, "pl");
            reg("relu_inplace_v_" + t, "pl");
            reg("silu_mul_v_" + t, "pppl");
            reg("add_bias_rows_v_" + t, "ppli");
            reg("layernorm_v_" + t, "ppppif");
            reg("bias_gelu_rows_v_" + t, "ppli");
            reg("bias_relu_rows_v_" + t, "ppli");
            reg("add_bias_residual_v_" + t, "pppli");
            reg("rmsnorm_v_" + t, "pppif");
            reg("attention_merge_heads_" + t, "ppiiii");
            reg("cross_entropy_rows_" + t, "pppii");
        }
        reg("cast_f32_to_bf16", "ppl");
        reg("cast_bf16_to_f32", "ppl");
        reg("cast_f32_to_f16", "ppl");
        reg("cast_f16_to_f32", "ppl");
        reg("cross_entropy_reduce", "pppi");
    }

    private void reg(String name, String signature) {
        kernels.put(name, module.kernel(name, signature));
    }

    private Kernel kernel(String base, DType t) {
        return kernels.get(base + "_" + suffix(t));
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

    /** Device memory held by the activation arena (it grows, never shrinks, until close). */
    public long arenaBytes() {
        return arena.reservedBytes();
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
        arena.close();
        staging.close();
        module.close();
        cublas.close();
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
        if (capturing) {
            throw new ZotuneException("createParameters cannot run inside a CUDA graph capture");
        }
        return CudaParameters.upload(tensors, dtype, stream);
    }

    @Override
    public Scope scope() {
        open();
        final DeviceArena.Mark mark = arena.mark();
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
                arena.reset(mark);
            }
        };
    }

    private CudaTensor alloc(int rows, int cols, DType t) {
        return new CudaTensor(arena.allocate((long) rows * cols * t.bytes()), rows, cols, t);
    }

    private void noCapture(String what) {
        if (capturing) {
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
        CudaIntTensor t = new CudaIntTensor(arena.allocate(4L * Math.max(1, values.length)), values.length);
        if (values.length > 0) {
            upload(t.address(), 4L * values.length, b -> b.asIntBuffer().put(values));
        }
        return t;
    }

    /** Overwrites an int tensor's values (asynchronously, ordered on the stream): inputs of a graph replay. */
    public void write(IntTensor target, int[] values) {
        open();
        CudaIntTensor t = (CudaIntTensor) target;
        if (values.length != t.length()) {
            throw new IllegalArgumentException("writing " + values.length + " ints into an int tensor of " + t.length());
        }
        if (values.length > 0) {
            upload(t.address(), 4L * values.length, b -> b.asIntBuffer().put(values));
        }
    }

    /** A [rows, cols] tensor in the compute type holding {@code values} (rounded to the compute type). */
    public Tensor tensor(float[] values, int rows, int cols) {
        if (values.length != (long) rows * cols) {
            throw new IllegalArgumentException(values.length + " values for a " + rows + "x" + cols + " tensor");
        }
        open();
        CudaTensor t = alloc(rows, cols, computeType);
        if (values.length > 0) {
            upload(t.address(), t.bytes(), b -> {
                if (computeType == DType.F32) {
                    b.asFloatBuffer().put(values);
                } else if (computeType == DType.BF16) {
                    for (float v : values) {
                        b.putShort(DType.floatToBf16(v));
                    }
                } else {
                    for (float v : values) {
                        b.putShort(DType.floatToF16(v));
                    }
                }
            });
        }
        return t;
    }

    /**
     * Host → device through pinned memory, ordered on the stream: the staging ring when eager (fenced
     * so the region is not reused before the copy ran), the graph's own pool while capturing.
     */
    private void upload(long dst, long bytes, java.util.function.Consumer<ByteBuffer> fill) {
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("upload of " + bytes + " bytes: too large for one host staging copy");
        }
        if (capturing) {
            long n = (bytes + 255) / 256 * 256;
            if (capturePoolUsed + n > capturePool.bytes()) {
                throw new ZotuneException("host inputs created inside a CUDA graph capture exceed "
                        + (capturePool.bytes() >> 20) + " MiB: create them before capturing, or raise"
                        + " -Dzotune.cuda.captureHostMiB");
            }
            long off = capturePoolUsed;
            capturePoolUsed += n;
            fill.accept(capturePool.slice(off, (int) bytes));
            copyHtoD(dst, capturePool, off, bytes);
        } else {
            long off = staging.acquire(bytes);
            fill.accept(staging.buffer().slice(off, (int) bytes));
            copyHtoD(dst, staging.buffer(), off, bytes);
            staging.fence();
        }
    }

    private void copyHtoD(long dst, PinnedBuffer src, long srcOffset, long bytes) {
        org.bytedeco.javacpp.BytePointer p = new org.bytedeco.javacpp.BytePointer(src.pointer()).position(srcOffset);
        Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(new org.zotune.cuda.DevicePointer(dst), p, bytes,
                org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice, stream.handle()), "cudaMemcpyAsync(upload)");
    }

    @Override
    public float[] toHost(Tensor t) {
        open();
        noCapture("toHost()");
        CudaTensor c = (CudaTensor) t;
        long bytes = c.bytes();
        float[] out = new float[(int) c.numel()];
        if (bytes == 0) {
            return out;
        }
        long off = staging.acquire(bytes);
        org.bytedeco.javacpp.BytePointer dst = new org.bytedeco.javacpp.BytePointer(staging.buffer().pointer())
                .position(off);
        if (c.dense()) {
            Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(dst, new org.zotune.cuda.DevicePointer(
                    c.address()), bytes, org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost, stream.handle()),
                    "cudaMemcpyAsync(toHost)");
        } else {
            long eb = c.dtype().bytes();
            Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpy2DAsync(dst, c.cols() * eb,
                    new org.zotune.cuda.DevicePointer(c.address()), c.ld() * eb, c.cols() * eb, c.rows(),
                    org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost, stream.handle()),
                    "cudaMemcpy2DAsync(toHost)");
        }
        stream.synchronize();
        ByteBuffer b = staging.buffer().slice(off, (int) bytes);
        if (c.dtype() == DType.F32) {
            b.asFloatBuffer().get(out);
        } else if (c.dtype() == DType.BF16) {
            for (int i = 0; i < out.length; i++) {
                out[i] = DType.bf16ToFloat(b.getShort(2 * i));
            }
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = DType.f16ToFloat(b.getShort(2 * i));
            }
        }
        return out;
    }

    /** Reads int values back (synchronises). */
    public int[] toHost(IntTensor t) {
        open();
        noCapture("toHost()");
        CudaIntTensor c = (CudaIntTensor) t;
        int[] out = new int[c.length()];
        if (out.length == 0) {
            return out;
        }
        long bytes = 4L * out.length;
        long off = staging.acquire(bytes);
        org.bytedeco.javacpp.BytePointer dst = new org.bytedeco.javacpp.BytePointer(staging.buffer().pointer())
                .position(off);
        Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpyAsync(dst, new org.zotune.cuda.DevicePointer(c.address()),
                bytes, org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost, stream.handle()),
                "cudaMemcpyAsync(toHost)");
        stream.synchronize();
        staging.buffer().slice(off, (int) bytes).asIntBuffer().get(out);
        return out;
    }

    @Override
    public Tensor rows(Tensor t, int from, int to) {
        CudaTensor c = (CudaTensor) t;
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
        if (capturing) {
            throw new IllegalStateException("already capturing a graph");
        }
        PinnedBuffer pool = PinnedBuffer.allocate(Long.getLong("zotune.cuda.captureHostMiB", 4L) << 20);
        capturePool = pool;
        capturePoolUsed = 0;
        capturing = true;
        try {
            return new Graph(CudaGraph.capture(stream, body), pool);
        } catch (RuntimeException | Error e) {
            pool.close();
            throw e;
        } finally {
            capturing = false;
            capturePool = null;
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
        return 16 / computeType.bytes();
    }

    /** Whether every address is 16-byte aligned (0 = absent counts as aligned). */
    private static boolean aligned(long... addresses) {
        for (long a : addresses) {
            if ((a & 15) != 0) {
                return false;
            }
        }
        return true;
    }

    private int grid(long n) {
        return (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, maxGrid));
    }

    /** Threads for a one-block-per-row kernel: a multiple of 32, at most 1024. */
    private static int rowThreads(int cols) {
        int t = Math.min(1024, Math.max(32, Integer.highestOneBit(Math.max(1, cols - 1)) << 1));
        return Math.min(t, 1024);
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
        Kernel k = kernel("embedding_gather", computeType);
        k.args().ptr(0, id.address()).ptr(1, tab.address()).ptr(2, out.address())
                .i32(3, id.length()).i32(4, tab.cols()).i32(5, tab.rows());
        k.launch(grid(out.numel()), THREADS, stream);
        return out;
    }

    @Override
    public void addInPlace(Tensor x, Tensor y) {
        CudaTensor a = act(x, "addInPlace", "x");
        CudaTensor b = act(y, "addInPlace", "y");
        sameShape(a, b, "addInPlace");
        elementwise("add_inplace", a.numel(), a.address(), b.address());
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        CudaTensor a = act(dst, "copy", "dst");
        CudaTensor b = act(src, "copy", "src");
        sameShape(a, b, "copy");
        if (a.numel() > 0 && a.address() != b.address()) {
            DeviceBuffer.copy(a.address(), b.address(), a.numel() * computeType.bytes(), stream);
        }
    }

    private void elementwise(String base, long n, long... ptrs) {
        if (n == 0) {
            return;
        }
        boolean vec = aligned(ptrs);
        Kernel k = kernel(vec ? base + "_v" : base, computeType);
        for (int i = 0; i < ptrs.length; i++) {
            k.args().ptr(i, ptrs[i]);
        }
        k.args().i64(ptrs.length, n);
        k.launch(grid(vec ? (n + vecWidth() - 1) / vecWidth() : n), THREADS, stream);
    }

    @Override
    public void geluTanhInPlace(Tensor x) {
        CudaTensor a = act(x, "geluTanhInPlace", "x");
        elementwise("gelu_tanh_inplace", a.numel(), a.address());
    }

    @Override
    public void reluInPlace(Tensor x) {
        CudaTensor a = act(x, "reluInPlace", "x");
        elementwise("relu_inplace", a.numel(), a.address());
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        CudaTensor g = act(gate, "siluMul", "gate");
        CudaTensor u = act(up, "siluMul", "up");
        sameShape(g, u, "siluMul");
        CudaTensor out = alloc(g.rows(), g.cols(), computeType);
        elementwise("silu_mul", g.numel(), g.address(), u.address(), out.address());
        return out;
    }

    /** A copy of {@code t} converted to {@code to} (f32 ↔ bf16, f32 ↔ f16; same dtype copies). */
    public Tensor cast(Tensor t, DType to) {
        CudaTensor c = (CudaTensor) t;
        if (!c.dense()) {
            throw new ZotuneException("cast: padded logits tensors are only read by crossEntropy, rows and toHost");
        }
        CudaTensor out = alloc(c.rows(), c.cols(), to);
        if (c.numel() == 0) {
            return out;
        }
        if (c.dtype() == to) {
            org.zotune.cuda.DeviceBuffer.copy(out.address(), c.address(), c.bytes(), stream);
            return out;
        }
        String name;
        if (c.dtype() == DType.F32 && to != DType.F32) {
            name = "cast_f32_to_" + suffix(to);
        } else if (c.dtype() != DType.F32 && to == DType.F32) {
            name = "cast_" + suffix(c.dtype()) + "_to_f32";
        } else {
            throw new ZotuneException("cast from " + c.dtype() + " to " + to + " is not supported on CUDA");
        }
        Kernel k = kernels.get(name);
        k.args().ptr(0, c.address()).ptr(1, out.address()).i64(2, c.numel());
        k.launch(grid(c.numel()), THREADS, stream);
        return out;
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        CudaTensor a = act(x, "linear", "x");
        CudaTensor wt = act(w, "linear", "w");
        if (a.cols() != wt.cols()) {
            throw new IllegalArgumentException("linear: x is " + a.rows() + "x" + a.cols() + " but w is " + wt.rows()
                    + "x" + wt.cols() + " (expected [out, " + a.cols() + "])");
        }
        CudaTensor out = alloc(a.rows(), wt.rows(), computeType);
        if (out.numel() == 0) {
            return out;
        }
        int m = wt.rows();
        if (m % vecWidth() != 0 && (long) a.rows() * m >= PADDED_GEMM_MIN) {
            DeviceArena.Mark mark = arena.mark();
            try {
                CudaTensor padded = paddedProduct(a, wt);
                long eb = computeType.bytes();
                Cuda.check(org.bytedeco.cuda.global.cudart.cudaMemcpy2DAsync(
                        new org.zotune.cuda.DevicePointer(out.address()), m * eb,
                        new org.zotune.cuda.DevicePointer(padded.address()), padded.ld() * eb, m * eb, a.rows(),
                        org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice, stream.handle()),
                        "cudaMemcpy2DAsync(linear)");
            } finally {
                arena.reset(mark);
            }
        } else {
            // row-major Y = X·Wᵀ is column-major Yᵀ = W·Xᵀ: A = W (k×m stored, transposed), B = X
            cublas.gemm(true, false, m, a.rows(), a.cols(), 1f, wt.address(), computeType, wt.cols(),
                    a.address(), computeType, a.cols(), 0f, out.address(), computeType, m);
        }
        if (bias != null) {
            addBias(out, bias, "linear");
        }
        return out;
    }

    /**
     * X·Wᵀ into rows padded to a multiple of 64 elements. An output width that is not a multiple of 16
     * bytes (GPT-2's vocabulary, 50257) makes cuBLAS fall back to an align-1 sm75 kernel, 10x slower,
     * even with a padded ldc (measured): so the aligned bulk of W's rows is one GEMM and the last
     * (fewer than 8) rows a second, tiny one, both writing into the padded rows.
     */
    private CudaTensor paddedProduct(CudaTensor a, CudaTensor wt) {
        int m = wt.rows();
        int ldc = (m + 63) / 64 * 64;
        long eb = computeType.bytes();
        CudaTensor padded = new CudaTensor(arena.allocate((long) a.rows() * ldc * eb), a.rows(), m, computeType, ldc);
        int bulk = m / vecWidth() * vecWidth();
        if (bulk > 0) {
            cublas.gemm(true, false, bulk, a.rows(), a.cols(), 1f, wt.address(), computeType, wt.cols(),
                    a.address(), computeType, a.cols(), 0f, padded.address(), computeType, ldc);
        }
        cublas.gemm(true, false, m - bulk, a.rows(), a.cols(), 1f, wt.address() + (long) bulk * wt.cols() * eb,
                computeType, wt.cols(), a.address(), computeType, a.cols(), 0f, padded.address() + bulk * eb,
                computeType, ldc);
        return padded;
    }

    /**
     * The LM head. With an output width that is not a multiple of 16 bytes the result keeps its padded
     * rows (no copy): crossEntropy, rows and toHost read it; other ops reject it.
     */
    @Override
    public Tensor logits(Tensor x, Tensor w) {
        CudaTensor a = act(x, "logits", "x");
        CudaTensor wt = act(w, "logits", "w");
        if (!STRIDED_LOGITS || a.cols() != wt.cols() || wt.rows() % vecWidth() == 0
                || (long) a.rows() * wt.rows() < PADDED_GEMM_MIN) {
            return linear(x, w, null);
        }
        return paddedProduct(a, wt);
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
        boolean vec = out.cols() % vecWidth() == 0 && aligned(out.address(), b.address());
        Kernel k = kernel(vec ? "add_bias_rows_v" : "add_bias_rows", computeType);
        k.args().ptr(0, out.address()).ptr(1, b.address()).i64(2, out.rows()).i32(3, out.cols());
        k.launch(grid(vec ? out.numel() / vecWidth() : out.numel()), THREADS, stream);
    }

    /** A bias that a 16-byte vector kernel can fuse after the GEMM (null when it cannot). */
    private CudaTensor fusableBias(CudaTensor out, Tensor bias, String op) {
        if (!FUSE_BIAS || bias == null) {
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
     * or the GEMM and a fused pass of ours (default: -Dzotune.cuda.ltEpilogue, false).
     */
    public CudaOps ltEpilogue(boolean on) {
        this.ltEpilogue = on;
        return this;
    }

    /** Products that took cuBLASLt's epilogue so far (diagnostics and tests). */
    public long ltProducts() {
        return cublas.lt().products();
    }

    @Override
    public Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
        return linearActivated(x, w, bias, "linearGeluTanh", "bias_gelu_rows_v", this::geluTanhInPlace,
                CublasLt.Epilogue.GELU_BIAS);
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
        CudaTensor y = (CudaTensor) linear(x, w, null);
        CudaTensor b = fusableBias(y, bias, op);
        if (b == null) {
            if (bias != null) {
                addBias(y, bias, op);
            }
            activation.accept(y);
            return y;
        }
        if (y.numel() > 0) {
            Kernel k = kernel(fused, computeType);
            k.args().ptr(0, y.address()).ptr(1, b.address()).i64(2, y.rows()).i32(3, y.cols());
            k.launch(grid(y.numel() / vecWidth()), THREADS, stream);
        }
        return y;
    }

    /**
     * epilogue(X·Wᵀ + b) as one cuBLASLt product into a new tensor, or null where that does not apply: f32 (our pass
     * keeps float32 results in the reference's order), no bias, widths or addresses not 16-byte multiples, or no
     * cuBLASLt algorithm for the shape.
     */
    private CudaTensor ltLinear(Tensor x, Tensor w, Tensor bias, String op, CublasLt.Epilogue epilogue) {
        if (!ltEpilogue || bias == null || computeType == DType.F32) {
            return null;
        }
        CudaTensor a = act(x, op, "x");
        CudaTensor wt = act(w, op, "w");
        CudaTensor b = act(bias, op, "bias");
        if (a.cols() != wt.cols() || b.numel() != wt.rows()) {
            return null; // the unfused path reports it
        }
        int m = wt.rows();
        if (a.rows() == 0 || m % vecWidth() != 0 || a.cols() % vecWidth() != 0
                || !aligned(a.address(), wt.address(), b.address())) {
            return null;
        }
        DeviceArena.Mark mark = arena.mark();
        CudaTensor out = alloc(a.rows(), m, computeType);
        if (!aligned(out.address()) || !cublas.lt().matmulTransA(m, a.rows(), a.cols(), wt.address(), wt.cols(),
                a.address(), a.cols(), out.address(), m, b.address(), computeType, epilogue)) {
            arena.reset(mark);
            return null;
        }
        return out;
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
            Kernel k = kernel("add_bias_residual_v", computeType);
            k.args().ptr(0, r.address()).ptr(1, y.address()).ptr(2, b.address()).i64(3, y.rows()).i32(4, y.cols());
            k.launch(grid(y.numel() / vecWidth()), THREADS, stream);
        }
    }

    @Override
    public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                     Tensor normBias, float eps, Tensor out) {
        CudaTensor r = addLinearNorm(residual, x, w, bias, normWeight, normBias, eps, true, out);
        return r != null ? r : Ops.super.addLinearLayerNorm(residual, x, w, bias, normWeight, normBias, eps, out);
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
        if (!FUSE_NORM) {
            return null;
        }
        String op = layerNorm ? "addLinearLayerNorm" : "addLinearRmsNorm";
        CudaTensor r = act(residual, op, "residual");
        CudaTensor wt = act(w, op, "w");
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
        int vt = normVectorThreads(cols, r.address(), nw.address(), nb == null ? 0L : nb.address(),
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
        Kernel k = kernel(layerNorm ? "add_layernorm_v" : "add_rmsnorm_v", computeType);
        KernelArgs a = k.args().ptr(0, r.address()).ptr(1, y.address()).ptr(2, yb == null ? 0L : yb.address())
                .ptr(3, nw.address());
        if (layerNorm) {
            a.ptr(4, nb == null ? 0L : nb.address()).ptr(5, out.address()).i32(6, cols).f32(7, eps);
        } else {
            a.ptr(4, out.address()).i32(5, cols).f32(6, eps);
        }
        k.launch(r.rows(), 1, 1, vt, 1, 1, 0, stream);
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
        int vt = normVectorThreads(a.cols(), a.address(), w.address(), b == null ? 0L : b.address(), out.address());
        Kernel k = kernel(vt > 0 ? "layernorm_v" : "layernorm", computeType);
        k.args().ptr(0, a.address()).ptr(1, w.address()).ptr(2, b == null ? 0L : b.address()).ptr(3, out.address())
                .i32(4, a.cols()).f32(5, eps);
        k.launch(a.rows(), 1, 1, vt > 0 ? vt : rowThreads(a.cols()), 1, 1, 0, stream);
        return out;
    }

    /**
     * Threads per row for the register-held norm kernels (each thread keeps up to NORM_NV vectors), or 0
     * when the row does not fit them (width not a multiple of the vector, unaligned, or too wide).
     */
    private int normVectorThreads(int cols, long... addresses) {
        int vw = vecWidth();
        if (cols % vw != 0 || !aligned(addresses)) {
            return 0;
        }
        int threads = ((cols / vw + NORM_NV - 1) / NORM_NV + 31) / 32 * 32;
        return threads <= 1024 ? Math.max(32, threads) : 0;
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
        int vt = normVectorThreads(a.cols(), a.address(), w.address(), out.address());
        Kernel k = kernel(vt > 0 ? "rmsnorm_v" : "rmsnorm", computeType);
        k.args().ptr(0, a.address()).ptr(1, w.address()).ptr(2, out.address()).i32(3, a.cols()).f32(4, eps);
        k.launch(a.rows(), 1, 1, vt > 0 ? vt : rowThreads(a.cols()), 1, 1, 0, stream);
        return out;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        CudaTensor cq = act(q, "attention", "q");
        CudaTensor ck = act(k, "attention", "k");
        CudaTensor cv = act(v, "attention", "v");
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        checkHeads(spec);
        if (cq.rows() != b * t || cq.cols() != h * d || ck.rows() != b * t || ck.cols() != hkv * d
                || cv.rows() != b * t || cv.cols() != hkv * d) {
            throw new IllegalArgumentException("attention: q " + cq.rows() + "x" + cq.cols() + ", k " + ck.rows() + "x"
                    + ck.cols() + ", v " + cv.rows() + "x" + cv.cols() + " do not match B=" + b + " T=" + t + " H=" + h
                    + " Hkv=" + hkv + " D=" + d);
        }
        return attention(cq.address(), h * d, ck.address(), hkv * d, cv.address(), hkv * d, 0L, mask, positions, spec);
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
            if (FLASH_BIAS && flashAttention(spec) && !spec.rope() && aligned(bt.address(), c.address())
                    && (long) t * ld < Integer.MAX_VALUE) {
                biasAddr = bt.address(); // the fused kernel adds it while loading q, k and v
            } else {
                CudaTensor biased = alloc(c.rows(), c.cols(), computeType);
                if (biased.numel() > 0) {
                    org.zotune.cuda.DeviceBuffer.copy(biased.address(), c.address(), c.bytes(), stream);
                    addBias(biased, bt, "attentionPacked");
                }
                c = biased;
            }
        }
        long eb = computeType.bytes();
        return attention(c.address(), ld, c.address() + (long) h * d * eb, ld, c.address() + (long) (h + hkv) * d * eb,
                ld, biasAddr, mask, positions, spec);
    }

    private static void checkHeads(AttentionSpec spec) {
        int h = spec.numHeads(), hkv = spec.numKvHeads();
        if (h <= 0 || hkv <= 0 || h % hkv != 0) {
            throw new IllegalArgumentException("attention: " + h + " heads are not a multiple of " + hkv + " kv heads");
        }
    }

    /**
     * q, k, v rows are ldq, ldk, ldv elements apart (their widths H·D, Hkv·D, Hkv·D); {@code packedBias}
     * (0 = none) is a packed q|k|v bias, only passed when the fused kernel will take it.
     */
    private Tensor attention(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, long packedBias,
                             IntTensor mask, IntTensor positions, AttentionSpec spec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        CudaIntTensor m = (CudaIntTensor) mask;
        if (m.length() != b * t) {
            throw new IllegalArgumentException("attention: mask has " + m.length() + " values for " + b * t + " tokens");
        }
        boolean directFlash = flashAttention(spec) && !spec.rope() && ldq % 8 == 0 && ldk % 8 == 0 && ldv % 8 == 0
                && aligned(qAddr, kAddr, vAddr) && (long) t * Math.max(ldq, Math.max(ldk, ldv)) < Integer.MAX_VALUE;
        if (packedBias != 0 && !directFlash) {
            throw new IllegalStateException("attention: a packed bias needs the fused kernel"); // attentionPacked checks
        }
        CudaIntTensor pos = (CudaIntTensor) positions;
        if (spec.rope()) {
            if (d % 2 != 0) {
                throw new IllegalArgumentException("attention: RoPE needs an even head dimension, got " + d);
            }
            if (pos == null || pos.length() != b * t) {
                throw new IllegalArgumentException("attention: RoPE needs " + b * t + " positions");
            }
        }
        CudaTensor out = alloc(b * t, h * d, computeType);
        if (out.numel() == 0) {
            return out;
        }
        DeviceArena.Mark mark = arena.mark(); // temporaries below are released on return
        try {
            long perHead = (long) t * d;
            long n = (long) b * h * perHead;
            int vw = vecWidth();
            if (flashAttention(spec)) {
                long hd = (long) h * d;
                if (directFlash) {
                    launchFlash(qAddr, t * ldq, ldq, d, kAddr, t * ldk, ldk, d, vAddr, t * ldv, ldv, d, hkv, out,
                            m, packedBias, spec);
                    return out;
                }
                if (hd * t < Integer.MAX_VALUE) {
                    // RoPE (or unaligned rows): rotate and split into [B, H, T, D] first, then fuse the rest
                    CudaTensor qh = alloc(b * h * t, d, computeType);
                    CudaTensor kh = alloc(b * h * t, d, computeType);
                    CudaTensor vh = alloc(b * h * t, d, computeType);
                    splitHeads(qAddr, ldq, kAddr, ldk, vAddr, ldv, qh, kh, vh, pos, spec, n, false);
                    int bs = (int) (hd * t);
                    launchFlash(qh.address(), bs, d, t * d, kh.address(), bs, d, t * d, vh.address(), bs, d, t * d, h,
                            out, m, 0L, spec);
                    return out;
                }
            }
            // 16-byte vectors and 32-bit indices when the head rows allow it
            boolean vec = d % vw == 0 && ldq % vw == 0 && ldk % vw == 0 && ldv % vw == 0
                    && aligned(qAddr, kAddr, vAddr) && n / vw < Integer.MAX_VALUE;
            CudaTensor qh = alloc(b * h * t, d, computeType);
            CudaTensor kh = alloc(b * h * t, d, computeType);
            CudaTensor vh = alloc(b * h * t, d, computeType);
            CudaTensor scores = alloc(b * h * t, t, DType.F32);
            CudaTensor probs = alloc(b * h * t, t, computeType);
            CudaTensor oh = alloc(b * h * t, d, computeType);

            splitHeads(qAddr, ldq, kAddr, ldk, vAddr, ldv, qh, kh, vh, pos, spec, n, vec);

            // scores[bh] (row-major [T, T]) = Q·Kᵀ·scale; column-major that is K(ᵀ stored)·Q
            cublas.gemmStridedBatched(true, false, t, t, d, spec.scale(),
                    kh.address(), computeType, d, perHead,
                    qh.address(), computeType, d, perHead,
                    0f, scores.address(), DType.F32, t, (long) t * t, b * h);

            long scoreRows = (long) b * h * t;
            if (t % 4 == 0 && t <= 1024) {
                // one warp per row with the row in registers: NJ groups of 128 columns
                int nj = t <= 128 ? 1 : t <= 256 ? 2 : t <= 512 ? 4 : 8;
                Kernel sm = kernels.get(softmax(spec) + "_w" + nj + "_" + suffix(computeType));
                sm.args().ptr(0, scores.address()).ptr(1, probs.address()).ptr(2, m.address()).i32(3, h).i32(4, t)
                        .i64(5, scoreRows);
                int warpsPerBlock = THREADS / 32;
                sm.launch((int) ((scoreRows + warpsPerBlock - 1) / warpsPerBlock), 1, 1, THREADS, 1, 1, 0, stream);
            } else {
                Kernel sm = kernel(softmax(spec), computeType);
                sm.args().ptr(0, scores.address()).ptr(1, probs.address()).ptr(2, m.address()).i32(3, h).i32(4, t);
                sm.launch((int) scoreRows, 1, 1, rowThreads(t), 1, 1, 0, stream);
            }

            // out[bh] (row-major [T, D]) = P·V; column-major Oᵀ = Vᵀ·Pᵀ with both stored as-is
            cublas.gemmStridedBatched(false, false, d, t, t, 1f,
                    vh.address(), computeType, d, perHead,
                    probs.address(), computeType, t, (long) t * t,
                    0f, oh.address(), computeType, d, perHead, b * h);

            boolean vecMerge = d % vw == 0 && n / vw < Integer.MAX_VALUE;
            Kernel merge = kernel(vecMerge ? "attention_merge_heads_v" : "attention_merge_heads", computeType);
            merge.args().ptr(0, oh.address()).ptr(1, out.address()).i32(2, b).i32(3, t).i32(4, h).i32(5, d);
            merge.launch(grid(vecMerge ? n / vw : n), THREADS, stream);
        } finally {
            arena.reset(mark);
        }
        return out;
    }

    /** The masked softmax of the scores: causal or over every key of the sequence. */
    private static String softmax(AttentionSpec spec) {
        return spec.causal() ? "attention_causal_softmax" : "attention_bidir_softmax";
    }

    /** q/k/v rows (strided) → per-head [B, H, T, D] tensors, RoPE applied, kv heads expanded to H. */
    private void splitHeads(long qAddr, int ldq, long kAddr, int ldk, long vAddr, int ldv, CudaTensor qh,
                            CudaTensor kh, CudaTensor vh, CudaIntTensor pos, AttentionSpec spec, long n, boolean vec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), hkv = spec.numKvHeads(), d = spec.headDim();
        if (vec && !spec.rope()) {
            Kernel split = kernel("attention_split_qkv_v", computeType);
            split.args().ptr(0, qAddr).ptr(1, kAddr).ptr(2, vAddr)
                    .ptr(3, qh.address()).ptr(4, kh.address()).ptr(5, vh.address())
                    .i32(6, b).i32(7, t).i32(8, h).i32(9, hkv).i32(10, d).i32(11, ldq).i32(12, ldk).i32(13, ldv);
            split.launch(grid(n / vecWidth()), THREADS, stream);
        } else {
            Kernel split = kernel("attention_split_qkv_rope", computeType);
            ModelConfig.RopeScaling rs = spec.ropeScaling();
            split.args().ptr(0, qAddr).ptr(1, kAddr).ptr(2, vAddr)
                    .ptr(3, qh.address()).ptr(4, kh.address()).ptr(5, vh.address())
                    .ptr(6, spec.rope() ? pos.address() : 0L)
                    .i32(7, b).i32(8, t).i32(9, h).i32(10, hkv).i32(11, d)
                    .i32(12, ldq).i32(13, ldk).i32(14, ldv).i32(15, spec.rope() ? 1 : 0)
                    .f64(16, spec.ropeTheta())
                    .f64(17, rs == null ? 0 : rs.factor())
                    .f64(18, rs == null ? 0 : rs.lowFreqFactor())
                    .f64(19, rs == null ? 0 : rs.highFreqFactor())
                    .i32(20, rs == null ? 0 : rs.originalMaxPositions());
            split.launch(grid(n), THREADS, stream);
        }
    }

    private boolean flashAttention(AttentionSpec spec) {
        if (!FLASH || computeType == DType.F32 || (long) spec.batch() * spec.numHeads() > 65535) {
            return false;
        }
        for (int d : FLASH_HEAD_DIMS) {
            if (d == spec.headDim()) {
                return true;
            }
        }
        return false;
    }

    /** Fused attention into out [B·T, H·D]; q, k, v addressed by (batch, token, head) strides. */
    private void launchFlash(long q, int sqb, int sqt, int sqh, long k, int skb, int skt, int skh, long v, int svb,
                             int svt, int svh, int hkv, CudaTensor out, CudaIntTensor mask, long packedBias,
                             AttentionSpec spec) {
        final int b = spec.batch(), t = spec.seq(), h = spec.numHeads(), d = spec.headDim();
        Kernel f = kernels.get("flash_attention_" + (spec.causal() ? "" : "bidir_")
                + (FLASH_PIPE && d <= FLASH_PIPE_MAX_D ? "p_d" : "d") + d + "_" + suffix(computeType));
        f.args().ptr(0, q).ptr(1, k).ptr(2, v).ptr(3, out.address()).ptr(4, mask.address()).ptr(5, packedBias)
                .i32(6, t).i32(7, h).i32(8, hkv)
                .i32(9, sqb).i32(10, sqt).i32(11, sqh).i32(12, skb).i32(13, skt).i32(14, skh)
                .i32(15, svb).i32(16, svt).i32(17, svh)
                .i32(18, t * h * d).i32(19, h * d).i32(20, d).f32(21, spec.scale());
        f.launch((t + 63) / 64, b * h, 1, 128, 1, 1, 0, stream);
    }

    @Override
    public Tensor crossEntropy(Tensor logits, IntTensor targets) {
        if (!(logits instanceof CudaTensor)) {
            throw new IllegalArgumentException("crossEntropy: logits is not a CUDA tensor");
        }
        CudaTensor x = (CudaTensor) logits;
        if (x.dtype() != computeType) {
            throw new ZotuneException("crossEntropy: logits is " + x.dtype() + " but the CUDA backend computes in "
                    + computeType);
        }
        CudaIntTensor tg = (CudaIntTensor) targets;
        if (tg.length() != x.rows()) {
            throw new IllegalArgumentException("crossEntropy: " + tg.length() + " targets for " + x.rows() + " rows");
        }
        CudaTensor out = alloc(1, 2, DType.F32);
        DeviceArena.Mark mark = arena.mark();
        try {
            long rowLoss = arena.allocate(4L * Math.max(1, x.rows()));
            if (x.rows() > 0) {
                Kernel rows = kernel("cross_entropy_rows", computeType);
                rows.args().ptr(0, x.address()).ptr(1, tg.address()).ptr(2, rowLoss).i32(3, x.cols()).i32(4, x.ld());
                // one online pass in 16-byte vectors: a 256-thread block streams a 50k-wide row well
                rows.launch(x.rows(), 1, 1, Math.min(256, rowThreads((x.cols() + vecWidth() - 1) / vecWidth())), 1, 1,
                        0, stream);
            }
            Kernel red = kernels.get("cross_entropy_reduce");
            red.args().ptr(0, rowLoss).ptr(1, tg.address()).ptr(2, out.address()).i32(3, x.rows());
            red.launch(1, 1, 1, 1024, 1, 1, 0, stream);
        } finally {
            arena.reset(mark);
        }
        return out;
    }
}
