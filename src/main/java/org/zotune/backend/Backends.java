package org.zotune.backend;

import org.zotune.ZotuneException;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.tensor.DType;

/** Creates the backend for a device name, falling back to the CPU with a message when CUDA is unusable. */
public final class Backends {
    private Backends() {
    }

    /**
     * @param device "cpu", "cuda" (fails with a one-line reason when no device is usable) or "auto" (CUDA
     *               when usable, else the CPU reference backend, saying why on stderr)
     * @param computeType activation dtype
     */
    public static Ops create(String device, DType computeType) {
        switch (device) {
            case "cpu":
                return new CpuOps(computeType);
            case "cuda":
                return CudaOps.create(computeType);
            case "auto":
                Cuda.Availability a = Cuda.availability();
                if (a.usable()) {
                    return CudaOps.create(computeType);
                }
                System.err.println("zotune: no usable CUDA device (" + a.reason() + "); running on the CPU reference"
                        + " backend");
                return new CpuOps(computeType);
            default:
                throw new ZotuneException("unknown device '" + device + "' (expected cpu, cuda or auto)");
        }
    }
}
