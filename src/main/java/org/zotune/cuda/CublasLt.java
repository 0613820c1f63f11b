package org.zotune.cuda;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

import java.util.HashMap;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulAlgo_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.zotune.tensor.DType;

/**
 * cuBLASLt matrix products with a fused epilogue: D = act(op(A)·B + bias), the bias broadcast along D's columns,
 * fp32 accumulation (split-K partial sums too) and one rounding to the output type. One plan (descriptors and the
 * heuristic's first algorithm) per shape, made on first use and kept; the bias address is a per-call attribute, so
 * graph capture records it.
 * Column-major as cuBLAS sees it; A is used transposed (a row-major [m, k] weight), B as stored. Made by
 * {@link Cublas}, whose stream and workspace it shares (products on one stream never overlap). Not thread-safe.
 */
public final class CublasLt implements AutoCloseable {
    /** What follows the product: + bias, then nothing, ReLU, or the tanh-approximated GELU. */
    public enum Epilogue {
        BIAS(CUBLASLT_EPILOGUE_BIAS), RELU_BIAS(CUBLASLT_EPILOGUE_RELU_BIAS), GELU_BIAS(CUBLASLT_EPILOGUE_GELU_BIAS);

        final int code;

        Epilogue(int code) {
            this.code = code;
        }
    }

    private record Key(int m, int n, int k, int lda, int ldb, int ldd, DType type, Epilogue epilogue) {
    }

    /** Descriptors and algorithm of one shape; null algorithm when cuBLASLt offers none. */
    private static final class Plan {
        cublasLtMatmulDescOpaque_t desc;
        cublasLtMatrixLayoutOpaque_t a;
        cublasLtMatrixLayoutOpaque_t b;
        cublasLtMatrixLayoutOpaque_t d;
        cublasLtMatmulHeuristicResult_t algo;
    }

    private cublasLtContext handle;
    private final CudaStream stream;
    private final long workspace;
    private final long workspaceBytes;
    private final Map<Key, Plan> plans = new HashMap<>();
    private final Map<Key, Tf32Plan> tf32Plans = new HashMap<>();
    private long tf32Products;
    private final FloatPointer alpha = new FloatPointer(1);
    private final FloatPointer beta = new FloatPointer(1);
    private final LongPointer biasAddress = new LongPointer(1);
    private final DevicePointer pa = new DevicePointer();
    private final DevicePointer pb = new DevicePointer();
    private final DevicePointer pd = new DevicePointer();
    private final DevicePointer pw = new DevicePointer();
    private long products;

    private CublasLt(cublasLtContext handle, CudaStream stream, long workspace, long workspaceBytes) {
        this.handle = handle;
        this.stream = stream;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        alpha.put(0, 1f);
        beta.put(0, 0f);
    }

    /** A handle whose products run on {@code stream} with the given device workspace (not owned). */
    static CublasLt create(CudaStream stream, long workspace, long workspaceBytes) {
        cublasLtContext h = new cublasLtContext();
        check(cublasLtCreate(h), "cublasLtCreate");
        return new CublasLt(h, stream, workspace, workspaceBytes);
    }

    /**
     * D (m×n, leading dimension ldd) = epilogue(Aᵀ·B + bias) where A is k×m (lda), B is k×n (ldb), bias has m values,
     * all of {@code type} (f32, bf16 or f16). Returns false, doing nothing, when cuBLASLt has no algorithm for it
     * (the caller then takes its unfused path).
     */
    public boolean matmulTransA(int m, int n, int k, long a, int lda, long b, int ldb, long d, int ldd, long bias,
                                DType type, Epilogue epilogue) {
        if (handle == null) {
            throw new IllegalStateException("cuBLASLt handle is closed");
        }
        Plan p = plans.computeIfAbsent(new Key(m, n, k, lda, ldb, ldd, type, epilogue), this::plan);
        if (p.algo == null) {
            return false;
        }
        biasAddress.put(0, bias);
        check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, biasAddress, 8),
                "cublasLtMatmulDescSetAttribute(bias)");
        check(cublasLtMatmul(handle, p.desc, alpha, pa.set(a), p.a, pb.set(b), p.b, beta, pd.set(d), p.d, pd, p.d,
                p.algo.algo(), pw.set(workspace), workspaceBytes, stream.handle()),
                "cublasLtMatmul");
        products++;
        return true;
    }

    /** Products run so far (tests check that a path took cuBLASLt). */
    public long products() {
        return products;
    }

    private Plan plan(Key key) {
        Plan p = new Plan();
        int dt = Cublas.dataType(key.type());
        PointerPointer<?> out = new PointerPointer<>(1L);
        try (IntPointer v = new IntPointer(1)) {
            check(cublasLtMatmulDescCreate(out, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
            p.desc = new cublasLtMatmulDescOpaque_t(out.get(0));
            v.put(0, CUBLAS_OP_T);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, v, 4), "set TRANSA");
            v.put(0, CUBLAS_OP_N);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, v, 4), "set TRANSB");
            v.put(0, key.epilogue().code);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, v, 4), "set EPILOGUE");
            v.put(0, dt);
            check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, v, 4),
                    "set BIAS_DATA_TYPE");
            p.a = layout(out, dt, key.k(), key.m(), key.lda());
            p.b = layout(out, dt, key.k(), key.n(), key.ldb());
            p.d = layout(out, dt, key.m(), key.n(), key.ldd());
            check(cublasLtMatmulPreferenceCreate(out), "cublasLtMatmulPreferenceCreate");
            cublasLtMatmulPreferenceOpaque_t pref = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
            try (LongPointer ws = new LongPointer(1)) {
                ws.put(0, workspaceBytes);
                check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, 8),
                        "set MAX_WORKSPACE_BYTES");
                // split-K partial sums only in float32: not rounded to the 16-bit output type before they are added
                v.put(0, CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE);
                check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, v, 4),
                        "set REDUCTION_SCHEME_MASK");
                cublasLtMatmulHeuristicResult_t result = new cublasLtMatmulHeuristicResult_t(1);
                int rc = cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.d, p.d, pref, 1, result, v);
                if (rc == CUBLAS_STATUS_SUCCESS && v.get(0) > 0) {
                    p.algo = result;
                } else {
                    result.close();
                }
            } finally {
                cublasLtMatmulPreferenceDestroy(pref);
            }
        } finally {
            out.close();
        }
        return p;
    }

    /**
     * C (m×n, ldc) = Aᵀ·B of float32 matrices on the TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32), A k×m (lda),
     * B k×n (ldb), with the algorithm {@code algo} ({@link Tf32Tuner}'s choice for the shape, its 8 words). Every
     * address must be 256-byte aligned, as the tuner's operands were.
     */
    public void matmulTf32(int m, int n, int k, long a, int lda, long b, int ldb, long c, int ldc, long[] algo) {
        if (handle == null) {
            throw new IllegalStateException("cuBLASLt handle is closed");
        }
        if (((a | b | c) & 255) != 0) {
            throw new IllegalArgumentException("matmulTf32: operands must be 256-byte aligned");
        }
        Tf32Plan p = tf32Plans.computeIfAbsent(new Key(m, n, k, lda, ldb, ldc, DType.F32, null),
                key -> Tf32Plan.create(m, n, k, lda, ldb, ldc));
        p.run(handle, algo, a, b, c, workspace, workspaceBytes, stream);
        tf32Products++;
    }

    /** Products {@link #matmulTf32} ran so far. */
    public long tf32Products() {
        return tf32Products;
    }

    /** The 8 words of an algorithm (cublasLtMatmulAlgo_t is plain data: kept and reused with the same library). */
    static long[] words(cublasLtMatmulAlgo_t algo) {
        long[] w = new long[8];
        for (int i = 0; i < 8; i++) {
            w[i] = algo.data(i);
        }
        return w;
    }

    /** The descriptors of one float32 TF32 product shape (no epilogue), for any handle. */
    static final class Tf32Plan implements AutoCloseable {
        private cublasLtMatmulDescOpaque_t desc;
        private cublasLtMatrixLayoutOpaque_t a;
        private cublasLtMatrixLayoutOpaque_t b;
        private cublasLtMatrixLayoutOpaque_t c;
        private final cublasLtMatmulAlgo_t algo = new cublasLtMatmulAlgo_t();
        private long[] loaded; // the words in algo now (a shape's choice is one array: set once)
        private final FloatPointer one = new FloatPointer(1f);
        private final FloatPointer zero = new FloatPointer(0f);
        private final DevicePointer pa = new DevicePointer();
        private final DevicePointer pb = new DevicePointer();
        private final DevicePointer pc = new DevicePointer();
        private final DevicePointer pw = new DevicePointer();

        static Tf32Plan create(int m, int n, int k, int lda, int ldb, int ldc) {
            Tf32Plan p = new Tf32Plan();
            PointerPointer<?> out = new PointerPointer<>(1L);
            try (IntPointer v = new IntPointer(1)) {
                check(cublasLtMatmulDescCreate(out, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F),
                        "cublasLtMatmulDescCreate");
                p.desc = new cublasLtMatmulDescOpaque_t(out.get(0));
                v.put(0, CUBLAS_OP_T);
                check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, v, 4), "set TRANSA");
                v.put(0, CUBLAS_OP_N);
                check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, v, 4), "set TRANSB");
                p.a = layout(out, CUDA_R_32F, k, m, lda);
                p.b = layout(out, CUDA_R_32F, k, n, ldb);
                p.c = layout(out, CUDA_R_32F, m, n, ldc);
            } catch (RuntimeException e) {
                p.close();
                throw e;
            } finally {
                out.close();
            }
            return p;
        }

        /** Up to {@code count} heuristic candidates within {@code workspace} bytes into {@code results}; how many. */
        int candidates(cublasLtContext h, long workspace, cublasLtMatmulHeuristicResult_t results, int count) {
            PointerPointer<?> out = new PointerPointer<>(1L);
            try (IntPointer found = new IntPointer(1); LongPointer ws = new LongPointer(1)) {
                check(cublasLtMatmulPreferenceCreate(out), "cublasLtMatmulPreferenceCreate");
                cublasLtMatmulPreferenceOpaque_t pref = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
                try {
                    ws.put(0, workspace);
                    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws, 8),
                            "set MAX_WORKSPACE_BYTES");
                    int rc = cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, c, c, pref, count, results, found);
                    return rc == CUBLAS_STATUS_SUCCESS ? found.get(0) : 0;
                } finally {
                    cublasLtMatmulPreferenceDestroy(pref);
                }
            } finally {
                out.close();
            }
        }

        /**
         * Every configuration of every TF32 algorithm cuBLASLt has that runs this plan within {@code workspace} bytes
         * without splitting the contraction (the heuristic offers 8 at most): per algorithm id, its tiles × stages ×
         * CTA swizzles × cluster shapes (automatic, 1×1 to 4×4), each kept if cublasLtMatmulAlgoCheck accepts it. As
         * 8 words each, in the library's order.
         */
        java.util.List<long[]> configurations(cublasLtContext h, long workspace) {
            java.util.List<long[]> out = new java.util.ArrayList<>();
            int[] ids = new int[4096];
            int[] count = new int[1];
            check(cublasLtMatmulAlgoGetIds(h, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F,
                    CUDA_R_32F, CUDA_R_32F, ids.length, ids, count), "cublasLtMatmulAlgoGetIds");
            try (cublasLtMatmulAlgo_t algo = new cublasLtMatmulAlgo_t();
                 cublasLtMatmulHeuristicResult_t result = new cublasLtMatmulHeuristicResult_t()) {
                for (int i = 0; i < count[0]; i++) {
                    if (cublasLtMatmulAlgoInit(h, CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, CUDA_R_32F, CUDA_R_32F,
                            CUDA_R_32F, CUDA_R_32F, ids[i], algo) != CUBLAS_STATUS_SUCCESS) {
                        continue;
                    }
                    int[] tiles = capabilities(algo, CUBLASLT_ALGO_CAP_TILE_IDS);
                    int[] stages = capabilities(algo, CUBLASLT_ALGO_CAP_STAGES_IDS);
                    int[] swizzle = capabilities(algo, CUBLASLT_ALGO_CAP_CTA_SWIZZLING_SUPPORT);
                    int swizzles = swizzle.length > 0 && swizzle[0] != 0 ? 2 : 1;
                    boolean clusters = setConfig(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, 0);
                    setConfig(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, 1);
                    setConfig(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, CUBLASLT_REDUCTION_SCHEME_NONE);
                    for (int tile : tiles.length == 0 ? new int[] {0} : tiles) {
                        for (int stage : stages.length == 0 ? new int[] {0} : stages) {
                            for (int sw = 0; sw < swizzles; sw++) {
                                for (int cluster : clusters ? CLUSTERS : new int[] {-1}) {
                                    if (!setConfig(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, tile)
                                            || !setConfig(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, stage)
                                            || !setConfig(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, sw)
                                            || cluster >= 0
                                            && !setConfig(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, cluster)) {
                                        continue;
                                    }
                                    if (cublasLtMatmulAlgoCheck(h, desc, a, b, c, c, algo, result)
                                            == CUBLAS_STATUS_SUCCESS && result.workspaceSize() <= workspace) {
                                        out.add(words(algo));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return out;
        }

        /** One product with the algorithm of these 8 words. */
        void run(cublasLtContext h, long[] words, long aAt, long bAt, long cAt, long workspace, long workspaceBytes,
                 CudaStream stream) {
            if (words != loaded) {
                for (int i = 0; i < 8; i++) {
                    algo.data(i, words[i]);
                }
                loaded = words;
            }
            check(cublasLtMatmul(h, desc, one, pa.set(aAt), a, pb.set(bAt), b, zero, pc.set(cAt), c, pc, c, algo,
                    pw.set(workspace), workspaceBytes, stream.handle()), "cublasLtMatmul(TF32)");
        }

        @Override
        public void close() {
            if (desc != null) {
                cublasLtMatmulDescDestroy(desc);
                desc = null;
            }
            for (cublasLtMatrixLayoutOpaque_t l : new cublasLtMatrixLayoutOpaque_t[] {a, b, c}) {
                if (l != null) {
                    cublasLtMatrixLayoutDestroy(l);
                }
            }
            a = null;
            b = null;
            c = null;
            algo.close();
            one.close();
            zero.close();
        }
    }

    /** Cluster shapes tried: automatic, then 1×1×1 to 4×4×1 (cublasLtClusterShape_t 2 to 10). */
    private static final int[] CLUSTERS = {CUBLASLT_CLUSTER_SHAPE_AUTO, CUBLASLT_CLUSTER_SHAPE_1x1x1,
        CUBLASLT_CLUSTER_SHAPE_2x1x1, CUBLASLT_CLUSTER_SHAPE_4x1x1, CUBLASLT_CLUSTER_SHAPE_1x2x1,
        CUBLASLT_CLUSTER_SHAPE_2x2x1, CUBLASLT_CLUSTER_SHAPE_4x2x1, CUBLASLT_CLUSTER_SHAPE_1x4x1,
        CUBLASLT_CLUSTER_SHAPE_2x4x1, CUBLASLT_CLUSTER_SHAPE_4x4x1};

    /** An algorithm capability that is an array of integers (tile ids, stage ids) or one integer; empty if none. */
    private static int[] capabilities(cublasLtMatmulAlgo_t algo, int attribute) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            if (cublasLtMatmulAlgoCapGetAttribute(algo, attribute, null, 0, size) != CUBLAS_STATUS_SUCCESS
                    || size.get() == 0) {
                return new int[0];
            }
            long bytes = size.get();
            try (BytePointer buf = new BytePointer(bytes)) {
                if (cublasLtMatmulAlgoCapGetAttribute(algo, attribute, buf, bytes, size) != CUBLAS_STATUS_SUCCESS) {
                    return new int[0];
                }
                if (bytes < 4) {
                    return new int[] {buf.get(0)};
                }
                int[] v = new int[(int) (bytes / 4)];
                new IntPointer(buf).get(v);
                return v;
            }
        }
    }

    /** Sets an algorithm configuration attribute of whatever width it has (2, 4 or 8 bytes); false if refused. */
    private static boolean setConfig(cublasLtMatmulAlgo_t algo, int attribute, long value) {
        try (SizeTPointer size = new SizeTPointer(1); LongPointer buf = new LongPointer(1)) {
            if (cublasLtMatmulAlgoConfigGetAttribute(algo, attribute, null, 0, size) != CUBLAS_STATUS_SUCCESS) {
                return false;
            }
            buf.put(0, value); // little-endian: the attribute's width of low bytes
            return cublasLtMatmulAlgoConfigSetAttribute(algo, attribute, buf, size.get()) == CUBLAS_STATUS_SUCCESS;
        }
    }

    /** An algorithm configuration attribute, sign-extended from its width; 0 if it cannot be read. */
    private static long config(cublasLtMatmulAlgo_t algo, int attribute) {
        try (SizeTPointer size = new SizeTPointer(1); LongPointer buf = new LongPointer(1)) {
            if (cublasLtMatmulAlgoConfigGetAttribute(algo, attribute, null, 0, size) != CUBLAS_STATUS_SUCCESS) {
                return 0;
            }
            long bytes = size.get();
            buf.put(0, 0);
            if (cublasLtMatmulAlgoConfigGetAttribute(algo, attribute, buf, bytes, size) != CUBLAS_STATUS_SUCCESS) {
                return 0;
            }
            long v = buf.get(0);
            return bytes >= 8 ? v : v << (64 - 8 * bytes) >> (64 - 8 * bytes);
        }
    }

    /** An algorithm's configuration in words (id, tile, stages, split-K, reduction, swizzle, cluster). */
    static String describe(long[] words) {
        try (cublasLtMatmulAlgo_t algo = new cublasLtMatmulAlgo_t()) {
            for (int i = 0; i < 8; i++) {
                algo.data(i, words[i]);
            }
            return String.format("id %d tile %d stages %d splitK %d reduction %d swizzle %d cluster %d",
                    config(algo, CUBLASLT_ALGO_CONFIG_ID), config(algo, CUBLASLT_ALGO_CONFIG_TILE_ID),
                    config(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID), config(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
                    config(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
                    config(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING),
                    config(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID));
        }
    }

    private static cublasLtMatrixLayoutOpaque_t layout(PointerPointer<?> out, int type, long rows, long cols, long ld) {
        check(cublasLtMatrixLayoutCreate(out, type, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return new cublasLtMatrixLayoutOpaque_t(out.get(0));
    }

    static void check(int status, String call) {
        if (status != CUBLAS_STATUS_SUCCESS) {
            BytePointer s = cublasLtGetStatusString(status);
            throw new CudaException(call, status, s == null || s.isNull() ? "" : s.getString());
        }
    }

    @Override
    public void close() {
        if (handle == null) {
            return;
        }
        for (Plan p : plans.values()) {
            if (p.desc != null) {
                cublasLtMatmulDescDestroy(p.desc);
            }
            for (cublasLtMatrixLayoutOpaque_t l : new cublasLtMatrixLayoutOpaque_t[] {p.a, p.b, p.d}) {
                if (l != null) {
                    cublasLtMatrixLayoutDestroy(l);
                }
            }
            if (p.algo != null) {
                p.algo.close();
            }
        }
        plans.clear();
        tf32Plans.values().forEach(Tf32Plan::close);
        tf32Plans.clear();
        check(cublasLtDestroy(handle), "cublasLtDestroy");
        handle = null;
        alpha.close();
        beta.close();
        biasAddress.close();
    }
}
