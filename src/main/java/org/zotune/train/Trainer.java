package org.zotune.train;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.split.BatchSampler;
import org.zotune.model.SequenceClassifier;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.HeadClassification;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.peft.Adapter;
import org.zotune.peft.Lora;
import org.zotune.peft.Prefix;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.Objective;
import org.zotune.train.run.BestTracker;
import org.zotune.train.run.Fingerprints;
import org.zotune.train.run.MetricsLog;
import org.zotune.train.run.RunFolder;
import org.zotune.zo.cuda.NoiseVariant;

/**
 * The training loop of ALGORITHMS.md §2 over a run folder:
 * <pre>
 * run.json          the run's config, every key (recognises the run on --resume)
 * metrics.jsonl     one line per step ("type": "train") and per evaluation ("type": "eval", dev / test)
 * trajectory.jsonl  the seed trajectory (header, then per step: seed, lr, skipped, g per sample; {@link Trajectory})
 * checkpoint/       the latest resumable checkpoint (see {@link Checkpoints})
 * model/            the final weights as a Hugging Face folder
 * best/             the best-on-dev weights as a Hugging Face folder (when there is a dev set)
 * summary.json      the outcome; plots/loss.png, plots/metric.png
 * </pre>
 * Step t's micro-batch b holds the training examples {@link BatchSampler#batch}((t-1)·M + b), so the data order,
 * like the step seeds, is a function of the seed and t alone: a resumed run continues bit for bit.
 * <p>
 * The loop composes the run's parts: {@link RunFolder} (the folder's rules and files), {@link MetricsLog}
 * (metrics.jsonl, summary.json, plots) and {@link BestTracker} (best-on-dev weights, early stopping).
 */
public final class Trainer {
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
        double metric(TrainConfig.Metric m) {
            return switch (m) {
                case ACCURACY -> accuracy;
                case F1 -> f1;
                case LOSS -> loss;
            };
        }
    }

    /** What {@link #run} returns (also written as summary.json). */
    public record Summary(long steps, String stopped, Eval initialDev, Eval finalDev, Eval finalTest, long bestStep,
            double bestValue, double lastTrainLoss, long skipped, double seconds, Path out) {
    }

    /**
     * Test-only crash point (the crash matrix, CrashMatrixTest): {@code -Dzotune.test.holdAfterStep=K} makes the
     * process wait, never returning, once step K (of a dfo run: generation K) is logged, so that a test can kill it
     * there.
     */
    private static final long HOLD_AFTER_STEP = Long.getLong("zotune.test.holdAfterStep", 0);

    private final TrainConfig config;
    private final Path modelPath;
    private Lora lora; // the run's LoRA set, or null (full fine-tuning)
    private Adapter adapter; // the run's adapter (lora, or a prefix), or null (full fine-tuning)
    private List<HostTensor> base; // the model's parameters as loaded (LoRA: merged into with peft.merge)
    private String baseWeights; // their digest, recorded in exported adapters
    private EncoderObjectives.Head head; // objective head's classifier, or null
    private final Path tokenizerPath;
    private final Options options;
    private final PrintWriter log;
    /** Where a run's wall time went (nanoseconds), told in its last log line. */
    private long stepNanos;
    private long evalNanos;
    /** The loop's progress bar while it runs (an evaluation shows its own progress there), else null. */
    private ProgressBar bar;
    private long checkpointNanos;
    private long exportNanos;
    /** Checkpoints (and best/ with them) are written here while the next steps run. */
    private final BackgroundWriter saves = new BackgroundWriter();
    /** Parts of the setup: reading the model, the tokenizer and data, the run's fingerprints (hashes). */
    private long modelNanos;
    private long dataNanos;
    private long fingerprintNanos;
    /**
     * The weights file of this invocation's latest Hugging Face export, and its step (-1: none yet); best/'s are set on
     * the background writer's thread, read after {@link BackgroundWriter#await}, which orders the two.
     */
    private Path weightsFile;
    private long weightsStep = -1;
    private final RunFolder folder;
    private final MetricsLog metrics;
    /** Whether this run has recorded a training step (a failure before it leaves nothing worth keeping). */
    private boolean stepped;
    /**
     * Whether this process writes the run folder: rank 0 of a run over several processes (or the only process). The
     * other ranks run the same loop (the same steps, evaluations and decisions, from the same weights) and write
     * nothing there; on --resume they read rank 0's checkpoint.
     */
    private final boolean writes;

    /**
     * @param modelPath     the model file or folder ({@code config.model()} resolved by the caller)
     * @param tokenizerPath an explicit tokenizer, or null
     */
    public Trainer(TrainConfig config, Path modelPath, Path tokenizerPath, Options options, PrintWriter log) {
        // key noise resolved for the engine the run trains on: run.json, the trajectory and --resume see the variant
        // ... and key pad_multiple (auto: length buckets on the CUDA engine only)
        this.config = ZoEngines.resolvePadMultiple(ZoEngines.resolveNoise(
                options.resume() ? asRecorded(config) : config));
        this.modelPath = modelPath;
        this.tokenizerPath = tokenizerPath;
        this.options = options;
        this.log = log;
        this.folder = new RunFolder(this.config, options.resume(), options.overwrite());
        this.metrics = new MetricsLog(folder, log);
        this.writes = config.parallel().rank() == 0;
    }

    /**
     * On --resume, keys noise and pad_multiple left at auto take the values the run recorded (absent there: exact and
     * 1, what runs did before the keys existed), so that a run resumes as it trained without the user restating them;
     * an explicit value is compared with the record by {@link RunFolder#create}. A recorded fast noise on an engine
     * that lacks it stays auto, and RunFolder names the mismatch.
     */
    static TrainConfig asRecorded(TrainConfig c) {
        TrainConfig ran = c.methodKind() == TrainConfig.Method.ZO ? RunFolder.recorded(c.outDir()) : null;
        if (ran == null || ran.methodKind() != TrainConfig.Method.ZO) {
            return c;
        }
        TrainConfig r = c;
        if (c.padMultiple() == 0 && ran.padMultiple() > 0) {
            r = r.withPadMultiple(ran.padMultiple());
        }
        if (c.noiseSetting() == TrainConfig.NoiseSetting.AUTO) {
            NoiseVariant v = ran.noiseVariant(true); // a recorded run holds a resolved variant: exact or fast
            if (v == NoiseVariant.EXACT || ZoEngines.trainsOnCuda(c)) {
                r = r.withNoise(v);
            }
        }
        return r;
    }

    /** Tells {@code l} each step and evaluation; when it asks to stop, the run stops with a checkpoint. */
    public Trainer listener(MetricsLog.Listener l) {
        metrics.listener(l);
        return this;
    }

    public Summary run() {
        long t0 = System.nanoTime();
        if (writes) {
            folder.check(); // cheap checks first; the folder is written only once model and data are usable
        } else {
            folder.checkAsFollower();
        }
        ZoEngines.requireWorkers(config); // a config that cannot run anywhere, before what this machine lacks
        ZoEngines.requireProcesses(config);
        ZoEngines.requireDevice(config.device());
        ZoEngines.requireGpus(config);
        if (!Files.exists(modelPath)) {
            throw new ZotuneException("model " + modelPath + " does not exist");
        }
        RunInputs.Plan plan = RunInputs.plan(config); // bad data keys first
        long m0 = System.nanoTime();
        LoadedLanguageModel loaded = ModelLoader.loadAny(modelPath);
        modelNanos = System.nanoTime() - m0;
        // the weights' SHA-256 (seconds at 1.5B parameters) runs while the tokenizer and the data are read
        java.util.concurrent.CompletableFuture<String> weightsHash = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> Fingerprints.weights(loaded.parameters()));
        long d0 = System.nanoTime();
        RunInputs.requireKind(config, plan, loaded);
        EncoderObjectives.requireTrainable(config);
        adapter = ZoEngines.adapter(config, loaded.model()); // bad peft sections refused before anything is written
        lora = adapter instanceof Lora l ? l : null;
        ZoEngines.requireEngine(config, adapter);
        ZoEngines.requireWorkerMemory(config, loaded.model());
        Tokenizer tokenizer = Tokenizers.forModel(modelPath, tokenizerPath);
        Tokenizers.requireFits(tokenizer, loaded.config().vocabSize(), modelPath);
        RunInputs.Read read = RunInputs.read(config, plan, loaded, tokenizer);
        TrainData data = read.data();
        dataNanos = System.nanoTime() - d0;
        Objective objective = read.objective();
        if (objective instanceof HeadClassification) {
            head = EncoderObjectives.Head.of(new SequenceClassifier((EncoderModel) loaded.model(),
                    read.labels().size()), read.labels(), config.head(), loaded.parameters(), loaded.checkpoint());
            SequenceClassifier sc = head.model();
            if (lora != null) { // PEFT's SEQ_CLS: the classifier trains in full beside the adapters (modules_to_save)
                lora = ZoEngines.lora(config, sc).withSaved(sc.headWeight(), sc.headBias());
                adapter = lora;
            } else if (adapter instanceof Prefix prefix) { // the same beside a prefix
                adapter = prefix.withSaved(sc.params(), sc.headWeight(), sc.headBias());
            }
        }
        log.println("data: " + data.description());
        if (data.languageModel() && config.objectiveKind() != TrainConfig.ObjectiveKind.LM) {
            throw new ZotuneException("objective '" + config.objective() + "' needs candidate data (classification or "
                    + "multiple choice); language-model data trains with objective lm");
        }
        requireSizes(data);
        if (data.dev().isEmpty() && config.earlyStoppingPatience() > 0) {
            log.println("no dev set: early_stopping_patience " + config.earlyStoppingPatience() + " has no effect");
        }
        log.flush();
        long f0 = System.nanoTime();
        Fingerprints fingerprints = new Fingerprints(join(weightsHash),
                Fingerprints.tokenizer(tokenizer), Fingerprints.examples(data.train()),
                Fingerprints.examples(data.dev()), Fingerprints.examples(data.test()));
        fingerprintNanos = System.nanoTime() - f0;
        base = loaded.parameters();
        baseWeights = fingerprints.baseWeights();
        if (!writes) {
            return start(loaded, data, objective, fingerprints, t0);
        }
        try (RunFolder.Lock lock = folder.lock()) {
            folder.create(fingerprints);
            try {
                return start(loaded, data, objective, fingerprints, t0);
            } catch (RuntimeException | Error e) {
                if (!options.resume() && !stepped) { // rank 0's folder: the others did not start either
                    folder.clearUnstarted(); // nothing to resume: a corrected rerun must not need --overwrite
                }
                throw e;
            }
        }
    }

    /** The value of a background computation, its failure rethrown as it was thrown. */
    private static <T> T join(java.util.concurrent.CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /**
     * Sizes the data and the config must agree on, checked before anything is written: a batch cannot hold more
     * examples than the training set (nor overflow the sampler's arithmetic).
     */
    private void requireSizes(TrainData data) {
        int n = data.train().size();
        if (config.batchSize() > n) {
            throw new ZotuneException("key 'batch_size': " + config.batchSize() + " is more than the " + n
                    + " training examples");
        }
        long perStep = (long) config.batchSize() * config.gradAccumulation();
        if (perStep > Integer.MAX_VALUE) {
            throw new ZotuneException("keys 'batch_size' × 'grad_accumulation': " + perStep + " examples per step is "
                    + "more than zotune can index");
        }
    }

    private Summary start(LoadedLanguageModel loaded, TrainData data, Objective objective, Fingerprints fingerprints,
            long t0) {
        Eval initialDev = null;
        Checkpoints.Progress progress;
        LanguageModel model = head == null ? loaded.model() : head.model();
        List<HostTensor> initial = head == null ? loaded.parameters() : head.initial();
        // saves closes first: a checkpoint still being written reads the engine's buffers
        try (ZoEngine engine = ZoEngines.create(config, model, initial, adapter, head == null ? null
                : head.trainable(), objective, log); BackgroundWriter w = saves) {
            if (options.resume()) {
                Checkpoints.Loaded ck = Checkpoints.load(folder.dir());
                engine.restore(ck.state());
                progress = ck.progress();
                if (writes) {
                    folder.truncate(RunFolder.METRICS, engine.stepsDone(), false);
                    folder.truncate(Trajectory.FILE, engine.stepsDone(), true);
                }
                log.println("resuming " + folder.dir() + " at step " + engine.stepsDone());
            } else {
                if (writes) {
                    folder.append(Trajectory.FILE, Trajectory.header(config,
                            model.params().stream().map(ParamSpec::name).toList(), fingerprints.baseWeights(),
                            head == null ? null : head.recorded())); // replay rebuilds the head from it
                }
                double init = Double.NaN;
                if (!data.dev().isEmpty()) {
                    initialDev = evaluate(engine, objective, data, data.dev(), "dev");
                    if (writes) {
                        metrics.eval("dev", 0, initialDev);
                    }
                    init = initialDev.metric(config.metricKind());
                }
                progress = BestTracker.fresh(init);
            }
            return loop(engine, loaded.config(), objective, data, new BestTracker(config.metricKind(),
                    config.earlyStoppingPatience(), progress), initialDev, t0);
        }
    }

    private Summary loop(ZoEngine engine, ModelConfig modelConfig, Objective objective, TrainData data,
            BestTracker best, Eval initialDev, long t0) {
        int m = config.gradAccumulation();
        LengthBuckets buckets = ZoEngines.lengthBuckets(config, modelConfig); // few batch shapes: graphs replay
        BatchSampler sampler = new BatchSampler(data.train().size(), config.batchSize(), config.seed());
        String stopped = "completed";
        Eval lastDev = null;
        double lastLoss = Double.NaN;
        long startStep = engine.stepsDone();
        long stepsTotal = config.steps();
        boolean finished = startStep > 0 && (startStep >= stepsTotal || best.stopped());
        if (finished) { // resumed a run that had ended (e.g. killed before summary.json): report it as it ended
            stopped = startStep >= stepsTotal ? "completed" : "early-stopping";
            lastDev = data.dev().isEmpty() ? null : metrics.dev(startStep);
            lastLoss = metrics.lastTrainLoss();
            stepsTotal = startStep;
        }
        long runT0 = System.nanoTime();
        long setupNanos = runT0 - t0 - evalNanos; // the evaluation before step 1 counts as an evaluation
        try (ProgressBar bar = options.progress() ? progressBar(startStep) : null) {
            this.bar = bar;
            metrics.barActive(bar != null);
            long newBest = -1; // a new best step on dev whose best/ the next checkpoint writes
            while (engine.stepsDone() < stepsTotal) {
                long t = engine.stepsDone() + 1;
                List<PromptBatch> micro = new ArrayList<>(m);
                for (int b = 0; b < m; b++) {
                    List<EncodedExample> ex = new ArrayList<>();
                    for (int i : sampler.batch((t - 1) * m + b)) {
                        ex.add(data.train().get(i));
                    }
                    micro.add(buckets.pad(PromptBatch.of(ex, data.padId()), data.padId()));
                }
                long s0 = System.nanoTime();
                ZoEngine.StepResult r = engine.step(micro);
                stepNanos += System.nanoTime() - s0;
                stepped = true;
                lastLoss = r.loss();
                if (writes) {
                    metrics.train(r, (System.nanoTime() - runT0) / 1e9);
                    folder.append(Trajectory.FILE, Trajectory.line(r));
                }
                holdIfAsked(t);
                if (bar != null) {
                    bar.stepTo(t);
                    bar.setExtraMessage(String.format(" loss %.4f%s", r.loss(), r.skipped() ? " (skipped)" : ""));
                }
                boolean evalNow = !data.dev().isEmpty() && ((config.evalEvery() > 0 && t % config.evalEvery() == 0)
                        || t == stepsTotal);
                boolean stop = false;
                if (evalNow) {
                    lastDev = evaluate(engine, objective, data, data.dev(), "dev");
                    if (writes) {
                        metrics.eval("dev", t, lastDev);
                    }
                    long[] bestAt = {-1};
                    stop = best.record(t, lastDev.metric(config.metricKind()), t == stepsTotal, at -> {
                        if (!writes) {
                            return;
                        }
                        bestAt[0] = at; // best/ is written with this step's checkpoint, in the background
                        if (!data.test().isEmpty()) {
                            metrics.eval("test", at, evaluate(engine, objective, data, data.test(), "test"));
                        }
                    });
                    newBest = bestAt[0];
                    if (stop) {
                        stopped = "early-stopping";
                    }
                }
                if (metrics.stopRequested() && !stop && t < stepsTotal) {
                    stopped = "listener";
                    stop = true;
                }
                if (options.stopAfter() > 0 && t >= options.stopAfter() && t < stepsTotal) {
                    stopped = "stop-after";
                    stop = true;
                }
                if (stop || evalNow || t == stepsTotal
                        || (config.checkpointEvery() > 0 && t % config.checkpointEvery() == 0)) {
                    awaitSaves(); // the previous checkpoint still holds θ's host copy
                    engine.verifyReplicas(); // never checkpoint replicas that disagree
                    if (writes) {
                        saveCheckpoint(engine, best.progress(), modelConfig, newBest);
                    }
                    newBest = -1;
                }
                if (stop) {
                    break;
                }
            }
        } finally {
            metrics.barActive(false);
            this.bar = null;
        }
        awaitSaves();
        if (!writes) {
            return new Summary(engine.stepsDone(), stopped, initialDev, lastDev, null, best.progress().bestStep(),
                    best.progress().bestValue(), lastLoss, engine.skippedSteps(), (System.nanoTime() - t0) / 1e9,
                    folder.dir());
        }
        if (engine.stepsDone() == startStep && startStep > 0) {
            saveCheckpoint(engine, best.progress(), modelConfig, -1); // resumed a finished run: just finish
        }
        export(modelConfig, engine, folder.model(), engine.stepsDone());
        Eval finalTest = null;
        if (!data.test().isEmpty() && !stopped.equals("stop-after")) {
            // a best step at the end wrote its own test line at that step before the checkpoint
            finalTest = finished ? metrics.finalTest(engine.stepsDone(),
                    best.progress().bestStep() == engine.stepsDone()) : null;
            if (finalTest == null) {
                finalTest = evaluate(engine, objective, data, data.test(), "test");
                metrics.eval("test", engine.stepsDone(), finalTest);
            }
        }
        Checkpoints.Progress progress = best.progress();
        if (initialDev == null && !Double.isNaN(progress.initialDev())) {
            initialDev = metrics.dev(0);
        }
        Summary s = new Summary(engine.stepsDone(), stopped, initialDev, lastDev, finalTest, progress.bestStep(),
                progress.bestValue(), lastLoss, engine.skippedSteps(), (System.nanoTime() - t0) / 1e9,
                folder.dir());
        metrics.graphCaptures(engine.graphCaptures());
        metrics.summary(s, engine.device(), config);
        try {
            metrics.plots();
        } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop: the run itself is done
            log.println("plots not written: " + e);
            log.flush();
        }
        logTimes(System.nanoTime() - t0, setupNanos, engine.stepsDone() - startStep);
        return s;
    }

    /** One line: where this invocation's wall time went (the steps include their graphs' captures). */
    private void logTimes(long totalNanos, long setupNanos, long steps) {
        long other = totalNanos - setupNanos - stepNanos - evalNanos - checkpointNanos - exportNanos;
        long engineNanos = setupNanos - modelNanos - dataNanos - fingerprintNanos;
        log.println(String.format(Locale.ROOT, "time: %.1f s: setup %.1f (model %.1f, data %.1f, fingerprints %.1f, "
                + "engine %.1f), %d steps %.1f (%.1f ms each), evaluations %.1f, checkpoints %.1f (writes %.1f in the "
                + "background), exports %.1f, other %.1f (logs, summary, plots)",
                totalNanos / 1e9, setupNanos / 1e9, modelNanos / 1e9, dataNanos / 1e9, fingerprintNanos / 1e9,
                engineNanos / 1e9, steps, stepNanos / 1e9, steps == 0 ? 0.0 : stepNanos / 1e6 / steps,
                evalNanos / 1e9, checkpointNanos / 1e9, saves.busyNanos() / 1e9, exportNanos / 1e9, other / 1e9));
        log.flush();
    }

    /** Holds the process forever after step {@code t} when {@link #HOLD_AFTER_STEP} asks for it. */
    static void holdIfAsked(long t) {
        while (t == HOLD_AFTER_STEP) {
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ZotuneException("interrupted while held after step " + HOLD_AFTER_STEP);
            }
        }
    }

    private ProgressBar progressBar(long start) {
        return new ProgressBarBuilder().setTaskName("train").setInitialMax(config.steps())
                // "0.1 steps/s" on a slow CPU, not the default format's ".1"
                .setStyle(ProgressBarStyle.ASCII).setUnit(" steps", 1).showSpeed(new java.text.DecimalFormat("0.0#",
                        java.text.DecimalFormatSymbols.getInstance(java.util.Locale.ROOT)))
                .setConsumer(new ConsoleProgressBarConsumer(System.err))
                .setUpdateIntervalMillis(250).startsFrom(start, Duration.ZERO).build();
    }

    private Eval evaluate(ZoEngine engine, Objective objective, TrainData data, List<EncodedExample> set,
            String split) {
        long s0 = System.nanoTime();
        try {
            return evaluateSet(engine, objective, data, set, evalProgress(split, set.size()));
        } finally {
            evalNanos += System.nanoTime() - s0;
        }
    }

    /**
     * What an evaluation of {@code total} examples tells after each batch: with the bar, its message ("evaluating dev
     * 64/872", the step's loss again at the end); without it (the evaluations at step 0 and after the last step),
     * {@link EvalProgressLines}; nothing without progress (--no-progress).
     */
    private java.util.function.IntConsumer evalProgress(String split, int total) {
        if (!options.progress()) {
            return done -> { };
        }
        ProgressBar b = bar;
        if (b != null) {
            String before = b.getExtraMessage();
            return done -> b.setExtraMessage(done < total ? " evaluating " + split + " " + done + "/" + total
                    : before);
        }
        return EvalProgressLines.of(log, "eval " + split, total);
    }

    /**
     * Starts writing a checkpoint of the current state on the background writer: θ's host copy is taken now (the
     * engine lends it until the write ends), the files are written while the next steps run. With {@code bestStep}
     * (this step, a new best on dev; -1: none) best/ is exported from the same copy first, so that a checkpoint never
     * names a best step whose best/ is not yet written (a run killed before the checkpoint resumes from the one
     * before, dropping the later metrics lines and redoing the steps). The time counted is what the loop waited:
     * the copy, and a previous write when it had not ended yet.
     */
    private void saveCheckpoint(ZoEngine engine, Checkpoints.Progress progress, ModelConfig modelConfig,
                                long bestStep) {
        long s0 = System.nanoTime();
        try {
            saves.await();
            ZoEngine.Lease<ZoEngine.State> lease = engine.lendState();
            Path dir = folder.dir();
            try {
                saves.submit(() -> {
                    try (lease) {
                        if (bestStep >= 0) {
                            exportTo(modelConfig, lease.value().parameters(), folder.best(), bestStep);
                        }
                        Checkpoints.save(dir, lease.value(), progress);
                    }
                });
            } catch (RuntimeException | Error e) {
                lease.close();
                throw e;
            }
        } finally {
            checkpointNanos += System.nanoTime() - s0;
        }
    }

    /** Waits for the checkpoint being written (its failure is thrown here); the wait counts as checkpoint time. */
    private void awaitSaves() {
        long s0 = System.nanoTime();
        try {
            saves.await();
        } finally {
            checkpointNanos += System.nanoTime() - s0;
        }
    }

    private Eval evaluateSet(ZoEngine engine, Objective objective, TrainData data, List<EncodedExample> set,
            java.util.function.IntConsumer progress) {
        int bs = config.evalBatchSize();
        return engine.evaluate((ops, model, weights) -> {
            if (data.languageModel()) {
                Evaluator.LmResult r = Evaluator.languageModel(ops, model, weights, set, bs, data.padId(), progress);
                return new Eval(r.loss(), Double.NaN, Double.NaN, set.size());
            }
            Evaluator.Result r = Evaluator.evaluate(ops, model, weights, set, bs, data.padId(), objective, progress);
            return new Eval(r.loss(), r.accuracy(), r.f1(), r.examples());
        });
    }

    /**
     * Full fine-tuning: a Hugging Face folder in dir (with objective head, its classifier and config keys too); LoRA
     * or prefix: a PEFT adapter in best/adapter or the run's adapter/, and with peft.merge (LoRA) the merged full
     * weights as a Hugging Face folder in dir too.
     */
    private void export(ModelConfig modelConfig, ZoEngine engine, Path dir, long step) {
        awaitSaves(); // the engine lends θ to one writer at a time
        long s0 = System.nanoTime();
        try {
            engine.withParameters(trainedTensors -> {
                exportTo(modelConfig, trainedTensors, dir, step);
                return null;
            });
        } finally {
            exportNanos += System.nanoTime() - s0;
        }
    }

    /** @param trained θ as the engine lends it (valid during this call only) */
    private void exportTo(ModelConfig modelConfig, List<HostTensor> trained, Path dir, long step) {
        Map<String, String> meta = Map.of("format", "pt", "zotune_step", Long.toString(step));
        if (adapter instanceof Prefix prefix) {
            Path out = dir.equals(folder.model()) ? folder.file("adapter") : dir.resolve("adapter");
            Map<String, String> prefixMeta = new java.util.LinkedHashMap<>(meta);
            prefixMeta.put(PeftExport.BASE_WEIGHTS, baseWeights);
            AdapterClassifier.Written form = head == null ? null : AdapterClassifier.written(head.labels(),
                    head.options().pooling(), modelConfig.family().architecture(), base, PrefixExport.SAVED_PREFIX);
            if (form != null) { // which label each classifier row is, and how the head pools: eval scores it so
                prefixMeta.putAll(form.metadata());
            }
            PrefixExport.write(out, prefix, config.model(), modelConfig, trained, prefixMeta, form == null
                    ? java.util.function.UnaryOperator.identity() : form.tensors());
            return;
        }
        if (lora != null) {
            Path adapter = dir.equals(folder.model()) ? folder.file("adapter") : dir.resolve("adapter");
            List<HostTensor> adapters = trained;
            Map<String, String> adapterMeta = new java.util.LinkedHashMap<>(meta);
            adapterMeta.put(PeftExport.BASE_WEIGHTS, baseWeights);
            AdapterClassifier.Written form = head == null ? null : AdapterClassifier.written(head.labels(),
                    head.options().pooling(), modelConfig.family().architecture(), base, Lora.PEFT_PREFIX);
            if (form != null) {
                adapterMeta.putAll(form.metadata());
            }
            PeftExport.write(adapter, lora, config.model(), modelConfig.family(), PeftExport.modelClass(config,
                    modelConfig), adapters, adapterMeta, form == null ? java.util.function.UnaryOperator.identity()
                    : form.tensors());
            if (config.peft().merge()) {
                List<HostTensor> held = head == null ? base : head.initial(); // with the head: body + classifier
                List<HostTensor> frozen = new ArrayList<>(held.size());
                for (HostTensor t : held) { // the base as the run held it: rounded to the run's dtype
                    frozen.add(HostTensors.of(t.name(), t.toFloats(), t.shape(), config.paramDType()));
                }
                writeHf(dir, modelConfig, step, lora.merge(frozen, adapters), meta);
                if (head != null) {
                    HfExport.classifierConfig(dir, modelConfig, head.labels(), head.options().pooling());
                }
            }
            return;
        }
        if (head != null) {
            writeHf(dir, modelConfig, step, head.exported(trained, config.paramDType()), meta);
            HfExport.classifierConfig(dir, modelConfig, head.labels(), head.options().pooling());
            return;
        }
        writeHf(dir, modelConfig, step, trained, meta);
    }

    /**
     * A Hugging Face folder in {@code dir}; its weights file a hard link of the one this run exported at the same
     * step, if any (best/ and model/ when the best step is the last: the same θ, written once).
     */
    private void writeHf(Path dir, ModelConfig modelConfig, long step, List<HostTensor> params,
            Map<String, String> meta) {
        Path same = step == weightsStep ? weightsFile : null;
        weightsFile = HfExport.write(dir, modelPath, tokenizerPath, modelConfig, params, meta, same);
        weightsStep = step;
    }
}
