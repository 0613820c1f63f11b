package org.zotune.train.config;

import org.zotune.tensor.DType;

/**
 * A storage type (keys dtype and optimizer.state_dtype); the public API's counterpart is
 * {@code org.zotune.api.Precision}.
 */
public enum Precision {
    F32(DType.F32), BF16(DType.BF16), F16(DType.F16);

    private final DType dtype;

    Precision(DType dtype) {
        this.dtype = dtype;
    }

    public DType dtype() {
        return dtype;
    }
}
