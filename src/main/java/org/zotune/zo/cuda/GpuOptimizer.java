package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import java.util.List;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.ZoOptimizerConfig;

/**
 * An optimiser as the fused kernels see it ({@link ZoOptimizerConfig#deviceRule()}): which update kernel, which
 * direction, how many state vectors of which dtype, and the per-step input block: the common scalars (seed, ε, η_t,
 * t, the sample's stream, q) followed by the rule's named parameters ({@link ZoOptimizerConfig#deviceScalars},
 * computed on the host exactly as the reference's {@code beginStep} does).
 */
public final class GpuOptimizer {
    private final ZoOptimizerConfig config;
    private final ZoOptimizerConfig.DeviceRule rule;

    private GpuOptimizer(ZoOptimizerConfig config) {
        this.config = config;
        this.rule = config.deviceRule();
        if (rule.fields().size() * 4 > ZoScalars.PARAMS_BYTES) {
            throw new IllegalArgumentException(config.name() + ": " + rule.fields().size() + " device parameters, "
                    + "the scalar block holds " + ZoScalars.PARAMS_BYTES / 4);
        }
    }

    public static GpuOptimizer of(ZoOptimizerConfig config) {
        if (config == null) {
            throw new IllegalArgumentException("an optimiser configuration is required");
        }
        return new GpuOptimizer(config);
    }

    public ZoOptimizerConfig config() {
        return config;
    }

    /** The optimiser's name (ZoOptimizer.name()). */
    public String name() {
        return config.name();
    }

    /** The kernel family: {@code zo_update_<kernel>_<param>_<state>}. */
    public String kernel() {
        return rule.kernel();
    }

    /** State vectors per trainable element (m; m and v for Adam), each of {@link #stateDType()}. */
    public int stateVectors() {
        return config.stateVectors().size();
    }

    /** The storage type of the state vectors (F32 without state). */
    public DType stateDType() {
        return config.stateDType();
    }

    /** Device bytes of one state vector over {@code elements} global indices (0 without state). */
    public long stateBytes(long elements) {
        return stateVectors() == 0 ? 0 : elements * stateDType().bytes();
    }

    /** The most SPSA samples q the fused kernels average (ZO-AdaMU: 1). */
    public int maxSamples() {
        return config.maxSamples();
    }

    /** The direction of u (its code is what the kernels take). */
    public ZoOptimizerConfig.Direction direction() {
        return config.direction();
    }

    /** The byte offset in the input block of the rule parameter {@code field} (a name of the params struct). */
    public int scalarOffset(String field) {
        List<String> fields = rule.fields();
        int i = fields.indexOf(field);
        if (i < 0) {
            throw new IllegalArgumentException(config.name() + " has no device parameter " + field + " (" + fields
                    + ")");
        }
        return ZoScalars.PARAMS + 4 * i;
    }

    /**
     * Writes the input block of step t (t >= 1) with step seed {@code seed} into {@code b} (little-endian,
     * index 0 = the block's start).
     */
    public void writeInputs(ByteBuffer b, long t, long seed, float eps) {
        writeInputs(b, t, seed, eps, 0, 1);
    }

    /**
     * The input block of SPSA sample {@code sample} of a step with {@code samples} samples: the same scalars, the
     * sample's noise stream ({@link Noise#sampleStream}) and q.
     */
    public void writeInputs(ByteBuffer b, long t, long seed, float eps, int sample, int samples) {
        if (sample < 0 || sample >= samples || samples > maxSamples()) {
            throw new IllegalArgumentException("sample " + sample + " of q = " + samples + " (at most "
                    + maxSamples() + ")");
        }
        if (t < 1) {
            throw new IllegalArgumentException("steps count from 1, got " + t);
        }
        for (int i = 0; i < ZoScalars.INPUT_BYTES; i += 4) {
            b.putInt(i, 0);
        }
        float eta = config.lr().at(t);
        b.putLong(ZoScalars.SEED, seed);
        b.putFloat(ZoScalars.EPS, eps);
        b.putFloat(ZoScalars.ETA, eta);
        b.putInt(ZoScalars.STEP, (int) t);
        b.putInt(ZoScalars.STREAM, Noise.sampleStream(sample));
        b.putInt(ZoScalars.SAMPLES, samples);
        float[] p = config.deviceScalars(t, eta);
        if (p.length != rule.fields().size()) {
            throw new IllegalStateException(config.name() + ": " + p.length + " device scalars for the fields "
                    + rule.fields());
        }
        for (int i = 0; i < p.length; i++) {
            b.putFloat(ZoScalars.PARAMS + 4 * i, p[i]);
        }
    }
}
