package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.zotune.zo.functions.FunctionsRunner;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune functions}: optimiser trajectories on the 2-D test functions of ALGORITHMS.md §8. */
@Command(name = "functions",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Optimiser test functions (ALGORITHMS.md §8): ZO optimisers vs first-order Adam/AdaMax.",
                "Runs ZO-SGD, ZO-SGD-MMT, ZO-Adam, ZO-AdaMU (two-point estimator, Gaussian u, CPU reference "
                + "step) and first-order Adam and AdaMax (exact (sub)gradients) on six 2-D test functions "
                + "(f_a..f_d, Beale, Rosenbrock) from fixed starts, and writes for each run "
                + "<function>-<optimizer>.csv (step,x,y,f), for each function functions-<function>.png "
                + "(contour lines and one trajectory per optimiser), and prints the final f and the first step "
                + "with f < 1e-3 per optimizer and function.",
                "",
                "Starts: f_a..f_d (-2.5, 2); Beale (1, 1); Rosenbrock 100(x-y^2)^2+(1-y)^2 (1, -1.2).",
                "Peak learning rates (tuned on a grid 1e-5..3e-1, 2000 steps, seeds 1 and 2; "
                        + "they decay linearly unless --constant-lr) are listed below."},
        footerHeading = "%nLearning rates:%n",
        // kept equal to FunctionsRunner.learningRateTable() by FunctionsCommandTest
        footer = {"optimizer        a-d    beale  rosenb.",
                "zo-sgd         1e-01    1e-02    1e-03",
                "zo-sgd-mmt     3e-03    1e-03    3e-05",
                "zo-adam        1e-01    1e-01    3e-01",
                "zo-adamu       3e-02    3e-02    1e-03",
                "adam           3e-02    1e-01    1e-01",
                "adamax         3e-02    1e-01    1e-01"})
public final class FunctionsCommand implements Callable<Integer> {

    static {
        System.setProperty("java.awt.headless", "true");
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder (created if missing).")
    Path out;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "2000",
            description = "Steps per run (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "1",
            description = "Master seed of the ZO noise (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--eps", paramLabel = "E", defaultValue = "1e-3",
            description = "ZO perturbation scale epsilon (default: ${DEFAULT-VALUE}).")
    double eps;

    @Option(names = "--constant-lr", description = "Keep every learning rate constant instead of a linear decay.")
    boolean constantLr;

    @Override
    public Integer call() {
        PrintWriter w = spec.commandLine().getOut();
        new FunctionsRunner(new FunctionsRunner.Config(steps, seed, eps, !constantLr)).runAll(out, w);
        w.println("wrote CSV and PNG files to " + out);
        w.flush();
        return 0;
    }
}
