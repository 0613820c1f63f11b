package org.zotune.zo.cuda;

import java.nio.ByteBuffer;

/**
 * Byte layout of the device scalar block {@code zo::Scalars} (native/include/zo.cuh): 64 bytes of per-step
 * inputs (common scalars, then the optimiser's named rule parameters at {@link #PARAMS}) the host writes before each
 * step (so a captured graph replays with new values), then 64 bytes the
 * device writes (cross-entropy pairs, ℓ±, g, the non-finite flag). A step with q SPSA samples has q consecutive
 * blocks, one per sample (its noise stream, its losses and g). A CPU test checks these offsets against the
 * header's static_asserts.
 */
public final class ZoScalars {
    public static final int SEED = 0;
    public static final int EPS = 8;
    public static final int ETA = 12;
    /**
     * The optimiser's rule parameters ({@code zo::RuleParams}, a union of one named struct per optimiser in
     * native/include/zo_rules.cuh): float32 values in the order of {@code ZoOptimizerConfig.DeviceRule.fields()}.
     */
    public static final int PARAMS = 16;
    public static final int PARAMS_BYTES = 32;
    public static final int STEP = 48;
    /** The noise stream of the block's SPSA sample (Noise.sampleStream). */
    public static final int STREAM = 52;
    /** q: read from block 0; a step with q samples uses q consecutive blocks. */
    public static final int SAMPLES = 56;
    public static final int CE_PLUS = 64;
    public static final int CE_MINUS = 72;
    public static final int LOSS_PLUS = 80;
    public static final int LOSS_MINUS = 84;
    public static final int G = 88;
    public static final int BAD = 92;
    public static final int STEP_OUT = 96;

    /** The input block [0, INPUT_BYTES) and the output block [OUTPUT, SIZE). */
    public static final int INPUT_BYTES = 64;
    public static final int OUTPUT = 64;
    public static final int OUTPUT_BYTES = 64;
    public static final int SIZE = 128;

    private ZoScalars() {
    }

    /** The device outputs of one step, read from a little-endian copy of the output block (index 0 = OUTPUT). */
    public record Outputs(int step, float cePlusSum, float cePlusCount, float ceMinusSum, float ceMinusCount,
                         float lossPlus, float lossMinus, float g, boolean bad) {
        static Outputs read(ByteBuffer out) {
            int o = OUTPUT;
            return new Outputs(out.getInt(STEP_OUT - o), out.getFloat(CE_PLUS - o), out.getFloat(CE_PLUS + 4 - o),
                    out.getFloat(CE_MINUS - o), out.getFloat(CE_MINUS + 4 - o), out.getFloat(LOSS_PLUS - o),
                    out.getFloat(LOSS_MINUS - o), out.getFloat(G - o), out.getInt(BAD - o) != 0);
        }
    }
}
