package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.zotune.api.FineTune;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code zotune plot RUN_DIR}: a run's curves drawn from its metrics.jsonl. */
@Command(name = "plot",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Draws a run's curves from its metrics.jsonl into RUN_DIR/plots: loss.png (training and dev "
                + "loss) and metric.png (dev accuracy and F1).",
                "For runs made on a Java runtime without AWT (the GPU bundle): copy the run folder to any machine "
                        + "with a desktop-capable Java (a full JDK) and run this there."})
public final class PlotCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "RUN_DIR", description = "The run folder (key out of its run.yaml).")
    Path runDir;

    @Override
    public Integer call() {
        Path dir = FineTune.plot(Runs.requireExisting(runDir, "run folder"));
        PrintWriter out = spec.commandLine().getOut();
        out.println("plots written to " + dir);
        out.flush();
        return 0;
    }
}
