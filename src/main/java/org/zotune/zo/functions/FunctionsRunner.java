package org.zotune.zo.functions;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoLoss;
import org.zotune.zo.optim.ZoOptimizer;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;
import org.zotune.zo.optim.ZoStep;

/**
 * Optimiser trajectories on the §8 test functions (the ZO-AdaMU paper's figure): every optimiser from the
 * function's fixed start ({@link TestFunction}), writing {@code <function>-<optimizer>.csv} (step, x, y, f; step 0
 * is the start) per run, {@code functions-<function>.png} per function (contour lines of f over its domain, one
 * coloured trajectory per optimiser), and a table of final f and the first step with f &lt; 1e-3.
 *
 * <p>The ZO optimisers use the CPU reference step ({@link ZoStep}: two-point estimator, shadow strategy, one
 * Gaussian sample, ε = 1e-3 by default, float32 θ and loss; ZO-SGD-MMT μ = 0.9; ZO-Adam β = (0.9, 0.999);
 * ZO-AdaMU with the paper's schedule for the run length); Adam and AdaMax (β = (0.9, 0.999)) use the exact
 * (sub)gradient in double precision. Every rate decays linearly to η/steps by default (without decay the
 * non-smooth functions a, b, d leave every optimiser oscillating at amplitude ~η around the minimum).
 *
 * <p>Learning rates ({@link #learningRate}, printed by {@link #learningRateTable}) were tuned by hand on a grid of
 * 1e-5, 3e-5, …, 3e-1 for 2000 steps with linear decay at seeds 1 and 2, choosing per optimiser the rate that did
 * best over a–d together, and separately for Beale and for Rosenbrock:
 * <pre>
 * optimizer        a-d    beale  rosenb.
 * zo-sgd         1e-01    1e-02    1e-03
 * zo-sgd-mmt     3e-03    1e-03    3e-05
 * zo-adam        1e-01    1e-01    3e-01
 * zo-adamu       3e-02    3e-02    1e-03
 * adam           3e-02    1e-01    1e-01
 * adamax         3e-02    1e-01    1e-01
 * </pre>
 * Larger rates diverge on Rosenbrock for every ZO optimiser but ZO-Adam (its per-coordinate step is bounded by η).
 */
public final class FunctionsRunner {

    public static final double TARGET = 1e-3;

    /** The compared optimisers, in table order. */
    public enum Optimizer {
        ZO_SGD("zo-sgd", 0xd62728),
        ZO_SGD_MMT("zo-sgd-mmt", 0xff7f0e),
        ZO_ADAM("zo-adam", 0x2ca02c),
        ZO_ADAMU("zo-adamu", 0x1f77b4),
        ADAM("adam", 0x9467bd),
        ADAMAX("adamax", 0x8c564b);

        private final String id;
        private final int rgb; // an int, not a java.awt.Color: runtimes without java.desktop still run the table

        Optimizer(String id, int rgb) {
            this.id = id;
            this.rgb = rgb;
        }

        public String id() {
            return id;
        }

        public boolean zerothOrder() {
            return this != ADAM && this != ADAMAX;
        }
    }

    /**
     * The peak learning rate of an optimiser on a function (see the class comment): one value for the four
     * functions a–d and one for the stiff Beale and Rosenbrock (one each for ZO-SGD/ZO-SGD-MMT, whose step
     * g·u carries the full gradient, up to ~10^2 at those starts).
     */
    public static double learningRate(Optimizer o, TestFunction f) {
        boolean beale = f == TestFunction.BEALE;
        boolean rosen = f == TestFunction.ROSENBROCK;
        switch (o) {
            case ZO_SGD: return beale ? 1e-2 : rosen ? 1e-3 : 1e-1;
            case ZO_SGD_MMT: return beale ? 1e-3 : rosen ? 3e-5 : 3e-3;
            case ZO_ADAM: return beale ? 1e-1 : rosen ? 3e-1 : 1e-1;
            case ZO_ADAMU: return beale ? 3e-2 : rosen ? 1e-3 : 3e-2;
            case ADAM:
            case ADAMAX: return beale || rosen ? 1e-1 : 3e-2;
            default: throw new IllegalStateException(o.toString());
        }
    }

    /** The learning-rate table as text (for --help and the README). */
    public static String learningRateTable() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-11s %8s %8s %8s%n", "optimizer", "a-d",
                "beale", "rosenb."));
        for (Optimizer o : Optimizer.values()) {
            sb.append(String.format(Locale.ROOT, "%-11s %8.0e %8.0e %8.0e%n", o.id(), learningRate(o, TestFunction.A),
                    learningRate(o, TestFunction.BEALE), learningRate(o, TestFunction.ROSENBROCK)));
        }
        return sb.toString();
    }

    /**
     * One optimiser's run on one function.
     *
     * @param optimizer      which optimiser
     * @param function       which function
     * @param lr             its peak learning rate
     * @param xs             x along the trajectory, index 0 = the start
     * @param ys             y along the trajectory
     * @param fs             f(x, y) along the trajectory
     * @param stepsToTarget  first step with f &lt; {@link #TARGET}, or -1
     * @param stopped        a message when the run stopped early (non-finite losses), else null
     */
    public record Run(Optimizer optimizer, TestFunction function, double lr, double[] xs, double[] ys, double[] fs,
                      int stepsToTarget, String stopped) {
        public double finalValue() {
            return fs[fs.length - 1];
        }
    }

    /**
     * @param steps number of steps per run (>= 1)
     * @param seed  master seed of the ZO noise
     * @param eps   ZO perturbation scale ε (> 0)
     * @param linearDecay every optimiser's rate decays linearly to η/steps (else constant)
     */
    public record Config(int steps, long seed, double eps, boolean linearDecay) {
        public static final int DEFAULT_STEPS = 2000;

        public Config {
            if (steps < 1) {
                throw new ZotuneException("functions: --steps must be >= 1, got " + steps);
            }
            if (!Double.isFinite(eps) || eps <= 0) {
                throw new ZotuneException("functions: --eps must be a finite number > 0, got " + eps);
            }
        }
    }

    private final Config config;

    public FunctionsRunner(Config config) {
        this.config = config;
    }

    /** Runs one optimiser on one function. */
    public Run run(Optimizer o, TestFunction f) {
        return run(o, f, learningRate(o, f));
    }

    public Run run(Optimizer o, TestFunction f, double lr) {
        int n = config.steps();
        double[] xs = new double[n + 1];
        double[] ys = new double[n + 1];
        double[] fs = new double[n + 1];
        xs[0] = f.startX();
        ys[0] = f.startY();
        fs[0] = f.value(xs[0], ys[0]);
        int reached = fs[0] < TARGET ? 0 : -1;
        String stopped = null;
        int done = n;
        if (o.zerothOrder()) {
            NoiseLayout layout = new NoiseLayout(List.of(new ParamSpec("xy", new long[] {2}, ParamSpec.Role.MATRIX)));
            float[][] theta = {{(float) f.startX(), (float) f.startY()}};
            xs[0] = theta[0][0];
            ys[0] = theta[0][1];
            fs[0] = f.value(xs[0], ys[0]);
            ZoStep step = new ZoStep(new ZoStep.Config(config.eps(), 1, PerturbationStrategy.SHADOW, 1, 5, DType.F32,
                    config.seed()), zoOptimizer(o, lr, layout), theta);
            ZoLoss loss = (p, b) -> (float) f.value(p[0][0], p[0][1]);
            for (int k = 1; k <= n; k++) {
                try {
                    step.step(loss);
                } catch (ZotuneException e) {
                    stopped = e.getMessage();
                    done = k - 1;
                    break;
                }
                xs[k] = theta[0][0];
                ys[k] = theta[0][1];
                fs[k] = f.value(xs[k], ys[k]);
                if (!Double.isFinite(fs[k])) {
                    stopped = "diverged at step " + k;
                    done = k - 1;
                    break;
                }
                if (reached < 0 && fs[k] < TARGET) {
                    reached = k;
                }
            }
        } else {
            FirstOrderOptimizer opt = new FirstOrderOptimizer(
                    o == Optimizer.ADAM ? FirstOrderOptimizer.Kind.ADAM : FirstOrderOptimizer.Kind.ADAMAX, schedule(lr));
            double[] theta = {xs[0], ys[0]};
            for (int k = 1; k <= n; k++) {
                opt.step(theta, f.gradient(theta[0], theta[1]));
                xs[k] = theta[0];
                ys[k] = theta[1];
                fs[k] = f.value(theta[0], theta[1]);
                if (reached < 0 && fs[k] < TARGET) {
                    reached = k;
                }
            }
        }
        if (done < n) {
            xs = java.util.Arrays.copyOf(xs, done + 1);
            ys = java.util.Arrays.copyOf(ys, done + 1);
            fs = java.util.Arrays.copyOf(fs, done + 1);
        }
        return new Run(o, f, lr, xs, ys, fs, reached, stopped);
    }

    private LrSchedule schedule(double lr) {
        return config.linearDecay() ? LrSchedule.linear(lr, config.steps()) : LrSchedule.constant(lr);
    }

    private ZoOptimizer zoOptimizer(Optimizer o, double lr, NoiseLayout layout) {
        LrSchedule s = schedule(lr);
        switch (o) {
            case ZO_SGD: return new ZoSgd(new ZoSgd.Config(s), layout);
            case ZO_SGD_MMT: return new ZoSgdMomentum(new ZoSgdMomentum.Config(s, 0.9, 0), layout);
            case ZO_ADAM: return new ZoAdam(new ZoAdam.Config(s), layout);
            case ZO_ADAMU: return new ZoAdaMu(new ZoAdaMu.Config(s, AdaMuSchedule.defaults(config.steps())), layout);
            default: throw new IllegalArgumentException(o + " is not zeroth-order");
        }
    }

    /** Runs everything, writes CSVs and PNGs into outDir, prints the table to out, and returns the runs. */
    public List<Run> runAll(Path outDir, PrintWriter out) {
        System.setProperty("java.awt.headless", "true");
        try {
            Files.createDirectories(outDir);
        } catch (IOException e) {
            throw new ZotuneException("functions: cannot create output directory " + outDir + ": " + e.getMessage(), e);
        }
        // a jlink'd runtime without java.desktop (the default GPU-host bundle) cannot draw: CSVs and table only
        boolean canPlot = ModuleLayer.boot().findModule("java.desktop").isPresent();
        if (!canPlot) {
            out.println("functions: PNG plots skipped: this Java runtime has no java.desktop module (a full JDK, or a "
                    + "dist bundle built with ZOTUNE_DIST_PLOTS=1, draws them)");
        }
        List<Run> all = new ArrayList<>();
        for (TestFunction f : TestFunction.values()) {
            Map<Optimizer, Run> runs = new EnumMap<>(Optimizer.class);
            for (Optimizer o : Optimizer.values()) {
                Run r = run(o, f);
                runs.put(o, r);
                all.add(r);
                writeCsv(outDir.resolve(f.id() + "-" + o.id() + ".csv"), r);
            }
            if (canPlot) {
                writePng(outDir.resolve("functions-" + f.id() + ".png"), f, runs);
            }
        }
        printTable(out, all);
        out.flush();
        return all;
    }

    static void writeCsv(Path file, Run r) {
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write("step,x,y,f\n");
            for (int k = 0; k < r.xs().length; k++) {
                w.write(k + "," + r.xs()[k] + "," + r.ys()[k] + "," + r.fs()[k] + "\n");
            }
        } catch (IOException e) {
            throw new ZotuneException("functions: cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static void writePng(Path file, TestFunction f, Map<Optimizer, Run> runs) {
        double h = f.halfWidth();
        XYChart chart = new XYChartBuilder().width(900).height(800).title(f.formula())
                .xAxisTitle("x").yAxisTitle("y").build();
        chart.getStyler().setXAxisMin(-h).setXAxisMax(h).setYAxisMin(-h).setYAxisMax(h);
        chart.getStyler().setChartBackgroundColor(Color.WHITE).setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotGridLinesVisible(false).setLegendPosition(
                org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
        chart.getStyler().setMarkerSize(6);
        int n = 161;
        double[][] z = Contours.grid(f::value, h, n);
        double[] levels = Contours.levels(z, 18);
        for (int k = 0; k < levels.length; k++) {
            double[][] seg = Contours.level(z, h, n, levels[k]);
            if (seg[0].length == 0) {
                continue;
            }
            float shade = 0.55f + 0.35f * k / levels.length;
            XYSeries s = chart.addSeries("level " + k, seg[0], seg[1]);
            s.setMarker(SeriesMarkers.NONE).setLineColor(new Color(shade, shade, shade))
                    .setLineStyle(new BasicStroke(0.8f)).setShowInLegend(false);
        }
        for (Run r : runs.values()) {
            XYSeries s = chart.addSeries(r.optimizer().id(), clip(r.xs(), h), clip(r.ys(), h));
            s.setMarker(SeriesMarkers.NONE).setLineColor(new Color(r.optimizer().rgb)).setLineStyle(new BasicStroke(1.6f));
        }
        XYSeries start = chart.addSeries("start", new double[] {f.startX()}, new double[] {f.startY()});
        start.setMarker(SeriesMarkers.SQUARE).setMarkerColor(Color.BLACK).setLineStyle(new BasicStroke(0f))
                .setLineColor(new Color(0, 0, 0, 0));
        XYSeries min = chart.addSeries("minimum", new double[] {f.minX()}, new double[] {f.minY()});
        min.setMarker(SeriesMarkers.DIAMOND).setMarkerColor(Color.BLACK).setLineStyle(new BasicStroke(0f))
                .setLineColor(new Color(0, 0, 0, 0));
        try {
            BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new ZotuneException("functions: cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Points far outside the domain would stretch the path; clamp them to a margin around it. */
    private static double[] clip(double[] v, double h) {
        double[] o = new double[v.length];
        for (int k = 0; k < v.length; k++) {
            o[k] = Math.max(-1.5 * h, Math.min(1.5 * h, v[k]));
        }
        return o;
    }

    static void printTable(PrintWriter out, List<Run> runs) {
        out.printf(Locale.ROOT, "%-11s %-11s %9s %13s %14s%n", "function", "optimizer", "lr", "final f", "steps f<1e-3");
        for (Run r : runs) {
            String reached = r.stepsToTarget() >= 0 ? Integer.toString(r.stepsToTarget()) : "-";
            String fin = String.format(Locale.ROOT, "%.3e", r.finalValue());
            if (r.stopped() != null) {
                fin += " (stopped)";
            }
            out.printf(Locale.ROOT, "%-11s %-11s %9.1e %13s %14s%n", r.function().id(), r.optimizer().id(), r.lr(), fin,
                    reached);
        }
    }
}
