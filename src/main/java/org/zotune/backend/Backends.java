package org.zotune.backend;

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
        throw new UnsupportedOperationException("TODO: backends");
    }
}
