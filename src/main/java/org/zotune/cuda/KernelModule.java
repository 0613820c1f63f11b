package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import java.io.IOException;
import java.io.InputStream;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.javacpp.BytePointer;

/** A fatbin loaded with {@code cuModuleLoadData}; unloaded by {@link #close()}. */
public final class KernelModule implements AutoCloseable {
    /** The kernels CMake builds from native/ into the jar. */
    public static final String DEFAULT_RESOURCE = "/org/zotune/native/zotune.fatbin";

    private CUmod_st module;
    private final String source;

    private KernelModule(CUmod_st module, String source) {
        this.module = module;
        this.source = source;
    }

    /** Loads zotune's own kernels from the classpath. */
    public static KernelModule loadDefault() {
        return loadResource(DEFAULT_RESOURCE);
    }

    public static KernelModule loadResource(String resource) {
        byte[] bytes;
        try (InputStream in = KernelModule.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new CudaUnavailableException("kernel fatbin " + resource + " is not on the classpath (the jar was"
                        + " built with -Dzotune.skipNative=true or without nvcc)");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new CudaUnavailableException("cannot read kernel fatbin " + resource + ": " + e.getMessage());
        }
        return load(bytes, resource);
    }

    public static KernelModule load(byte[] image, String source) {
        Cuda.require();
        CUmod_st m = new CUmod_st();
        // one byte longer with a trailing 0: the loader also accepts NUL-terminated PTX text
        try (BytePointer p = new BytePointer(image.length + 1L)) {
            p.put(image, 0, image.length);
            p.put((long) image.length, (byte) 0);
            Cuda.checkDriver(cuModuleLoadData(m, p), "cuModuleLoadData(" + source + ")");
        }
        return new KernelModule(m, source);
    }

    /** The named {@code extern "C"} kernel with argument {@code signature} (see {@link KernelArgs}). */
    public Kernel kernel(String name, String signature) {
        if (module == null) {
            throw new IllegalStateException("module " + source + " is closed");
        }
        CUfunc_st f = new CUfunc_st();
        int rc = cuModuleGetFunction(f, module, name);
        if (rc != CUDA_SUCCESS) {
            throw new CudaException("cuModuleGetFunction(" + name + ") in " + source, rc, "no such kernel?");
        }
        return new Kernel(name, f, signature);
    }

    @Override
    public void close() {
        if (module != null) {
            Cuda.checkDriver(cuModuleUnload(module), "cuModuleUnload");
            module = null;
        }
    }
}
