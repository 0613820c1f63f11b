package org.zotune.zo.functions;

/**
 * The two-dimensional test functions of the ZO-AdaMU paper's trajectory figure (ALGORITHMS.md §8), with the
 * exact gradient (a subgradient where |.| is not differentiable: sign(0) = 0) for the first-order references.
 *
 * <p>Start points (the paper does not state its figure's): a–d start at (-2.5, 2), inside [-3, 3]² and off
 * every axis of symmetry, so f_b and f_d show their anisotropy; Beale starts at (1, 1), the standard start of
 * Moré, Garbow and Hillstrom's test set; Rosenbrock, written with x and y in swapped roles (valley x = y²),
 * starts at (1, -1.2), the classic (-1.2, 1) start in the same swap.
 */
public enum TestFunction {
    A("a", "f_a = |x| + |y|", 3, -2.5, 2.0, 0, 0) {
        @Override
        public double value(double x, double y) {
            return Math.abs(x) + Math.abs(y);
        }

        @Override
        public double[] gradient(double x, double y) {
            return new double[] {Math.signum(x), Math.signum(y)};
        }
    },
    B("b", "f_b = |x + y| + |x - y| / 10", 3, -2.5, 2.0, 0, 0) {
        @Override
        public double value(double x, double y) {
            return Math.abs(x + y) + Math.abs(x - y) / 10;
        }

        @Override
        public double[] gradient(double x, double y) {
            double s = Math.signum(x + y);
            double d = Math.signum(x - y) / 10;
            return new double[] {s + d, s - d};
        }
    },
    C("c", "f_c = (x + y)^2 + (x - y)^2 / 10", 3, -2.5, 2.0, 0, 0) {
        @Override
        public double value(double x, double y) {
            return (x + y) * (x + y) + (x - y) * (x - y) / 10;
        }

        @Override
        public double[] gradient(double x, double y) {
            double s = 2 * (x + y);
            double d = 2 * (x - y) / 10;
            return new double[] {s + d, s - d};
        }
    },
    D("d", "f_d = |x| / 10 + |y|", 3, -2.5, 2.0, 0, 0) {
        @Override
        public double value(double x, double y) {
            return Math.abs(x) / 10 + Math.abs(y);
        }

        @Override
        public double[] gradient(double x, double y) {
            return new double[] {Math.signum(x) / 10, Math.signum(y)};
        }
    },
    BEALE("beale", "Beale = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2", 4.5, 1.0, 1.0, 3, 0.5) {
        @Override
        public double value(double x, double y) {
            double a = 1.5 - x + x * y;
            double b = 2.25 - x + x * y * y;
            double c = 2.625 - x + x * y * y * y;
            return a * a + b * b + c * c;
        }

        @Override
        public double[] gradient(double x, double y) {
            double a = 1.5 - x + x * y;
            double b = 2.25 - x + x * y * y;
            double c = 2.625 - x + x * y * y * y;
            double gx = 2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y * y * y - 1);
            double gy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y * y;
            return new double[] {gx, gy};
        }
    },
    ROSENBROCK("rosenbrock", "Rosenbrock = 100 (x - y^2)^2 + (1 - y)^2", 4.5, 1.0, -1.2, 1, 1) {
        @Override
        public double value(double x, double y) {
            double a = x - y * y;
            return 100 * a * a + (1 - y) * (1 - y);
        }

        @Override
        public double[] gradient(double x, double y) {
            double a = x - y * y;
            return new double[] {200 * a, -400 * a * y - 2 * (1 - y)};
        }
    };

    private final String id;
    private final String formula;
    private final double half;
    private final double startX;
    private final double startY;
    private final double minX;
    private final double minY;

    TestFunction(String id, String formula, double half, double startX, double startY, double minX, double minY) {
        this.id = id;
        this.formula = formula;
        this.half = half;
        this.startX = startX;
        this.startY = startY;
        this.minX = minX;
        this.minY = minY;
    }

    public abstract double value(double x, double y);

    /** ∂f/∂x, ∂f/∂y (a subgradient with sign(0) = 0 where f is not differentiable). */
    public abstract double[] gradient(double x, double y);

    /** The short name used in file names: a, b, c, d, beale, rosenbrock. */
    public String id() {
        return id;
    }

    public String formula() {
        return formula;
    }

    /** The domain is [-h, h]². */
    public double halfWidth() {
        return half;
    }

    public double startX() {
        return startX;
    }

    public double startY() {
        return startY;
    }

    /** The global minimiser (f = 0 there). */
    public double minX() {
        return minX;
    }

    public double minY() {
        return minY;
    }
}
