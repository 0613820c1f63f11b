package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.List;
import org.zotune.model.io.AtomicFiles;
import org.zotune.train.TrainConfig;
import org.zotune.train.Trainer.Eval;
import org.zotune.train.Trainer.Summary;
import org.zotune.train.ZoEngine;

/**
 * What a run reports: {@code metrics.jsonl} (a "train" line per step, an "eval" line per evaluation, also printed
 * on the log), {@code summary.json}, {@code report.html} and the plots drawn from the metrics.
 */
public final class MetricsLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The run's self-contained HTML report (config, summary, curves as inline SVG). */
    public static final String REPORT = "report.html";

    private final RunFolder folder;
    private final PrintWriter log;
    private boolean barActive;
    private Listener listener;
    private boolean stopRequested;

    /** Told each step and each evaluation as they are logged; returns true to ask the run to stop. */
    public interface Listener {
        boolean train(ZoEngine.StepResult r, double elapsedSeconds);

        boolean eval(String split, long t, Eval e);
    }

    public MetricsLog(RunFolder folder, PrintWriter log) {
        this.folder = folder;
        this.log = log;
    }

    /** The caller's listener (the API's), or null. */
    public void listener(Listener l) {
        listener = l;
    }

    /** Whether a listener asked the run to stop. */
    public boolean stopRequested() {
        return stopRequested;
    }

    /** While a progress bar draws on the log, an eval line first leaves the bar's line. */
    public void barActive(boolean active) {
        barActive = active;
    }

    public void train(ZoEngine.StepResult r, double elapsedSeconds) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", "train");
        o.put("t", r.t());
        o.put("loss", r.loss());
        floats(o.putArray("loss_plus"), r.lossPlus());
        floats(o.putArray("loss_minus"), r.lossMinus());
        floats(o.putArray("g"), r.projectedGradient());
        o.put("lr", r.lr());
        o.put("skipped", r.skipped());
        o.put("elapsed_s", Math.round(elapsedSeconds * 1000) / 1000.0);
        folder.append(RunFolder.METRICS, o.toString());
        if (listener != null) {
            stopRequested |= listener.train(r, elapsedSeconds);
        }
    }

    private static void floats(ArrayNode a, float[] v) {
        for (float f : v) {
            a.add(f);
        }
    }

    public void eval(String split, long t, Eval e) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", "eval");
        o.put("split", split);
        o.put("t", t);
        o.put("loss", e.loss());
        if (!Double.isNaN(e.accuracy())) {
            o.put("accuracy", e.accuracy());
            o.put("f1", e.f1());
        }
        o.put("examples", e.examples());
        folder.append(RunFolder.METRICS, o.toString());
        if (barActive) {
            log.println(); // leave the progress bar's line; it redraws below
        }
        log.printf("%s at step %d: loss %.4f%s%n", split, t, e.loss(), Double.isNaN(e.accuracy()) ? ""
                : String.format(", accuracy %.4f, f1 %.4f", e.accuracy(), e.f1()));
        log.flush();
        if (listener != null) {
            stopRequested |= listener.eval(split, t, e);
        }
    }

    /** The dev evaluation logged at step t, or null (a resumed run's initial evaluation). */
    public Eval dev(long t) {
        for (JsonNode n : folder.readJsonl(RunFolder.METRICS)) {
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")
                    && n.path("t").asLong() == t) {
                return new Eval(n.path("loss").asDouble(), n.path("accuracy").asDouble(Double.NaN),
                        n.path("f1").asDouble(Double.NaN), n.path("examples").asInt());
            }
        }
        return null;
    }

    /** The loss of the last train line, NaN when none (a resumed run that had ended reports it again). */
    public double lastTrainLoss() {
        double loss = Double.NaN;
        for (JsonNode n : folder.readJsonl(RunFolder.METRICS)) {
            if (n.path("type").asText().equals("train")) {
                loss = (float) n.path("loss").asDouble(); // written from a float: read back the same float
            }
        }
        return loss;
    }

    /**
     * The final test evaluation of step t when it is the last line written (a run killed after it, before
     * summary.json), or null.
     */
    public Eval finalTest(long t) {
        return finalTest(t, false);
    }

    /**
     * The same where {@code bestAtT}: t is also the best step, whose test evaluation at t (written with best/, before
     * t's checkpoint) comes before the final one and is not it; the final one is a second test line at t.
     */
    public Eval finalTest(long t, boolean bestAtT) {
        List<JsonNode> lines = folder.readJsonl(RunFolder.METRICS);
        int at = lines.size() - 1;
        int trailing = 0; // the test lines of step t at the end
        while (at - trailing >= 0 && isTest(lines.get(at - trailing), t)) {
            trailing++;
        }
        if (trailing < (bestAtT ? 2 : 1)) {
            return null;
        }
        JsonNode n = lines.get(at);
        return new Eval(n.path("loss").asDouble(), n.path("accuracy").asDouble(Double.NaN),
                n.path("f1").asDouble(Double.NaN), n.path("examples").asInt());
    }

    private static boolean isTest(JsonNode n, long t) {
        return n.path("type").asText().equals("eval") && n.path("split").asText().equals("test")
                && n.path("t").asLong() == t;
    }

    /** The captured step's graph captures of this process (summary.json's graph_captures; -1: not written). */
    private long graphCaptures = -1;

    /** Writes {@code n} as graph_captures in summary.json (CUDA graphs the engine's captured step captured). */
    public void graphCaptures(long n) {
        graphCaptures = n;
    }

    public void summary(Summary s, String device, TrainConfig config) {
        ObjectNode o = JSON.createObjectNode();
        o.put("steps", s.steps());
        o.put("stopped", s.stopped());
        o.put("device", device);
        o.put("objective", config.objective());
        o.put("optimizer", config.optimizer().name());
        o.put("metric", config.metric());
        putEval(o, "initial_dev", s.initialDev());
        putEval(o, "final_dev", s.finalDev());
        putEval(o, "final_test", s.finalTest());
        if (s.bestStep() >= 0) {
            o.put("best_step", s.bestStep());
            o.put("best_dev_" + config.metric(), s.bestValue());
        }
        o.put("last_train_loss", s.lastTrainLoss());
        o.put("skipped_steps", s.skipped());
        o.put("seconds", s.seconds());
        if (graphCaptures >= 0) {
            o.put("graph_captures", graphCaptures);
        }
        AtomicFiles.writeString(folder.file(RunFolder.SUMMARY), o.toPrettyString() + "\n");
        report(o);
    }

    /** report.html from run.json, the summary and metrics.jsonl: needs no AWT, so every run writes it. */
    private void report(JsonNode summary) {
        java.nio.file.Path runJson = folder.file(RunFolder.RUN_JSON);
        JsonNode config = null;
        if (java.nio.file.Files.isRegularFile(runJson)) {
            try {
                config = JSON.readTree(runJson.toFile());
            } catch (java.io.IOException e) {
                throw new org.zotune.ZotuneException(runJson + ": cannot read for report.html: " + e.getMessage(), e);
            }
        }
        String name = folder.dir().toAbsolutePath().getFileName() == null ? folder.dir().toString()
                : folder.dir().toAbsolutePath().getFileName().toString();
        AtomicFiles.writeString(folder.file(REPORT), RunReport.html(config, summary,
                folder.readJsonl(RunFolder.METRICS), "zotune run " + name));
    }

    private static void putEval(ObjectNode o, String key, Eval e) {
        if (e == null) {
            return;
        }
        ObjectNode n = o.putObject(key);
        n.put("loss", e.loss());
        if (!Double.isNaN(e.accuracy())) {
            n.put("accuracy", e.accuracy());
            n.put("f1", e.f1());
        }
    }

    /** plots/loss.png (train and dev loss) and plots/metric.png (dev accuracy and F1), from metrics.jsonl. */
    public void plots() {
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) {
            // a runtime image without AWT (the GPU hosts' bundle): say so once instead of a NoClassDefFoundError
            log.println("plots: this Java runtime has no java.desktop (AWT), so no PNGs here: the curves are in "
                    + folder.file(REPORT) + ", and zotune plot " + folder.dir() + " draws the PNGs on any machine "
                    + "with a desktop-capable Java");
            log.flush();
            return;
        }
        drawPlots(folder.readJsonl(RunFolder.METRICS), folder.plot("loss.png").getParent());
    }

    /**
     * Draws loss.png and metric.png into {@code plotsDir} from metrics.jsonl's lines (needs java.desktop). Used by a
     * run and by {@code zotune plot} on a run folder copied from a host without AWT.
     */
    public static void drawPlots(List<JsonNode> metrics, java.nio.file.Path plotsDir) {
        Curves c = Curves.of(metrics);
        Plots.write(plotsDir.resolve("loss.png"), "loss", "loss", List.of(
                new Plots.Series("train (½(l+ + l-))", c.trainX(), c.trainLoss()), new Plots.Series("dev", c.devX(), c.devLoss())));
        Plots.write(plotsDir.resolve("metric.png"), "dev metrics", "metric", List.of(
                new Plots.Series("accuracy", c.metricX(), c.accuracy()), new Plots.Series("f1", c.metricX(), c.f1())));
    }
}
