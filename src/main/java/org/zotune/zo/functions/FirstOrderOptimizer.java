package org.zotune.zo.functions;

/**
 * First-order references on exact gradients, for the trajectory comparison (double precision, 2-D).
 * η_t from an {@link org.zotune.zo.optim.LrSchedule} (as a float, like the ZO optimisers).
 * Adam: m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; θ -= η (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + 1e-8).
 * AdaMax (Kingma and Ba, Algorithm 2): m = β1 m + (1-β1) g; u = max(β2 u, |g| + 1e-8); θ -= (η / (1-β1^t)) m / u.
 */
public final class FirstOrderOptimizer {
    public enum Kind { ADAM, ADAMAX }

    private final Kind kind;
    private final org.zotune.zo.optim.LrSchedule lr;
    private final double beta1 = 0.9;
    private final double beta2 = 0.999;
    private final double[] m = new double[2];
    private final double[] v = new double[2];
    private long t;

    public FirstOrderOptimizer(Kind kind, org.zotune.zo.optim.LrSchedule lr) {
        this.kind = kind;
        this.lr = lr;
    }

    /** One step on θ = (x, y) in place with gradient g. */
    public void step(double[] theta, double[] g) {
        t++;
        double eta = lr.at(t);
        double c1 = 1 - Math.pow(beta1, t);
        double c2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < 2; i++) {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            if (kind == Kind.ADAM) {
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
                theta[i] -= eta * (m[i] / c1) / (Math.sqrt(v[i] / c2) + 1e-8);
            } else {
                v[i] = Math.max(beta2 * v[i], Math.abs(g[i]) + 1e-8);
                theta[i] -= (eta / c1) * m[i] / v[i];
            }
        }
    }
}
