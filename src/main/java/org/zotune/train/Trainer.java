package org.zotune.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.split.BatchSampler;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.Objective;

/**
 * The training loop of ALGORITHMS.md §2 over a run folder:
 * <pre>
 * run.json          the run's config, every key (recognises the run on --resume)
 * metrics.jsonl     one line per step ("type": "train") and per evaluation ("type": "eval", dev / test)
 * trajectory.jsonl  the seed trajectory (header + step seed, projected gradients, lr, skipped per step)
 * checkpoint/       the latest resumable checkpoint (see {@link Checkpoints})
 * model/            the final weights as a Hugging Face folder
 * best/             the best-on-dev weights as a Hugging Face folder (when there is a dev set)
 * summary.json      the outcome; plots/loss.png, plots/metric.png
 * </pre>
 * Step t's micro-batch b holds the training examples {@link BatchSampler#batch}((t-1)·M + b), so the data order,
 * like the step seeds, is a function of the seed and t alone: a resumed run continues bit for bit.
 */
public final class Trainer {
    static final String RUN_JSON = "run.json";
    static final String METRICS = "metrics.jsonl";
    static final String SUMMARY = "summary.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param resume    continue the run in the out folder from its checkpoint
     * @param overwrite replace the run in the out folder
     * @param stopAfter stop (with a checkpoint) after this step, 0: run to the end (splits a run in two)
     * @param progress  draw a progress bar on stderr
     */
    public record Options(boolean resume, boolean overwrite, long stopAfter, boolean progress) {
        public static Options defaults() {
            return new Options(false, false, 0, true);
        }
    }

    /** An evaluation: loss always; accuracy and F1 for candidate data (NaN for language-model data). */
    public record Eval(double loss, double accuracy, double f1, int examples) {
        double metric(String name) {
            return switch (name) {
                case "accuracy" -> accuracy;
                case "f1" -> f1;
                default -> loss;
            };
        }
    }

    /** What {@link #run} returns (also written as summary.json). */
    public record Summary(long steps, String stopped, Eval initialDev, Eval finalDev, Eval finalTest, long bestStep,
            double bestValue, double lastTrainLoss, long skipped, double seconds, Path out) {
    }

    private final TrainConfig config;
    private final Path modelPath;
    private final Path tokenizerPath;
    private final Options options;
    private final PrintWriter log;
    private final Path out;
    private boolean barActive;

    /**
     * @param modelPath     the model file or folder ({@code config.model()} resolved by the caller)
     * @param tokenizerPath an explicit tokenizer, or null
     */
    public Trainer(TrainConfig config, Path modelPath, Path tokenizerPath, Options options, PrintWriter log) {
        this.config = config;
        this.modelPath = modelPath;
        this.tokenizerPath = tokenizerPath;
        this.options = options;
        this.log = log;
        this.out = config.outDir();
    }

    public Summary run() {
        long t0 = System.nanoTime();
        checkOut(); // cheap checks first; the folder is written only once model and data are known to be usable
        ZoEngines.requireDevice(config.device());
        if (!Files.exists(modelPath)) {
            throw new ZotuneException("model " + modelPath + " does not exist");
        }
        LoadedModel loaded = ModelLoader.load(modelPath);
        Tokenizer tokenizer = Tokenizers.forModel(modelPath, tokenizerPath);
        TrainData data = TrainData.load(config.data(), tokenizer, config.maxLength(), config.seed());
        log.println("data: " + data.description());
        Objective objective = Objective.named(config.objective());
        if (data.languageModel() && !config.objective().equals("lm")) {
            throw new ZotuneException("objective '" + config.objective() + "' needs candidate data (classification or "
                    + "multiple choice); language-model data trains with objective lm");
        }
        if (data.dev().isEmpty() && config.earlyStoppingPatience() > 0) {
            log.println("no dev set: early_stopping_patience " + config.earlyStoppingPatience() + " has no effect");
        }
        log.flush();
        prepareOut();
        Eval initialDev = null;
        Checkpoints.Progress progress;
        try (ZoEngine engine = ZoEngines.create(config, loaded.model(), loaded.parameters(), objective, log)) {
            if (options.resume()) {
                Checkpoints.Loaded ck = Checkpoints.load(out);
                engine.restore(ck.state());
                progress = ck.progress();
                truncateJsonl(out.resolve(METRICS), engine.stepsDone(), false);
                truncateJsonl(out.resolve(Trajectory.FILE), engine.stepsDone(), true);
                log.println("resuming " + out + " at step " + engine.stepsDone());
            } else {
                append(Trajectory.FILE, Trajectory.header(config,
                        loaded.model().params().stream().map(ParamSpec::name).toList()));
                double init = Double.NaN;
                if (!data.dev().isEmpty()) {
                    initialDev = evaluate(engine, data, data.dev());
                    logEval("dev", 0, initialDev);
                    init = initialDev.metric(config.metric());
                }
                progress = new Checkpoints.Progress(Double.NaN, -1, 0, init);
            }
            return loop(engine, loaded, data, progress, initialDev, t0);
        }
    }

    private Summary loop(ZoEngine engine, LoadedModel loaded, TrainData data, Checkpoints.Progress progress,
            Eval initialDev, long t0) {
        int m = config.gradAccumulation();
        BatchSampler sampler = new BatchSampler(data.train().size(), config.batchSize(), config.seed());
        String stopped = "completed";
        Eval lastDev = null;
        double lastLoss = Double.NaN;
        long skipped = 0;
        long startStep = engine.stepsDone();
        long stepsTotal = config.steps();
        long runT0 = System.nanoTime();
        try (ProgressBar bar = options.progress() ? progressBar(startStep) : null) {
            barActive = bar != null;
            while (engine.stepsDone() < stepsTotal) {
                long t = engine.stepsDone() + 1;
                List<PromptBatch> micro = new ArrayList<>(m);
                for (int b = 0; b < m; b++) {
                    List<EncodedExample> ex = new ArrayList<>();
                    for (int i : sampler.batch((t - 1) * m + b)) {
                        ex.add(data.train().get(i));
                    }
                    micro.add(PromptBatch.of(ex, data.padId()));
                }
                ZoEngine.StepResult r = engine.step(micro);
                lastLoss = r.loss();
                skipped += r.skipped() ? 1 : 0;
                append(METRICS, trainLine(r, (System.nanoTime() - runT0) / 1e9));
                append(Trajectory.FILE, Trajectory.line(r));
                if (bar != null) {
                    bar.stepTo(t);
                    bar.setExtraMessage(String.format(" loss %.4f%s", r.loss(), r.skipped() ? " (skipped)" : ""));
                }
                boolean evalNow = !data.dev().isEmpty() && ((config.evalEvery() > 0 && t % config.evalEvery() == 0)
                        || t == stepsTotal);
                boolean stop = false;
                if (evalNow) {
                    lastDev = evaluate(engine, data, data.dev());
                    logEval("dev", t, lastDev);
                    double v = lastDev.metric(config.metric());
                    boolean better = Double.isNaN(progress.bestValue()) || (config.metric().equals("loss")
                            ? v < progress.bestValue() : v > progress.bestValue());
                    if (better) {
                        progress = new Checkpoints.Progress(v, t, 0, progress.initialDev());
                        export(loaded, engine, out.resolve("best"), t);
                        if (!data.test().isEmpty()) {
                            logEval("test", t, evaluate(engine, data, data.test()));
                        }
                    } else {
                        progress = new Checkpoints.Progress(progress.bestValue(), progress.bestStep(),
                                progress.evalsWithoutBetter() + 1, progress.initialDev());
                        if (config.earlyStoppingPatience() > 0 && t < stepsTotal
                                && progress.evalsWithoutBetter() >= config.earlyStoppingPatience()) {
                            stopped = "early-stopping";
                            stop = true;
                        }
                    }
                }
                if (options.stopAfter() > 0 && t >= options.stopAfter() && t < stepsTotal) {
                    stopped = "stop-after";
                    stop = true;
                }
                if (stop || evalNow || t == stepsTotal
                        || (config.checkpointEvery() > 0 && t % config.checkpointEvery() == 0)) {
                    Checkpoints.save(out, engine.state(), progress);
                }
                if (stop) {
                    break;
                }
            }
        } finally {
            barActive = false;
        }
        if (engine.stepsDone() == startStep && startStep > 0) {
            Checkpoints.save(out, engine.state(), progress); // resumed a finished run: nothing to do but finish
        }
        export(loaded, engine, out.resolve("model"), engine.stepsDone());
        Eval finalTest = null;
        if (!data.test().isEmpty() && !stopped.equals("stop-after")) {
            finalTest = evaluate(engine, data, data.test());
            logEval("test", engine.stepsDone(), finalTest);
        }
        if (initialDev == null && !Double.isNaN(progress.initialDev())) {
            initialDev = fromMetrics(0);
        }
        Summary s = new Summary(engine.stepsDone(), stopped, initialDev, lastDev, finalTest, progress.bestStep(),
                progress.bestValue(), lastLoss, engine.state().skipped(), (System.nanoTime() - t0) / 1e9, out);
        writeSummary(s, engine.device());
        try {
            writePlots();
        } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop: the run itself is done
            log.println("plots not written: " + e);
            log.flush();
        }
        return s;
    }

    private ProgressBar progressBar(long start) {
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(config.steps())
                .setStyle(ProgressBarStyle.ASCII).setUnit(" steps", 1).showSpeed()
                .setConsumer(new ConsoleProgressBarConsumer(System.err))
                .setUpdateIntervalMillis(250).startsFrom(start, Duration.ZERO).build();
    }

    private Eval evaluate(ZoEngine engine, TrainData data, List<EncodedExample> set) {
        int bs = config.evalBatchSize();
        return engine.evaluate((ops, model, weights) -> {
            if (data.languageModel()) {
                Evaluator.LmResult r = Evaluator.languageModel(ops, model, weights, set, bs, data.padId());
                return new Eval(r.loss(), Double.NaN, Double.NaN, set.size());
            }
            Evaluator.Result r = Evaluator.evaluate(ops, model, weights, set, bs, data.padId());
            return new Eval(r.loss(), r.accuracy(), r.f1(), r.examples());
        });
    }

    private void export(LoadedModel loaded, ZoEngine engine, Path dir, long step) {
        HfExport.write(dir, modelPath, tokenizerPath, loaded.config(), engine.exportParameters(),
                Map.of("format", "pt", "zotune_step", Long.toString(step)));
    }

    // ---- the run folder ----

    private void checkOut() {
        prepareOut(false);
    }

    private void prepareOut() {
        prepareOut(true);
    }

    private void prepareOut(boolean write) {
        boolean nonEmpty;
        try (Stream<Path> s = Files.isDirectory(out) ? Files.list(out) : Stream.empty()) {
            nonEmpty = s.findAny().isPresent();
        } catch (IOException e) {
            throw new ZotuneException("out folder " + out + ": cannot list: " + e.getMessage(), e);
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new ZotuneException("out folder " + out + " is a file");
        }
        boolean isRun = Files.isRegularFile(out.resolve(RUN_JSON));
        if (options.resume() && options.overwrite()) {
            throw new ZotuneException("--resume and --overwrite exclude each other");
        }
        if (options.resume()) {
            if (!isRun || !Checkpoints.exists(out)) {
                throw new ZotuneException("--resume: out folder " + out + " holds no checkpoint to resume");
            }
            String diff = firstDifference(readRunConfig(), config.toJson(), "");
            if (diff != null) {
                throw new ZotuneException("--resume: out folder " + out + " holds a run with a different config (key '"
                        + diff + "'); resume with the same config or use another out folder");
            }
            return;
        }
        if (nonEmpty) {
            if (!options.overwrite()) {
                throw new ZotuneException("out folder " + out + (isRun ? " already holds a run" : " is not empty")
                        + ": pass --resume to continue it or --overwrite to replace it, or choose another out folder");
            }
            if (!isRun) {
                throw new ZotuneException("--overwrite: out folder " + out + " is not a zotune run (no " + RUN_JSON
                        + "); refusing to delete it");
            }
            if (!write) {
                return;
            }
            try {
                Checkpoints.deleteTree(out);
            } catch (IOException e) {
                throw new ZotuneException("--overwrite: cannot clear " + out + ": " + e.getMessage(), e);
            }
        }
        if (write) {
            AtomicFiles.writeString(out.resolve(RUN_JSON), config.toJsonString() + "\n");
        }
    }

    private JsonNode readRunConfig() {
        try {
            // through TrainConfig, so that numbers compare by value (7 read back is an int, the record's a long)
            return TrainConfig.fromJson(out.resolve(RUN_JSON).toString(),
                    Files.readString(out.resolve(RUN_JSON), StandardCharsets.UTF_8)).toJson();
        } catch (IOException e) {
            throw new ZotuneException(out.resolve(RUN_JSON) + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The first key whose value differs, dotted, or null. */
    static String firstDifference(JsonNode a, JsonNode b, String prefix) {
        if (a.isObject() && b.isObject()) {
            java.util.Set<String> keys = new java.util.TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                String d = firstDifference(a.path(k), b.path(k), prefix.isEmpty() ? k : prefix + "." + k);
                if (d != null) {
                    return d;
                }
            }
            return null;
        }
        return a.equals(b) ? null : prefix;
    }

    private void append(String file, String line) {
        try {
            Files.createDirectories(out);
            Files.writeString(out.resolve(file), line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new ZotuneException(out.resolve(file) + ": cannot write: " + e.getMessage(), e);
        }
    }

    /** Keeps the lines of steps <= t (and the header): a resumed run rewrites what followed its checkpoint. */
    private static void truncateJsonl(Path file, long t, boolean header) {
        if (!Files.isRegularFile(file)) {
            return;
        }
        try {
            List<String> keep = new ArrayList<>();
            Iterator<String> it = Files.readAllLines(file, StandardCharsets.UTF_8).iterator();
            if (header && it.hasNext()) {
                keep.add(it.next());
            }
            while (it.hasNext()) {
                String line = it.next();
                if (!line.isBlank() && JSON.readTree(line).path("t").asLong() <= t) {
                    keep.add(line);
                }
            }
            AtomicFiles.writeString(file, keep.isEmpty() ? "" : String.join("\n", keep) + "\n");
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot rewrite for --resume: " + e.getMessage(), e);
        }
    }

    private static String trainLine(ZoEngine.StepResult r, double elapsed) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", "train");
        o.put("t", r.t());
        o.put("loss", r.loss());
        floats(o.putArray("loss_plus"), r.lossPlus());
        floats(o.putArray("loss_minus"), r.lossMinus());
        floats(o.putArray("g"), r.projectedGradient());
        o.put("lr", r.lr());
        o.put("skipped", r.skipped());
        o.put("elapsed_s", Math.round(elapsed * 1000) / 1000.0);
        return o.toString();
    }

    private static void floats(ArrayNode a, float[] v) {
        for (float f : v) {
            a.add(f);
        }
    }

    private void logEval(String split, long t, Eval e) {
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
        append(METRICS, o.toString());
        if (barActive) {
            log.println(); // leave the progress bar's line; it redraws below
        }
        log.printf("%s at step %d: loss %.4f%s%n", split, t, e.loss(), Double.isNaN(e.accuracy()) ? ""
                : String.format(", accuracy %.4f, f1 %.4f", e.accuracy(), e.f1()));
        log.flush();
    }

    private Eval fromMetrics(long t) {
        for (JsonNode n : metricLines()) {
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")
                    && n.path("t").asLong() == t) {
                return new Eval(n.path("loss").asDouble(), n.path("accuracy").asDouble(Double.NaN),
                        n.path("f1").asDouble(Double.NaN), n.path("examples").asInt());
            }
        }
        return null;
    }

    private List<JsonNode> metricLines() {
        List<JsonNode> out = new ArrayList<>();
        Path f = this.out.resolve(METRICS);
        if (!Files.isRegularFile(f)) {
            return out;
        }
        try {
            for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    out.add(JSON.readTree(line));
                }
            }
        } catch (IOException e) {
            throw new ZotuneException(f + ": cannot read: " + e.getMessage(), e);
        }
        return out;
    }

    private void writeSummary(Summary s, String device) {
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
        AtomicFiles.writeString(out.resolve(SUMMARY), o.toPrettyString() + "\n");
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

    private void writePlots() {
        List<Double> tx = new ArrayList<>();
        List<Double> ty = new ArrayList<>();
        List<Double> dx = new ArrayList<>();
        List<Double> dy = new ArrayList<>();
        List<Double> ax = new ArrayList<>();
        List<Double> ay = new ArrayList<>();
        List<Double> fy = new ArrayList<>();
        for (JsonNode n : metricLines()) {
            double t = n.path("t").asDouble();
            if (n.path("type").asText().equals("train") && !n.path("skipped").asBoolean()) {
                tx.add(t);
                ty.add(n.path("loss").asDouble());
            } else if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")) {
                dx.add(t);
                dy.add(n.path("loss").asDouble());
                if (n.has("accuracy")) {
                    ax.add(t);
                    ay.add(n.path("accuracy").asDouble());
                    fy.add(n.path("f1").asDouble());
                }
            }
        }
        Plots.write(out.resolve("plots").resolve("loss.png"), "loss", "loss", List.of(
                new Plots.Series("train (½(l+ + l-))", tx, ty), new Plots.Series("dev", dx, dy)));
        Plots.write(out.resolve("plots").resolve("metric.png"), "dev metrics", "metric", List.of(
                new Plots.Series("accuracy", ax, ay), new Plots.Series("f1", ax, fy)));
    }
}
