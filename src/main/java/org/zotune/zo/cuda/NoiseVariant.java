package org.zotune.zo.cuda;

import org.zotune.ZotuneException;

/**
 * How the ZO kernels evaluate Box–Muller (ALGORITHMS.md §1, "Exactness"). Both regenerate the same Philox words and
 * the same stochastic-rounding bits as {@link org.zotune.zo.noise.Noise}; they differ in the float32 functions:
 * <ul>
 *   <li>{@link #EXACT}: our own logarithm and sin/cos(π·x) with exact argument reduction, within 3.5e-7 relative of
 *       the CPU's normals (GPU runs compare bitwise with recorded CPU/GPU baselines through it);</li>
 *   <li>{@link #FAST}: the special-function unit (lg2.approx with a short series for u1 near 1, sin/cos.approx on the
 *       angle reduced from the Philox word, sqrt.approx), within 1e-4 absolute of the CPU's normals (bound argued in
 *       native/include/zo.cuh, measured by ZoNoiseGpuTest) and fewer instructions per element.</li>
 * </ul>
 * Chosen per {@link ZoKernels} ({@code -Dzotune.noise=exact|fast}, read when a ZoKernels is made); the default is
 * exact until the fast variant is measured on the device. Either is bitwise reproducible across passes, launch
 * configurations and runs; a run must not switch variants midway (the restore would not undo the perturbation).
 */
public enum NoiseVariant {
    EXACT(""),
    FAST("_fast");

    /** The JVM property that picks the variant. */
    public static final String PROPERTY = "zotune.noise";

    private final String kernelSuffix;

    NoiseVariant(String kernelSuffix) {
        this.kernelSuffix = kernelSuffix;
    }

    /** What the variant's kernels add to the exact kernels' names (native/kernels/zo_*.cu). */
    public String kernelSuffix() {
        return kernelSuffix;
    }

    /** The property's value: exact or fast. */
    public static NoiseVariant parse(String value) {
        return switch (value) {
            case "exact" -> EXACT;
            case "fast" -> FAST;
            default -> throw new ZotuneException(PROPERTY + ": '" + value + "' is not one of exact, fast");
        };
    }

    /** {@code -Dzotune.noise}, default exact. */
    public static NoiseVariant configured() {
        return parse(System.getProperty(PROPERTY, "exact"));
    }
}
