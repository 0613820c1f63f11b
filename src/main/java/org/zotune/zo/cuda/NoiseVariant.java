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
 * Chosen per {@link ZoKernels}, fixed when it is made. A run passes its own: key {@code noise} (auto: fast on the
 * CUDA engine, exact on the CPU engine, which has the exact reference only), resolved once and recorded in run.json
 * and the trajectory's header, so that --resume and replay take the variant the run trained with (a recorded config
 * without the key ran with exact). Only the constructors that take no variant (tests, benchmarks) read
 * {@code -Dzotune.noise=exact|fast} (default exact). Either variant is bitwise reproducible across passes, launch
 * configurations and runs; a run must not switch variants midway (the restore would not undo the perturbation).
 */
public enum NoiseVariant {
    EXACT(""),
    FAST("_fast");

    /** The JVM property that picks the variant of the constructors that take none (tests, benchmarks; runs never). */
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

    /** {@code -Dzotune.noise}, default exact: for the constructors without a variant (tests, benchmarks). */
    public static NoiseVariant configured() {
        return parse(System.getProperty(PROPERTY, "exact"));
    }
}
