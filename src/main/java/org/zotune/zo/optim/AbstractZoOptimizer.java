package org.zotune.zo.optim;

import org.zotune.zo.noise.Noise;
import org.zotune.zo.noise.NoiseLayout;

/** Shared plumbing: the layout, the step's seed and η_t, and the averaged estimate ĝ for u = noise. */
abstract class AbstractZoOptimizer implements ZoOptimizer {
    protected final NoiseLayout layout;
    protected final LrSchedule lr;
    protected long t;
    protected long seed;
    protected float eta;

    AbstractZoOptimizer(NoiseLayout layout, LrSchedule lr) {
        if (layout == null || lr == null) {
            throw new IllegalArgumentException("layout and lr schedule are required");
        }
        this.layout = layout;
        this.lr = lr;
    }

    @Override
    public NoiseLayout layout() {
        return layout;
    }

    @Override
    public void beginStep(long step, long stepSeed) {
        if (step < 1) {
            throw new IllegalArgumentException("steps count from 1, got " + step);
        }
        this.t = step;
        this.seed = stepSeed;
        this.eta = lr.at(step);
    }

    /** The current step's η_t (float32). */
    public float eta() {
        return eta;
    }

    protected static int numel(NoiseLayout layout, int p) {
        return Math.toIntExact(layout.size(p));
    }

    /** u of sample k = the noise of stream sampleStream(k) at tensor p's global offsets. */
    protected void noiseDirection(int sample, int p, float[] u, Noise.Distribution dist) {
        Noise.fill(seed, Noise.sampleStream(sample), layout.offset(p), u, 0, numel(layout, p), dist);
    }

    /**
     * ĝ_j = (Σ_k g_k · u_k,j) / q for every element of tensor p, per element in float32:
     * acc = 0; for k = 0..q-1: acc = acc + g_k * u_k,j; ĝ = acc / q (for q = 1, ĝ = g_0 * u_0,j exactly).
     */
    protected float[] estimate(float[] g, int p, Noise.Distribution dist) {
        int n = numel(layout, p);
        float[] ghat = new float[n];
        float[] u = new float[n];
        for (int k = 0; k < g.length; k++) {
            noiseDirection(k, p, u, dist);
            for (int j = 0; j < n; j++) {
                ghat[j] = ghat[j] + g[k] * u[j];
            }
        }
        if (g.length > 1) {
            float q = g.length;
            for (int j = 0; j < n; j++) {
                ghat[j] = ghat[j] / q;
            }
        }
        return ghat;
    }
}
