package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Process-wide CUDA state: loads the JavaCPP CUDA presets, creates the primary context of device 0
 * ({@code cudaSetDevice}, {@code cudaFree(null)}, {@code cuInit}) so that the runtime, the driver API
 * and cuBLAS share it, and reports what is usable. {@link #availability()} never throws and never
 * crashes the JVM when there is no driver: the presets' load failure is caught and reported.
 * <p>Each thread works on one device, 0 unless it called {@link #useDevice} (data parallelism over several GPUs):
 * everything created through {@link #require()} (streams, buffers, modules, cuBLAS) belongs to that device.
 */
public final class Cuda {
    private static Availability availability;
    private static int deviceCount = -1;
    private static final java.util.BitSet CONTEXTS = new java.util.BitSet(); // devices whose primary context exists
    // the device of this thread's work: cudaSetDevice is per thread, and require() sets it again before every use
    private static final ThreadLocal<Integer> DEVICE = ThreadLocal.withInitial(() -> 0);

    private Cuda() {
    }

    /**
     * What the process can use.
     *
     * @param usable         a device is usable (context created)
     * @param reason         why not, when not usable ("" otherwise)
     * @param deviceName     e.g. "NVIDIA H100 80GB HBM3"
     * @param ccMajor        compute capability major
     * @param ccMinor        compute capability minor
     * @param multiprocessors SM count
     * @param totalMemory    device memory in bytes
     * @param driverVersion  e.g. 13000
     * @param runtimeVersion e.g. 13000
     */
    public record Availability(boolean usable, String reason, String deviceName, int ccMajor, int ccMinor,
                               int multiprocessors, long totalMemory, int driverVersion, int runtimeVersion) {
        static Availability unusable(String reason) {
            return new Availability(false, reason, "", 0, 0, 0, 0, 0, 0);
        }

        @Override
        public String toString() {
            return usable ? deviceName + " (sm_" + ccMajor + ccMinor + ", " + multiprocessors + " SMs, "
                    + (totalMemory >> 20) + " MiB, driver " + driverVersion + ", runtime " + runtimeVersion + ")"
                    : "unusable: " + reason;
        }
    }

    /** Probes once (loading the presets, creating the context); later calls return the same answer. */
    public static synchronized Availability availability() {
        if (availability == null) {
            availability = probe();
        }
        return availability;
    }

    /** Ensures the context exists on this thread's device, or throws {@link CudaUnavailableException}. */
    public static Availability require() {
        Availability a = availability();
        if (!a.usable()) {
            throw new CudaUnavailableException(a.reason());
        }
        // the primary context is current per thread: make this thread's device's current on it too
        int d = DEVICE.get();
        check(cudaSetDevice(d), "cudaSetDevice(" + d + ")");
        return a;
    }

    /** How many CUDA devices the process sees (0 when none is usable). */
    public static synchronized int deviceCount() {
        if (!availability().usable()) {
            return 0;
        }
        if (deviceCount < 0) {
            int[] count = {0};
            check(cudaGetDeviceCount(count), "cudaGetDeviceCount");
            deviceCount = count[0];
        }
        return deviceCount;
    }

    /**
     * Makes {@code device} the calling thread's device (its primary context created on first use); what the thread
     * creates afterwards lives there. Fails in one line for a device that is not present.
     */
    public static void useDevice(int device) {
        int n = deviceCount();
        if (device < 0 || device >= n) {
            throw new CudaUnavailableException("CUDA device " + device + " is not present (" + n + " usable)");
        }
        DEVICE.set(device);
        check(cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        synchronized (Cuda.class) {
            if (!CONTEXTS.get(device)) {
                check(cudaFree(null), "cudaFree(null) (creating the primary context of device " + device + ")");
                CONTEXTS.set(device);
            }
        }
    }

    /** The calling thread's device ({@link #useDevice}; 0 by default). */
    public static int currentDevice() {
        return DEVICE.get();
    }

    private static Availability probe() {
        if (Boolean.getBoolean("zotune.cuda.disable")) {
            return Availability.unusable("disabled by -Dzotune.cuda.disable=true");
        }
        try {
            Class.forName("org.bytedeco.cuda.global.cudart", true, Cuda.class.getClassLoader());
        } catch (Throwable t) { // UnsatisfiedLinkError, ExceptionInInitializerError, NoClassDefFoundError
            return Availability.unusable(loadFailure(t));
        }
        try {
            return probeLoaded();
        } catch (Throwable t) {
            return Availability.unusable("CUDA initialisation failed: " + t);
        }
    }

    private static String loadFailure(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        String all = String.valueOf(t) + " " + root;
        String hint = all.contains("libcuda") ? "no NVIDIA driver (libcuda.so.1 not found)"
                : "the CUDA libraries could not be loaded (the driver's libcuda.so.1 and the runtime's libcudart.so.13"
                  + " are needed)";
        return hint + ": " + root.getClass().getSimpleName() + ": " + root.getMessage();
    }

    private static Availability probeLoaded() {
        int[] count = {0};
        int rc = cudaGetDeviceCount(count);
        if (rc != cudaSuccess) {
            return Availability.unusable("cudaGetDeviceCount: " + errorText(rc));
        }
        if (count[0] == 0) {
            return Availability.unusable("no CUDA device found");
        }
        check(cudaSetDevice(0), "cudaSetDevice(0)");
        check(cudaFree(null), "cudaFree(null) (creating the primary context)");
        CONTEXTS.set(0);
        checkDriver(cuInit(0), "cuInit");
        CUctx_st ctx = new CUctx_st();
        checkDriver(cuCtxGetCurrent(ctx), "cuCtxGetCurrent");
        if (ctx.isNull()) {
            return Availability.unusable("no current context after cudaFree(null)");
        }
        int[] v = {0};
        int major = attribute(cudaDevAttrComputeCapabilityMajor);
        int minor = attribute(cudaDevAttrComputeCapabilityMinor);
        int sms = attribute(cudaDevAttrMultiProcessorCount);
        check(cudaDriverGetVersion(v), "cudaDriverGetVersion");
        int driver = v[0];
        check(cudaRuntimeGetVersion(v), "cudaRuntimeGetVersion");
        int runtime = v[0];
        String name;
        try (BytePointer buf = new BytePointer(256)) {
            int[] dev = {0};
            checkDriver(cuDeviceGet(dev, 0), "cuDeviceGet");
            checkDriver(cuDeviceGetName(buf, 256, dev[0]), "cuDeviceGetName");
            byte[] bytes = new byte[256];
            buf.get(bytes);
            int n = 0;
            while (n < bytes.length && bytes[n] != 0) {
                n++;
            }
            name = new String(bytes, 0, n, java.nio.charset.StandardCharsets.UTF_8);
        }
        long total;
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer tot = new SizeTPointer(1)) {
            check(cudaMemGetInfo(free, tot), "cudaMemGetInfo");
            total = tot.get();
        }
        if (major < 8) {
            return Availability.unusable(name + " has compute capability " + major + "." + minor
                    + "; zotune's kernels need 8.0 or newer (bf16)");
        }
        return new Availability(true, "", name, major, minor, sms, total, driver, runtime);
    }

    private static int attribute(int attr) {
        int[] v = {0};
        check(cudaDeviceGetAttribute(v, attr, 0), "cudaDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    /** The current device's compute capability as major·10 + minor (90 for an H100 or H200). */
    public static int computeCapability() {
        int[] major = {0};
        int[] minor = {0};
        int device = currentDevice();
        check(cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device),
                "cudaDeviceGetAttribute(compute capability major)");
        check(cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device),
                "cudaDeviceGetAttribute(compute capability minor)");
        return major[0] * 10 + minor[0];
    }

    /** The most shared memory one block of the current device may opt in to, in bytes. */
    public static int maxSharedPerBlockOptin() {
        int[] v = {0};
        check(cudaDeviceGetAttribute(v, cudaDevAttrMaxSharedMemoryPerBlockOptin, currentDevice()),
                "cudaDeviceGetAttribute(max shared per block, opt-in)");
        return v[0];
    }

    /** Free and total device memory in bytes. */
    public static long[] memInfo() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer tot = new SizeTPointer(1)) {
            check(cudaMemGetInfo(free, tot), "cudaMemGetInfo");
            return new long[] {free.get(), tot.get()};
        }
    }

    /** Waits for all work on the device. */
    public static void synchronizeDevice() {
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    }

    /** Throws {@link CudaException} unless a runtime API call returned cudaSuccess. */
    public static void check(int rc, String call) {
        if (rc != cudaSuccess) {
            throw new CudaException(call, rc, errorText(rc));
        }
    }

    /** Throws {@link CudaException} unless a driver API call returned CUDA_SUCCESS. */
    public static void checkDriver(int rc, String call) {
        if (rc != CUDA_SUCCESS) {
            String text = "";
            try (org.bytedeco.javacpp.PointerPointer<BytePointer> pp = new org.bytedeco.javacpp.PointerPointer<>(1L)) {
                if (cuGetErrorString(rc, pp) == CUDA_SUCCESS && !pp.get(0).isNull()) {
                    text = pp.get(BytePointer.class, 0).getString();
                }
            }
            throw new CudaException(call, rc, text);
        }
    }

    static String errorText(int rc) {
        BytePointer p = cudaGetErrorString(rc);
        return p == null || p.isNull() ? "" : p.getString();
    }
}
