package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/**
 * One of the reference optimisers' configurations ({@link ZoSgd.Config}, {@link ZoSgdMomentum.Config},
 * {@link ZoAdam.Config}, {@link ZoAdaMu.Config}) as the fused kernels see it: which update kernel, which
 * direction, how many state vectors of which dtype, and the per-step scalars, computed on the host exactly as the
 * reference's {@code beginStep} does (double, rounded once to float32).
 */
public final class GpuOptimizer {
    /** Direction codes of zo.cuh. */
    static final int DIR_GAUSSIAN = 0;
    static final int DIR_RADEMACHER = 1;
    static final int DIR_ADAMU = 2;

    public enum Kind {
        SGD("sgd", "zo-sgd", 0), MMT("mmt", "zo-sgd-mmt", 1), ADAM("adam", "zo-adam", 2),
        ADAMU("adamu", "zo-adamu", 1);

        final String kernel;
        /** The optimiser's name in configs and messages (ZoOptimizer.name()). */
        public final String optimizerName;
        final int stateVectors;

        Kind(String kernel, String optimizerName, int stateVectors) {
            this.kernel = kernel;
            this.optimizerName = optimizerName;
            this.stateVectors = stateVectors;
        }
    }

    private final Kind kind;
    private final Object config;
    private final LrSchedule lr;

    private GpuOptimizer(Kind kind, Object config, LrSchedule lr) {
        this.kind = kind;
        this.config = config;
        this.lr = lr;
    }

    /** Accepts the configuration record of one of the four reference optimisers. */
    public static GpuOptimizer of(Object config) {
        if (config instanceof ZoSgd.Config c) {
            return new GpuOptimizer(Kind.SGD, c, c.lr());
        }
        if (config instanceof ZoSgdMomentum.Config c) {
            return new GpuOptimizer(Kind.MMT, c, c.lr());
        }
        if (config instanceof ZoAdam.Config c) {
            return new GpuOptimizer(Kind.ADAM, c, c.lr());
        }
        if (config instanceof ZoAdaMu.Config c) {
            return new GpuOptimizer(Kind.ADAMU, c, c.lr());
        }
        throw new ZotuneException("GPU zeroth-order engine: unsupported optimiser configuration "
                + (config == null ? "null" : config.getClass().getName())
                + " (expected zo-sgd, zo-sgd-mmt, zo-adam or zo-adamu)");
    }

    public Kind kind() {
        return kind;
    }

    public Object config() {
        return config;
    }

    /** State vectors per trainable element (m; m and v for Adam), each of {@link #stateDType()}. */
    public int stateVectors() {
        return kind.stateVectors;
    }

    /** The storage type of the state vectors (the reference config's stateDType; F32 for ZO-SGD). */
    public DType stateDType() {
        if (config instanceof ZoSgdMomentum.Config c) {
            return c.stateDType();
        }
        if (config instanceof ZoAdam.Config c) {
            return c.stateDType();
        }
        if (config instanceof ZoAdaMu.Config c) {
            return c.stateDType();
        }
        return DType.F32;
    }

    /** Device bytes of one state vector over {@code elements} global indices (0 without state). */
    public long stateBytes(long elements) {
        return kind.stateVectors == 0 ? 0 : elements * stateDType().bytes();
    }

    /** The most SPSA samples q the fused kernels average: ZO-AdaMU defines its update for q = 1 only. */
    public int maxSamples() {
        return kind == Kind.ADAMU ? 1 : Integer.MAX_VALUE;
    }

    /** The direction code the kernels use for u. */
    int direction() {
        if (kind == Kind.ADAMU) {
            return DIR_ADAMU;
        }
        if (kind == Kind.SGD && ((ZoSgd.Config) config).noise() == Noise.Distribution.RADEMACHER) {
            return DIR_RADEMACHER;
        }
        return DIR_GAUSSIAN;
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
        float eta = lr.at(t);
        b.putLong(ZoScalars.SEED, seed);
        b.putFloat(ZoScalars.EPS, eps);
        b.putFloat(ZoScalars.ETA, eta);
        b.putInt(ZoScalars.STEP, (int) t);
        b.putInt(ZoScalars.STREAM, Noise.sampleStream(sample));
        b.putInt(ZoScalars.SAMPLES, samples);
        switch (kind) {
            case SGD: {
                b.putFloat(ZoScalars.LAMBDA, (float) ((ZoSgd.Config) config).weightDecay());
                break;
            }
            case MMT: {
                ZoSgdMomentum.Config c = (ZoSgdMomentum.Config) config;
                b.putFloat(ZoScalars.LAMBDA, (float) c.weightDecay());
                b.putFloat(ZoScalars.A0, (float) c.momentum());
                break;
            }
            case ADAM: {
                ZoAdam.Config c = (ZoAdam.Config) config;
                b.putFloat(ZoScalars.LAMBDA, (float) c.weightDecay());
                b.putFloat(ZoScalars.A0, (float) c.beta1());
                b.putFloat(ZoScalars.A1, (float) c.beta2());
                b.putFloat(ZoScalars.A2, (float) (1.0 - c.beta1()));
                b.putFloat(ZoScalars.A3, (float) (1.0 - c.beta2()));
                b.putFloat(ZoScalars.A4, (float) (1.0 - Math.pow(c.beta1(), t)));
                b.putFloat(ZoScalars.A5, (float) (1.0 - Math.pow(c.beta2(), t)));
                b.putFloat(ZoScalars.A6, (float) c.epsilon());
                break;
            }
            default: {
                ZoAdaMu.Config c = (ZoAdaMu.Config) config;
                AdaMuSchedule s = c.schedule();
                double alpha = s.alpha(t);
                double beta1 = s.beta1(t);
                double beta2 = s.beta2(t);
                b.putFloat(ZoScalars.LAMBDA, eta * (float) c.weightDecay()); // η_t·λ, decoupled
                b.putFloat(ZoScalars.A0, (float) Math.sqrt(alpha));
                b.putFloat(ZoScalars.A1, (float) Math.sqrt(1.0 - alpha));
                b.putFloat(ZoScalars.A2, (float) beta1);
                b.putFloat(ZoScalars.A3, (float) (1.0 - beta1));
                b.putFloat(ZoScalars.A4, (float) beta2);
                b.putFloat(ZoScalars.A5, (float) (1.0 - beta2));
                b.putFloat(ZoScalars.A6, (float) c.sigma());
                break;
            }
        }
    }
}
