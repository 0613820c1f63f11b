package org.zotune.zo.optim;

/** How θ ± εu is evaluated (ALGORITHMS.md §2). */
public enum PerturbationStrategy {
    /** MeZO's way: θ += εu, forward, θ -= 2εu, forward, θ += εu (restore, then the update). */
    IN_PLACE,
    /** θ is never modified during the step: θ ± εu is materialised into scratch buffers for each forward. */
    SHADOW;

    public static PerturbationStrategy parse(String s) {
        switch (s.toLowerCase(java.util.Locale.ROOT).replace('_', '-')) {
            case "in-place": case "inplace": return IN_PLACE;
            case "shadow": return SHADOW;
            default: throw new org.zotune.ZotuneException("unknown perturbation strategy '" + s
                    + "' (expected in-place or shadow)");
        }
    }
}
