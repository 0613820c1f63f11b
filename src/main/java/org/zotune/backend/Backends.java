package org.zotune.backend;

import org.zotune.ZotuneException;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.tensor.DType;

/** Creates the backend for a device name, falling back to the CPU with a message when CUDA is unusable. */
public final class Backends {
    private Backends() {
    }

    /**
     * @param device "cpu", "cuda" or "auto"
     * @param computeType activation dtype
     */
    public static Ops create(String device, DType computeType) {
        switch (device) {
            case "cpu":
                return new CpuOps(computeType);
            case "auto":
            case "cuda":
                // replaced by the CUDA backend when it lands
                if (device.equals("cuda")) {
                    throw new ZotuneException("--device cuda: the CUDA backend is not available in this build");
                }
                System.err.println("zotune: no usable CUDA device; running on the CPU reference backend");
                return new CpuOps(computeType);
            default:
                throw new ZotuneException("unknown device '" + device + "' (expected cpu, cuda or auto)");
        }
    }
}
