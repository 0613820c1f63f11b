package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cudart.CUfunc_st;

/**
 * One {@code __global__} function of a {@link KernelModule} with its own reusable {@link KernelArgs}.
 * Not thread-safe: a kernel object is used by one thread (one stream) at a time.
 */
public final class Kernel {
    private final String name;
    private final CUfunc_st function;
    private final KernelArgs args;

    Kernel(String name, CUfunc_st function, String signature) {
        this.name = name;
        this.function = function;
        this.args = new KernelArgs(signature);
    }

    public String name() {
        return name;
    }

    /** The argument slots: set every argument, then {@link #launch}. */
    public KernelArgs args() {
        return args;
    }

    /** 1-D launch: {@code grid} blocks of {@code block} threads. */
    public void launch(int grid, int block, CudaStream stream) {
        launch(grid, 1, 1, block, 1, 1, 0, stream);
    }

    /** Lets launches ask for up to {@code bytes} of dynamic shared memory (above the default 48 KB needs this). */
    public void allowDynamicShared(int bytes) {
        Cuda.checkDriver(cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
                "cuFuncSetAttribute(" + name + ", max dynamic shared " + bytes + ")");
    }

    public void launch(int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, CudaStream stream) {
        if (gx <= 0 || gy <= 0 || gz <= 0) {
            throw new IllegalArgumentException(name + ": empty grid " + gx + "x" + gy + "x" + gz);
        }
        int rc = cuLaunchKernel(function, gx, gy, gz, bx, by, bz, sharedBytes, stream.handle(),
                args.kernelParams(), (org.bytedeco.javacpp.PointerPointer<?>) null);
        Cuda.checkDriver(rc, "cuLaunchKernel(" + name + ")");
    }
}
