package org.zotune.zo.optim;

import org.zotune.zo.noise.NoiseLayout;

/**
 * A zeroth-order optimiser as the element-wise reference of a fused kernel. Per step t the driver
 * ({@link ZoStep}) calls {@link #beginStep} once (host-side scalars), then {@link #direction} to regenerate
 * the perturbation u of each SPSA sample (for θ ± εu), then {@link #update} once per tensor with the
 * projected gradients g_k. u is regenerated from (step seed, stream, global index) and the optimiser state
 * every time it is needed, never stored across calls, as a kernel would do.
 *
 * <p>All arithmetic is float32 in the order the implementations document; host scalars (η_t, schedule
 * values, bias corrections) are computed in double and rounded to float32 once.
 */
public interface ZoOptimizer {

    /** The CLI name, e.g. "zo-sgd". */
    String name();

    /** The configuration this optimiser was built from. */
    ZoOptimizerConfig config();

    NoiseLayout layout();

    /** The most SPSA samples q this optimiser defines an update for. */
    default int maxSamples() {
        return Integer.MAX_VALUE;
    }

    /** Host-side preparation of step t (t >= 1) with step seed s_t. */
    void beginStep(long t, long seed);

    /** Writes tensor p's direction u of SPSA sample k into {@code u[0 .. numel)}. */
    void direction(int sample, int p, float[] u);

    /**
     * Updates tensor p in place from the projected gradients {@code g[0 .. q)} of the q samples
     * (the estimate is the average of g_k u_k).
     */
    void update(float[] g, int p, float[] theta);

    /**
     * The live state vector {@code vector} (an index into its config's {@code stateVectors()}) of tensor p, for
     * checkpoints and tests.
     */
    default float[] state(int vector, int p) {
        throw new IllegalArgumentException(name() + " has no state vector " + vector);
    }
}
