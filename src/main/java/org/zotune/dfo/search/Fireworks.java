package org.zotune.dfo.search;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.zo.noise.Philox4x32;

/**
 * F-LoRA's optimiser (ALGORITHMS.md §7): zotune's own member of the EFWA / bare-bones fireworks family (Zheng,
 * Janecek, Tan, "Enhanced Fireworks Algorithm", CEC 2013; Li, Tan, "The bare bones fireworks algorithm", Applied
 * Soft Computing 2018). One core firework x with amplitude A.
 *
 * <h2>One generation of λ = {@code population} candidates</h2>
 * <ul>
 *   <li>m = round(λ·{@link Settings#mutationFraction}) Gaussian mutation sparks, clamped to [1, λ−1] when the
 *       fraction is positive (0 when it is 0), and n = λ − m explosion sparks; λ = 20 gives n = 16, m = 4.</li>
 *   <li>Explosion spark k &lt; n: every coordinate drawn uniformly in [x_j − A, x_j + A) (the bare-bones
 *       explosion).</li>
 *   <li>Mutation spark k ≥ n: x + {@link Settings#mutationScale}·(A/√3)·N(0, I), a Gaussian of the same
 *       per-coordinate spread as the box times the scale: a heavier-tailed complement to the box.</li>
 *   <li>Generation 0 spends its first candidate on the start point itself, so the core is never worse than where
 *       the search began (DFO-LoRA: z = 0, the pretrained model) and the first adaptation has a value to compare
 *       against.</li>
 *   <li>With bounds, every coordinate outside [lower, upper] is mirrored back into it (see {@link #map}).</li>
 * </ul>
 *
 * <h2>Tell</h2>
 * Elitist: if the best spark (lowest value, first on ties; NaN counts as +∞) is strictly below the core's value, the
 * core moves there and A ×= {@link Settings#amplitudeUp} (1.2), otherwise the core stays and A ×=
 * {@link Settings#amplitudeDown} (0.9). A never falls below A₀·{@link Settings#minAmplitudeRatio} (EFWA's minimal
 * amplitude check, here a fixed floor) nor, with two finite bounds, exceeds upper − lower.
 *
 * <h2>σ0</h2>
 * A₀ = {@link Settings#amplitudePerSigma}·σ0 with the default √3: a coordinate uniform in [−A₀, A₀) has standard
 * deviation σ0, the same as CMA-ES's first generation N(0, σ0²I), so one σ0 means one initial step size for both.
 *
 * <h2>Randomness</h2>
 * Candidate k of generation g, coordinate j, owns one Philox4x32-10 block: counter
 * (lo32(b), hi32(b), {@link #STREAM}, 2) with b = (g·λ + k)·D + j, key (lo32(seed), hi32(seed)). Its words
 * (w0, w1) give u = ((w0 >>> 5)·2²⁶ + (w1 >>> 6))·2⁻⁵³ ∈ [0, 1) (explosion: x_j + A(2u − 1)); a mutation spark also
 * takes v from (w2, w3) the same way and uses the Box–Muller normal sqrt(−2 ln(1 − u))·cos(2πv). The counter's last
 * word 2 is used by no {@link org.zotune.zo.noise.Noise} stream. Candidates are thus a pure function of (seed, g,
 * x, A): {@link #tell} regenerates them rather than trusting the caller's arrays, and a restored state asks the
 * same generation again.
 */
public final class Fireworks implements AskTell {
    /** Third counter word of every Philox block the optimiser draws ("FWA\0"). */
    public static final int STREAM = 0x46574100;
    private static final int STATE_MAGIC = 0x46574131; // "FWA1"
    private static final int STATE_VERSION = 1;

    /**
     * Every constant of the algorithm.
     *
     * @param mutationFraction  share of the population spent on Gaussian mutation sparks, in [0, 1); default 0.2
     * @param amplitudeUp       A's factor when the generation's best spark improves on the core, &gt; 1; default 1.2
     * @param amplitudeDown     A's factor otherwise, in (0, 1); default 0.9
     * @param amplitudePerSigma A₀ / σ0, &gt; 0; default √3 (a uniform coordinate of standard deviation σ0)
     * @param mutationScale     a mutation spark's per-coordinate standard deviation in units of A/√3, &gt; 0;
     *                          default 1
     * @param minAmplitudeRatio A's floor in units of A₀, in (0, 1]; default 1e-8
     * @param lower             lower bound of every coordinate; default −∞ (none: the subspace point is unbounded)
     * @param upper             upper bound of every coordinate; default +∞
     */
    public record Settings(double mutationFraction, double amplitudeUp, double amplitudeDown,
            double amplitudePerSigma, double mutationScale, double minAmplitudeRatio, double lower, double upper) {
        public static final Settings DEFAULTS = new Settings(0.2, 1.2, 0.9, Math.sqrt(3), 1.0, 1e-8,
                Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY);

        public Settings {
            check(mutationFraction >= 0 && mutationFraction < 1, "mutationFraction", mutationFraction, "in [0, 1)");
            check(amplitudeUp > 1 && Double.isFinite(amplitudeUp), "amplitudeUp", amplitudeUp, "finite and > 1");
            check(amplitudeDown > 0 && amplitudeDown < 1, "amplitudeDown", amplitudeDown, "in (0, 1)");
            check(amplitudePerSigma > 0 && Double.isFinite(amplitudePerSigma), "amplitudePerSigma",
                    amplitudePerSigma, "finite and > 0");
            check(mutationScale > 0 && Double.isFinite(mutationScale), "mutationScale", mutationScale,
                    "finite and > 0");
            check(minAmplitudeRatio > 0 && minAmplitudeRatio <= 1, "minAmplitudeRatio", minAmplitudeRatio,
                    "in (0, 1]");
            check(!Double.isNaN(lower) && lower != Double.POSITIVE_INFINITY, "lower", lower, "a number below +inf");
            check(!Double.isNaN(upper) && upper != Double.NEGATIVE_INFINITY, "upper", upper, "a number above -inf");
            if (!(lower < upper)) {
                throw new ZotuneException("fireworks: lower bound " + lower + " must be below upper bound " + upper);
            }
        }

        /** These settings with coordinate bounds [lower, upper]. */
        public Settings withBounds(double lower, double upper) {
            return new Settings(mutationFraction, amplitudeUp, amplitudeDown, amplitudePerSigma, mutationScale,
                    minAmplitudeRatio, lower, upper);
        }

        /** Whether any bound is finite. */
        public boolean bounded() {
            return lower != Double.NEGATIVE_INFINITY || upper != Double.POSITIVE_INFINITY;
        }

        private static void check(boolean ok, String field, double value, String want) {
            if (!ok) {
                throw new ZotuneException("fireworks: " + field + " must be " + want + ", got " + value);
            }
        }
    }

    private final int dimension;
    private final int population;
    private final int mutationSparks;
    private final double sigma0;
    private final long seed;
    private final Settings settings;
    private final double initialAmplitude;
    private final double minAmplitude;
    private final double maxAmplitude;

    private long generation;
    private double amplitude;
    private final double[] core;
    private double coreValue = Double.POSITIVE_INFINITY;

    private Fireworks(int dimension, int population, double sigma0, long seed, Settings settings, double[] start) {
        this.dimension = dimension;
        this.population = population;
        this.sigma0 = sigma0;
        this.seed = seed;
        this.settings = settings;
        this.mutationSparks = mutationSparks(population, settings.mutationFraction());
        this.maxAmplitude = settings.lower() != Double.NEGATIVE_INFINITY && settings.upper() != Double.POSITIVE_INFINITY
                ? settings.upper() - settings.lower() : Double.POSITIVE_INFINITY;
        this.initialAmplitude = Math.min(settings.amplitudePerSigma() * sigma0, maxAmplitude);
        this.minAmplitude = initialAmplitude * settings.minAmplitudeRatio();
        this.amplitude = initialAmplitude;
        this.core = start.clone();
    }

    /** The default settings, starting at the origin. */
    public static Fireworks create(int dimension, int population, double sigma0, long seed) {
        checkShape(dimension, population, sigma0);
        return create(dimension, population, sigma0, seed, Settings.DEFAULTS, new double[dimension]);
    }

    /**
     * @param settings the constants (and bounds)
     * @param start    the first core; it must lie inside the bounds
     */
    public static Fireworks create(int dimension, int population, double sigma0, long seed, Settings settings,
            double[] start) {
        checkShape(dimension, population, sigma0);
        if (settings == null) {
            throw new ZotuneException("fireworks: settings are missing");
        }
        if (start == null || start.length != dimension) {
            throw new ZotuneException("fireworks: the start point has " + (start == null ? "no" : start.length)
                    + " values, the dimension is " + dimension);
        }
        for (int j = 0; j < dimension; j++) {
            if (!Double.isFinite(start[j]) || start[j] < settings.lower() || start[j] > settings.upper()) {
                throw new ZotuneException("fireworks: start[" + j + "] = " + start[j] + " is not a finite value in ["
                        + settings.lower() + ", " + settings.upper() + "]");
            }
        }
        return new Fireworks(dimension, population, sigma0, seed, settings, start);
    }

    private static void checkShape(int dimension, int population, double sigma0) {
        if (dimension < 1) {
            throw new ZotuneException("fireworks: dimension must be >= 1, got " + dimension);
        }
        if (population < 2) {
            throw new ZotuneException("fireworks: population must be >= 2, got " + population);
        }
        if (!(sigma0 > 0) || !Double.isFinite(sigma0)) {
            throw new ZotuneException("fireworks: sigma0 must be finite and > 0, got " + sigma0);
        }
        // the λ sparks of n values each are allocated every generation: refuse what the heap cannot hold
        long bytes = 8L * population * (dimension + 2L);
        long heap = Runtime.getRuntime().maxMemory();
        if (bytes > heap) {
            throw new ZotuneException("fireworks: dimension " + dimension + ", population " + population + " need at "
                    + "least " + (bytes >> 20) + " MiB, more than the JVM's " + (heap >> 20) + " MiB heap; use a "
                    + "smaller population or subspace");
        }
    }

    /** m from λ and the mutation fraction (see the class comment). */
    static int mutationSparks(int population, double fraction) {
        if (fraction == 0) {
            return 0;
        }
        long m = Math.round(population * fraction);
        return (int) Math.max(1, Math.min(population - 1, m));
    }

    @Override
    public int dimension() {
        return dimension;
    }

    @Override
    public int populationSize() {
        return population;
    }

    @Override
    public long generation() {
        return generation;
    }

    /** The number of Gaussian mutation sparks per generation (the last ones of {@link #ask}). */
    public int mutationSparks() {
        return mutationSparks;
    }

    /** The current explosion amplitude A. */
    public double amplitude() {
        return amplitude;
    }

    /** A₀, the amplitude of the first generation. */
    public double initialAmplitude() {
        return initialAmplitude;
    }

    /** The floor A never goes below. */
    public double minAmplitude() {
        return minAmplitude;
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public double[][] ask() {
        double[][] c = new double[population][dimension];
        int explosion = population - mutationSparks;
        double gaussianSd = settings.mutationScale() * amplitude / Math.sqrt(3);
        int[] w = new int[4];
        for (int k = 0; k < population; k++) {
            if (k == 0 && generation == 0) {
                System.arraycopy(core, 0, c[0], 0, dimension);
                continue;
            }
            long base = (generation * population + k) * dimension;
            for (int j = 0; j < dimension; j++) {
                long b = base + j;
                Philox4x32.generate((int) b, (int) (b >>> 32), STREAM, 2, (int) seed, (int) (seed >>> 32), w);
                double u = unit(w[0], w[1]);
                double x;
                if (k < explosion) {
                    x = core[j] + amplitude * (2 * u - 1);
                } else {
                    double v = unit(w[2], w[3]);
                    double normal = Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
                    x = core[j] + gaussianSd * normal;
                }
                c[k][j] = settings.bounded() ? map(x, settings.lower(), settings.upper()) : x;
            }
        }
        return c;
    }

    /** A uniform double in [0, 1) from the top 27 and 26 bits of two words. */
    static double unit(int hi, int lo) {
        return (((long) (hi >>> 5) << 26) + (lo >>> 6)) * 0x1p-53;
    }

    /**
     * The bounds' mapping rule: a coordinate outside [lower, upper] is mirrored at the bound it crossed, as often
     * as needed (with two finite bounds, x − lower is folded modulo 2(upper − lower)), then clamped against
     * rounding. Mirroring keeps a spark as far from the core as it was drawn, where EFWA's uniform re-draw would
     * throw sparks of a core near a bound across the whole box and clamping would pile them on the bound.
     */
    static double map(double x, double lower, double upper) {
        if (x >= lower && x <= upper) {
            return x;
        }
        double y;
        if (lower == Double.NEGATIVE_INFINITY) {
            y = upper - (x - upper);
        } else if (upper == Double.POSITIVE_INFINITY) {
            y = lower + (lower - x);
        } else {
            double width = upper - lower;
            double t = (x - lower) % (2 * width);
            if (t < 0) {
                t += 2 * width;
            }
            y = lower + (t <= width ? t : 2 * width - t);
        }
        return Math.min(upper, Math.max(lower, y));
    }

    @Override
    public void tell(double[] values) {
        if (values == null || values.length != population) {
            throw new ZotuneException("fireworks: tell expects " + population + " values, got "
                    + (values == null ? "none" : values.length));
        }
        double[][] candidates = ask();
        int best = -1;
        double bestValue = Double.POSITIVE_INFINITY;
        for (int k = 0; k < population; k++) {
            double v = Double.isNaN(values[k]) ? Double.POSITIVE_INFINITY : values[k];
            if (generation == 0 && k == 0) {
                coreValue = v; // the start point itself: the core's own value, not a spark
                continue;
            }
            if (best < 0 || v < bestValue) {
                best = k;
                bestValue = v;
            }
        }
        if (bestValue < coreValue) {
            System.arraycopy(candidates[best], 0, core, 0, dimension);
            coreValue = bestValue;
            amplitude = Math.min(maxAmplitude, amplitude * settings.amplitudeUp());
        } else {
            amplitude = Math.max(minAmplitude, amplitude * settings.amplitudeDown());
        }
        generation++;
    }

    @Override
    public double[] best() {
        return core.clone();
    }

    @Override
    public double bestValue() {
        return coreValue;
    }

    /**
     * Layout (big-endian, DataOutput): int magic "FWA1", int version 1, int D, int λ, long seed, double σ0, the eight
     * settings doubles in record order, long generation, double A, double core value, D doubles of the core.
     */
    @Override
    public void writeState(DataOutput out) throws IOException {
        out.writeInt(STATE_MAGIC);
        out.writeInt(STATE_VERSION);
        out.writeInt(dimension);
        out.writeInt(population);
        out.writeLong(seed);
        out.writeDouble(sigma0);
        for (double s : settingsArray()) {
            out.writeDouble(s);
        }
        out.writeLong(generation);
        out.writeDouble(amplitude);
        out.writeDouble(coreValue);
        for (double x : core) {
            out.writeDouble(x);
        }
    }

    @Override
    public void readState(DataInput in) throws IOException {
        if (in.readInt() != STATE_MAGIC) {
            throw new ZotuneException("fireworks state: not a Fireworks state");
        }
        int version = in.readInt();
        if (version != STATE_VERSION) {
            throw new ZotuneException("fireworks state: version " + version + ", expected " + STATE_VERSION);
        }
        expect("dimension", in.readInt(), dimension);
        expect("population", in.readInt(), population);
        long s = in.readLong();
        if (s != seed) {
            throw new ZotuneException("fireworks state: written with seed " + s + ", this optimiser has " + seed);
        }
        double sg = in.readDouble();
        if (Double.compare(sg, sigma0) != 0) {
            throw new ZotuneException("fireworks state: written with sigma0 " + sg + ", this optimiser has " + sigma0);
        }
        double[] mine = settingsArray();
        double[] theirs = new double[mine.length];
        for (int i = 0; i < theirs.length; i++) {
            theirs[i] = in.readDouble();
        }
        if (!Arrays.equals(mine, theirs)) {
            throw new ZotuneException("fireworks state: written with settings " + Arrays.toString(theirs)
                    + ", this optimiser has " + Arrays.toString(mine));
        }
        long g = in.readLong();
        double a = in.readDouble();
        double v = in.readDouble();
        double[] x = new double[dimension];
        for (int j = 0; j < dimension; j++) {
            x[j] = in.readDouble();
            if (!Double.isFinite(x[j])) {
                throw new ZotuneException("fireworks state: the core holds " + x[j] + " at " + j + " (corrupt)");
            }
        }
        if (g < 0 || !(a >= minAmplitude && a <= maxAmplitude) || Double.isNaN(v)) {
            throw new ZotuneException("fireworks state: corrupt (generation " + g + ", amplitude " + a
                    + ", value " + v + ")");
        }
        generation = g;
        amplitude = a;
        coreValue = v;
        System.arraycopy(x, 0, core, 0, dimension);
    }

    private double[] settingsArray() {
        Settings t = settings;
        return new double[] {t.mutationFraction(), t.amplitudeUp(), t.amplitudeDown(), t.amplitudePerSigma(),
                t.mutationScale(), t.minAmplitudeRatio(), t.lower(), t.upper()};
    }

    private static void expect(String field, int got, int want) {
        if (got != want) {
            throw new ZotuneException("fireworks state: written with " + field + " " + got + ", this optimiser has "
                    + want);
        }
    }
}
