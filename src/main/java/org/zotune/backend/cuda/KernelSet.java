package org.zotune.backend.cuda;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.Kernel;
import org.zotune.cuda.KernelModule;
import org.zotune.tensor.DType;

/**
 * What every kernel-family launcher shares: the module, the stream, the compute type, the grid limit, and the
 * launch-shape helpers. A family registers its kernels by name with their launch signatures (see
 * {@link org.zotune.cuda.KernelArgs}); KernelSignaturesTest checks each against its {@code extern "C"} declaration.
 */
final class KernelSet {
    /** Threads per block of the grid-stride kernels. */
    static final int THREADS = 256;

    private final KernelModule module;
    private final Map<String, Kernel> kernels = new HashMap<>();
    final CudaStream stream;
    final DType computeType;
    private final int maxGrid;

    KernelSet(KernelModule module, CudaStream stream, DType computeType, int maxGrid) {
        this.module = module;
        this.stream = stream;
        this.computeType = computeType;
        this.maxGrid = maxGrid;
    }

    /** Looks up every kernel of {@code signatures} (name → signature) in the module. */
    void register(Map<String, String> signatures) {
        signatures.forEach((name, sig) -> kernels.put(name, module.kernel(name, sig)));
    }

    Kernel get(String name) {
        Kernel k = kernels.get(name);
        if (k == null) {
            throw new IllegalStateException("kernel " + name + " is not registered");
        }
        return k;
    }

    /** The kernel {@code base} for the compute type (name_f32, name_bf16, name_f16). */
    Kernel get(String base, DType t) {
        return get(base + "_" + suffix(t));
    }

    /** The kernel-name suffix of a storage type (native/kernels: name_f32, name_bf16, name_f16). */
    static String suffix(DType t) {
        switch (t) {
            case F32: return "f32";
            case BF16: return "bf16";
            case F16: return "f16";
            default: throw new ZotuneException("CUDA compute type must be f32, bf16 or f16, not " + t);
        }
    }

    /** The storage types with kernels, by suffix. */
    static final String[] TYPES = {"f32", "bf16", "f16"};

    /** A signature table in registration order (a family's {@code signatures()} builds one). */
    static Map<String, String> table() {
        return new LinkedHashMap<>();
    }

    /** Elements of the compute type in one 16-byte vector (the vector kernels' unit). */
    int vecWidth() {
        return 16 / computeType.bytes();
    }

    /** Whether every address is 16-byte aligned (0 = absent counts as aligned). */
    static boolean aligned(long... addresses) {
        for (long a : addresses) {
            if ((a & 15) != 0) {
                return false;
            }
        }
        return true;
    }

    /** Blocks of {@link #THREADS} for n grid-stride items: at least 1, at most 32 per multiprocessor. */
    int grid(long n) {
        return (int) Math.max(1, Math.min((n + THREADS - 1) / THREADS, maxGrid));
    }

    /** The most blocks {@link #grid} gives: 32 per multiprocessor. */
    int maxGrid() {
        return maxGrid;
    }

    /** Threads for a one-block-per-row kernel: a multiple of 32, at most 1024. */
    static int rowThreads(int cols) {
        int t = Math.min(1024, Math.max(32, Integer.highestOneBit(Math.max(1, cols - 1)) << 1));
        return Math.min(t, 1024);
    }

    void close() {
        for (Kernel k : kernels.values()) {
            k.args().close();
        }
        kernels.clear();
    }
}
