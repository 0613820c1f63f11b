package org.zotune.zo.optim;

import org.zotune.ZotuneException;

/**
 * ZO-AdaMU's annealing of α, β1, β2 (ALGORITHMS.md §5.1). For x in {α, β1, β2} with shape φ_x and end value x_end:
 * <pre>
 *   t &lt;  T1:        x = 1
 *   T1 &lt;= t &lt; T2:   p = (t - T1) / (T2 - T1);  x = x_end + (1 - x_end) · ½(1 + cos(π p^φ_x))
 *   t &gt;= T2:        x = x_end
 * </pre>
 * Evaluated on the host in double; the update receives the float32 roundings of the derived scalars.
 *
 * @param t1 end of the warm-up (first step of phase 2), >= 1
 * @param t2 first step of phase 3, >= t1
 * @param t3 the last step, >= t2 (phase 3 holds the end values; t3 only bounds the schedule)
 */
public record AdaMuSchedule(long t1, long t2, long t3,
                            double alphaEnd, double beta1End, double beta2End,
                            double phiAlpha, double phiBeta1, double phiBeta2) {

    public AdaMuSchedule {
        String o = "zo-adamu schedule";
        if (t1 < 1) {
            throw new ZotuneException(o + ": T1 must be >= 1, got " + t1);
        }
        if (t1 > t2) {
            throw new ZotuneException(o + ": T1 (" + t1 + ") > T2 (" + t2 + "); need T1 <= T2 <= T3");
        }
        if (t2 > t3) {
            throw new ZotuneException(o + ": T2 (" + t2 + ") > T3 (" + t3 + "); need T1 <= T2 <= T3");
        }
        Check.unitInterval(o, "alphaEnd", alphaEnd);
        Check.unitInterval(o, "beta1End", beta1End);
        Check.unitInterval(o, "beta2End", beta2End);
        Check.finitePositive(o, "phiAlpha", phiAlpha);
        Check.finitePositive(o, "phiBeta1", phiBeta1);
        Check.finitePositive(o, "phiBeta2", phiBeta2);
    }

    /**
     * The paper's values (α_end 0.5, β1_end 0.9, β2_end 0.01; φ 1, 0.1, 1.5) and the reference code's
     * phase rule: T1 = min(1024, 5% of steps) (at least 1), T2 = 0.8·steps (at least T1), T3 = steps.
     */
    public static AdaMuSchedule defaults(long steps) {
        if (steps < 1) {
            throw new ZotuneException("zo-adamu schedule: steps must be >= 1, got " + steps);
        }
        long t1 = Math.max(1, Math.min(1024, (long) Math.floor(0.05 * steps)));
        long t2 = Math.max(t1, (long) Math.floor(0.8 * steps));
        long t3 = Math.max(t2, steps);
        return new AdaMuSchedule(t1, t2, t3, 0.5, 0.9, 0.01, 1.0, 0.1, 1.5);
    }

    public AdaMuSchedule withPhases(long newT1, long newT2, long newT3) {
        return new AdaMuSchedule(newT1, newT2, newT3, alphaEnd, beta1End, beta2End, phiAlpha, phiBeta1, phiBeta2);
    }

    private double anneal(long t, double end, double phi) {
        if (t < t1) {
            return 1.0;
        }
        if (t >= t2) {
            return end;
        }
        double p = (double) (t - t1) / (double) (t2 - t1);
        return end + (1.0 - end) * 0.5 * (1.0 + Math.cos(Math.PI * Math.pow(p, phi)));
    }

    public double alpha(long t) {
        return anneal(t, alphaEnd, phiAlpha);
    }

    public double beta1(long t) {
        return anneal(t, beta1End, phiBeta1);
    }

    public double beta2(long t) {
        return anneal(t, beta2End, phiBeta2);
    }
}
