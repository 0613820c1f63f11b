package org.zotune.cuda;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudart.*;

import java.nio.IntBuffer;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulHeuristicResult_t;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Chooses the algorithm of a float32 product on the TF32 tensor cores (C [m×n, ldc] = Aᵀ·B, A k×m, B k×n column-major:
 * the one GEMM of a 3xTF32 product) among those whose results are BITWISE cublasGemmEx's default's for the shape.
 * Every candidate of cuBLASLt's heuristic is timed on random operands of the shape and stays only if every output
 * bit equals the default's (split-K candidates, which add in another order, drop out; on an H100 the others all
 * share the default's order, whatever their tiles); the fastest left wins if it beats the default (timed before and
 * after the candidates, the lower kept: the first shape of a process meets a cold GPU) by {@link #MARGIN}. The choice
 * depends on timing and may differ between runs; the bits it computes do not.
 *
 * <p>Runs on a thread of its own with its own stream, handles, workspace and operands (allocated in stream order on
 * that stream), so that a shape met first inside a graph capture is timed there and then: captures are
 * {@code cudaStreamCaptureModeThreadLocal}, which leaves other threads free to synchronise. Choices are kept per
 * device and shape for the life of the process. Where anything fails (no memory for the operands, say) the shape
 * keeps the default.
 */
public final class Tf32Tuner {
    /** How much faster than the default a candidate must be to be chosen: 3 %. */
    static final double MARGIN = 0.97;
    /** Candidates asked of the heuristic. */
    private static final int CANDIDATES = 16;
    private static final int WARMUP = 2;
    private static final int REPS = 10;

    /** One product shape on one device, with the workspace its default runs with. */
    private record Key(int device, int m, int n, int k, int lda, int ldb, int ldc, long workspace) {
    }

    /**
     * A shape's choice: the chosen algorithm (cublasLtMatmulAlgo_t's 8 words), or null where the default stays; the
     * default's and the chosen one's time (µs, one launch), and how many candidates ran and how many were bitwise.
     */
    public record Choice(long[] algo, double defaultMicros, double chosenMicros, int candidates, int bitwise,
                         String note) {
        /** Whether a cuBLASLt algorithm replaces the default. */
        public boolean chosen() {
            return algo != null;
        }
    }

    private static final Map<Key, Choice> CHOICES = new ConcurrentHashMap<>();
    private static final ExecutorService THREAD = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "zotune-tf32-tuner");
        t.setDaemon(true);
        return t;
    });

    private Tf32Tuner() {
    }

    /**
     * The choice for the calling thread's device and this shape: tuned now (the caller waits, some tens of
     * milliseconds) the first time the process meets it, then kept.
     */
    public static Choice choose(int m, int n, int k, int lda, int ldb, int ldc, long workspace) {
        Key key = new Key(Cuda.currentDevice(), m, n, k, lda, ldb, ldc, workspace);
        Choice c = CHOICES.get(key);
        if (c != null) {
            return c;
        }
        Future<Choice> f = THREAD.submit(() -> tune(key));
        try {
            c = f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Choice(null, 0, 0, 0, 0, "interrupted");
        } catch (ExecutionException e) {
            c = new Choice(null, 0, 0, 0, 0, "tuning failed: " + e.getCause());
        }
        CHOICES.put(key, c);
        return c;
    }

    /** The choices made so far, one line each (benchmarks print them). */
    public static String report() {
        StringBuilder b = new StringBuilder();
        CHOICES.forEach((k, c) -> b.append(String.format("tf32 product %dx%dx%d (device %d): %s%n", k.m(), k.n(),
                k.k(), k.device(), describe(c))));
        return b.toString();
    }

    static String describe(Choice c) {
        if (c.note() != null) {
            return "default (" + c.note() + ")";
        }
        return (c.chosen() ? String.format("cuBLASLt candidate %.1f µs", c.chosenMicros()) : "default")
                + String.format(" against the default's %.1f µs; %d of %d candidates bitwise the default",
                c.defaultMicros(), c.bitwise(), c.candidates());
    }

    private static Choice tune(Key key) {
        return tune(key, false, null);
    }

    /**
     * The tuning of one shape (C [m×n] = Aᵀ·B, contraction k; a fresh one, not kept) that prints every candidate it
     * checked, fastest first, with its configuration and whether its bits are the default's; returns the choice it
     * would make. {@code enumerate}: every configuration cuBLASLt has ({@link CublasLt.Tf32Plan#configurations}, ~800
     * on an H100, the 16 fastest checked), not only the heuristic's. The engine tunes over the heuristic's only: the
     * configurations this finds faster alone (FFN down at RoBERTa-large 32×64: 131 µs against the default's 150) made
     * the step 1.1–1.4 ms slower (benchmarks/RESULTS.md, 2026-12-07 13:31–13:32 UTC).
     */
    public static Choice survey(int m, int n, int k, boolean enumerate, long workspace, java.io.PrintStream out) {
        return tune(new Key(Cuda.currentDevice(), m, n, k, k, k, m, workspace), enumerate, out);
    }

    private static Choice tune(Key key, boolean enumerate, java.io.PrintStream log) {
        Cuda.useDevice(key.device());
        long aBytes = 4L * key.lda() * key.m();
        long bBytes = 4L * key.ldb() * key.n();
        long cBytes = 4L * key.ldc() * key.n();
        try (CudaStream stream = CudaStream.create();
             Probe p = new Probe(stream, key.workspace(), aBytes, bBytes, cBytes);
             CudaEvent start = CudaEvent.create(true);
             CudaEvent stop = CudaEvent.create(true)) {
            if (!p.allocated) {
                return new Choice(null, 0, 0, 0, 0, "no memory for the probe's operands");
            }
            p.fill(p.a, aBytes, 1);
            p.fill(p.b, bBytes, 2);
            Runnable reference = () -> p.gemmEx(key);
            reference.run();
            int[] want = p.read(p.c, cBytes);
            double defaultMicros = time(reference, stream, start, stop);
            cublasLtMatmulHeuristicResult_t results = new cublasLtMatmulHeuristicResult_t(CANDIDATES);
            try (CublasLt.Tf32Plan plan = CublasLt.Tf32Plan.create(key.m(), key.n(), key.k(), key.lda(), key.ldb(),
                    key.ldc())) {
                java.util.List<long[]> offered = new java.util.ArrayList<>();
                int found = plan.candidates(p.lt, key.workspace(), results, CANDIDATES);
                for (int i = 0; i < found; i++) {
                    cublasLtMatmulHeuristicResult_t r = results.getPointer(i);
                    if (r.state() == CUBLAS_STATUS_SUCCESS && r.workspaceSize() <= key.workspace()) {
                        offered.add(CublasLt.words(r.algo()));
                    }
                }
                if (enumerate) {
                    java.util.Set<java.util.List<Long>> seen = new java.util.HashSet<>();
                    offered.forEach(w -> seen.add(asList(w)));
                    for (long[] w : plan.configurations(p.lt, key.workspace())) {
                        if (seen.add(asList(w))) {
                            offered.add(w);
                        }
                    }
                }
                // time every candidate that runs, then check bits from the fastest down: every heuristic candidate,
                // of all configurations the 16 fastest
                java.util.List<long[]> ran = new java.util.ArrayList<>();
                java.util.List<Double> micros = new java.util.ArrayList<>();
                for (long[] words : offered) {
                    Runnable run = () -> plan.run(p.lt, words, p.a, p.b, p.c, p.workspace, key.workspace(), stream);
                    try {
                        run.run();
                    } catch (CudaException e) {
                        continue; // a candidate the library offers but cannot run here: not taken
                    }
                    ran.add(words);
                    micros.add(time(run, stream, start, stop));
                }
                // timed again now that the GPU is warm: the first shape a process tunes met it cold (an H100 timed
                // the default at 310 µs before its candidates, 46 µs after)
                defaultMicros = Math.min(defaultMicros, time(reference, stream, start, stop));
                Integer[] order = new Integer[ran.size()];
                for (int i = 0; i < order.length; i++) {
                    order[i] = i;
                }
                java.util.Arrays.sort(order, java.util.Comparator.comparingDouble(micros::get));
                java.util.List<long[]> same = new java.util.ArrayList<>(); // candidates with the default's bits
                java.util.List<Double> sameMicros = new java.util.ArrayList<>();
                if (log != null) {
                    log.printf("tf32 product %dx%dx%d: default %.1f µs; %d candidates offered (%d by the heuristic),"
                            + " %d ran%n", key.m(), key.n(), key.k(), defaultMicros, offered.size(), found,
                            ran.size());
                }
                int checked = 0;
                for (int i : order) {
                    if (enumerate && checked >= 16) {
                        break;
                    }
                    long[] words = ran.get(i);
                    plan.run(p.lt, words, p.a, p.b, p.c, p.workspace, key.workspace(), stream);
                    boolean bitwise = java.util.Arrays.equals(want, p.read(p.c, cBytes));
                    checked++;
                    if (bitwise) {
                        same.add(words);
                        sameMicros.add(micros.get(i));
                    }
                    if (log != null) {
                        log.printf("  %8.1f µs  %s  %s%n", micros.get(i), CublasLt.describe(words),
                                bitwise ? "bitwise the default" : "DIFFERS from the default");
                    }
                }
                int pick = pick(defaultMicros, sameMicros);
                return new Choice(pick < 0 ? null : same.get(pick), defaultMicros,
                        pick < 0 ? defaultMicros : sameMicros.get(pick), ran.size(), same.size(), null);
            } finally {
                results.close();
            }
        }
    }

    private static java.util.List<Long> asList(long[] w) {
        java.util.List<Long> l = new java.util.ArrayList<>(w.length);
        for (long v : w) {
            l.add(v);
        }
        return l;
    }

    /**
     * Which of the candidates (each already bitwise the default's results, timed in µs) to take: the fastest, if it
     * beats the default's time by {@link #MARGIN}; else -1, the default stays.
     */
    static int pick(double defaultMicros, java.util.List<Double> micros) {
        int best = -1;
        for (int i = 0; i < micros.size(); i++) {
            if (micros.get(i) < defaultMicros * MARGIN && (best < 0 || micros.get(i) < micros.get(best))) {
                best = i;
            }
        }
        return best;
    }

    /** One launch's time in µs: the mean of {@link #REPS} after {@link #WARMUP}. */
    private static double time(Runnable run, CudaStream stream, CudaEvent start, CudaEvent stop) {
        for (int i = 0; i < WARMUP; i++) {
            run.run();
        }
        start.record(stream);
        for (int i = 0; i < REPS; i++) {
            run.run();
        }
        stop.record(stream);
        stop.synchronize();
        return 1000.0 * stop.elapsedMillis(start) / REPS;
    }

    /** The tuner's own handles, workspace and operands, on its stream. */
    private static final class Probe implements AutoCloseable {
        final CudaStream stream;
        final cublasContext blas = new cublasContext();
        final cublasLtContext lt = new cublasLtContext();
        long workspace;
        long a;
        long b;
        long c;
        boolean allocated;

        Probe(CudaStream stream, long workspaceBytes, long aBytes, long bBytes, long cBytes) {
            this.stream = stream;
            Cublas.check(cublasCreate_v2(blas), "cublasCreate");
            Cublas.check(cublasSetStream_v2(blas, stream.handle()), "cublasSetStream");
            Cublas.check(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
            CublasLt.check(cublasLtCreate(lt), "cublasLtCreate");
            workspace = allocate(Math.max(256, workspaceBytes));
            a = allocate(aBytes);
            b = allocate(bBytes);
            c = allocate(cBytes);
            allocated = workspace != 0 && a != 0 && b != 0 && c != 0;
            if (allocated) {
                Cublas.check(cublasSetWorkspace_v2(blas, new DevicePointer(workspace), workspaceBytes),
                        "cublasSetWorkspace");
            }
        }

        private long allocate(long bytes) {
            try (PointerPointer<?> out = new PointerPointer<>(1L)) {
                if (cudaMallocAsync(out, bytes, stream.handle()) != cudaSuccess) {
                    cudaGetLastError(); // clear it: the probe does without this shape
                    return 0;
                }
                return out.get(0).address();
            }
        }

        /** Gaussian floats from a 1 M-float block, copied over the buffer (rows of the products see no repeats). */
        void fill(long at, long bytes, long seed) {
            int block = 1 << 20;
            SplittableRandom r = new SplittableRandom(seed);
            try (FloatPointer host = new FloatPointer(block)) {
                for (int i = 0; i < block; i++) {
                    host.put(i, (float) (r.nextDouble() * 2 - 1) * (i % 3 == 0 ? 1e-3f : 1f));
                }
                for (long done = 0; done < bytes; done += 4L * block) {
                    long n = Math.min(4L * block, bytes - done);
                    Cuda.check(cudaMemcpyAsync(new DevicePointer(at + done), host, n, cudaMemcpyHostToDevice,
                            stream.handle()), "cudaMemcpyAsync");
                }
                stream.synchronize(); // the host block stays valid until the copies are done
            }
        }

        /** The product as the engine runs it without a choice: cublasGemmEx's default on the TF32 tensor cores. */
        void gemmEx(Key k) {
            try (FloatPointer alpha = new FloatPointer(1f); FloatPointer beta = new FloatPointer(0f)) {
                Cublas.check(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, k.m(), k.n(), k.k(), alpha,
                        new DevicePointer(a), CUDA_R_32F, k.lda(), new DevicePointer(b), CUDA_R_32F, k.ldb(), beta,
                        new DevicePointer(c), CUDA_R_32F, k.ldc(), CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
                        "cublasGemmEx(TF32)");
            }
        }

        /** The buffer's bits on the host (after the stream's work so far). */
        int[] read(long at, long bytes) {
            int n = Math.toIntExact(bytes / 4);
            try (IntPointer host = new IntPointer(n)) {
                Cuda.check(cudaMemcpyAsync(host, new DevicePointer(at), bytes, cudaMemcpyDeviceToHost,
                        stream.handle()), "cudaMemcpyAsync");
                stream.synchronize();
                int[] out = new int[n];
                IntBuffer buf = host.asBuffer();
                buf.get(out);
                return out;
            }
        }

        @Override
        public void close() {
            for (long p : new long[] {workspace, a, b, c}) {
                if (p != 0) {
                    cudaFreeAsync(new DevicePointer(p), stream.handle());
                }
            }
            stream.synchronize();
            cublasLtDestroy(lt);
            cublasDestroy_v2(blas);
        }
    }
}
