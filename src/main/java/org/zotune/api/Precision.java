package org.zotune.api;

import org.zotune.tensor.DType;

/** The dtype that parameters are stored and activations computed in; bf16 and f16 accumulate in float32. */
public enum Precision {
    /** float32, the reference precision. */
    F32(DType.F32),
    /** bfloat16: float32's range with 8 bits of mantissa (emulated by rounding on the CPU). */
    BF16(DType.BF16),
    /** IEEE half precision (weights beyond 65504 are refused; emulated by rounding on the CPU). */
    F16(DType.F16);

    private final DType dtype;

    Precision(DType dtype) {
        this.dtype = dtype;
    }

    DType dtype() {
        return dtype;
    }

    /** The spelling of the config key {@code dtype} and of the CLI's {@code --dtype}. */
    public String spelling() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    static Precision of(DType d) {
        for (Precision p : values()) {
            if (p.dtype == d) {
                return p;
            }
        }
        throw new IllegalArgumentException("no precision for " + d);
    }
}
