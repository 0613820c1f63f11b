package org.zotune.tensor;

/** Element types of parameters and activations. Conversions round to nearest even, as PyTorch does. */
public enum DType {
    F32(4, "F32"),
    BF16(2, "BF16"),
    F16(2, "F16");

    private final int bytes;
    private final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    public int bytes() {
        return bytes;
    }

    /** The dtype's name in a safetensors header. */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** Parses a CLI/config name: f32, float32, bf16, bfloat16, f16, float16 (case-insensitive). */
    public static DType parse(String s) {
        switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "f32": case "float32": case "fp32": return F32;
            case "bf16": case "bfloat16": return BF16;
            case "f16": case "float16": case "fp16": case "half": return F16;
            default: throw new IllegalArgumentException("unknown dtype '" + s + "' (expected f32, bf16 or f16)");
        }
    }

    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) {
            return (short) ((x >>> 16) | 0x40); // quiet NaN
        }
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    public static float f16ToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            // zero or subnormal: mant * 2^-24, exact in float32
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    public static short floatToF16(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int abs = x & 0x7fffffff;
        if (abs > 0x7f800000) {
            return (short) (sign | 0x7e00); // NaN
        }
        if (abs >= 0x477ff000) {
            return (short) (sign | 0x7c00); // overflows to infinity after rounding
        }
        if (abs < 0x38800000) {
            // result is subnormal (or zero): round |f| / 2^-24 to nearest even integer
            float a = Float.intBitsToFloat(abs);
            int m = (int) Math.rint(a * 0x1p24f);
            return (short) (sign | m);
        }
        int rounded = abs + 0xfff + ((abs >>> 13) & 1);
        return (short) (sign | ((rounded - 0x38000000) >>> 13));
    }

    /** Rounds a float to the nearest value representable in this dtype. */
    public float round(float f) {
        switch (this) {
            case BF16: return bf16ToFloat(floatToBf16(f));
            case F16: return f16ToFloat(floatToF16(f));
            default: return f;
        }
    }
}
