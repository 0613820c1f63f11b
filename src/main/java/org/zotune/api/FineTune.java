package org.zotune.api;

import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.UnaryOperator;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.HostTensor;
import org.zotune.train.AdapterClassifier;
import org.zotune.train.DfoTrainer;
import org.zotune.train.HfExport;
import org.zotune.train.PeftExport;
import org.zotune.train.PrefixExport;
import org.zotune.train.Replay;
import org.zotune.train.TrainConfig;
import org.zotune.train.Trainer;
import org.zotune.train.Trajectory;
import org.zotune.train.ZoEngine;
import org.zotune.train.config.Peft;
import org.zotune.train.run.MetricsLog;

/**
 * A fine-tuning run: a {@link FineTuneConfig} with how to run it (resume, overwrite, a listener, a log), run on the
 * caller's thread ({@link #run()}) or a background one ({@link #start}). The run folder holds what the CLI's
 * {@code zotune train} writes: run.json, metrics.jsonl, trajectory.jsonl, checkpoint/, model/, best/,
 * summary.json, plots/ and report.html.
 * <p>
 * Immutable and thread-safe (the {@code with...} methods return new values); each {@link #run()} is one training
 * run, and two runs must not share a run folder. The engine itself is not thread-safe: one run uses one thread.
 */
public final class FineTune {
    private final FineTuneConfig config;
    private final boolean resume;
    private final boolean overwrite;
    private final long stopAfter;
    private final boolean progressBar;
    private final PrintWriter log;
    private final FineTuneListener listener;

    private FineTune(FineTuneConfig config, boolean resume, boolean overwrite, long stopAfter, boolean progressBar,
            PrintWriter log, FineTuneListener listener) {
        this.config = Objects.requireNonNull(config, "config");
        this.resume = resume;
        this.overwrite = overwrite;
        this.stopAfter = stopAfter;
        this.progressBar = progressBar;
        this.log = log;
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /** A fresh run of {@code config} into its out folder (which must be new or empty), silent, no listener. */
    public static FineTune of(FineTuneConfig config) {
        return new FineTune(config, false, false, 0, false, new PrintWriter(Writer.nullWriter()),
                FineTuneListener.NONE);
    }

    /** The configuration this fine-tune runs. */
    public FineTuneConfig config() {
        return config;
    }

    /** Continue the run in the out folder from its last checkpoint, bit for bit as if it had never stopped. */
    public FineTune withResume() {
        return new FineTune(config, true, overwrite, stopAfter, progressBar, log, listener);
    }

    /** Replace the run already in the out folder (and nothing else: a folder of other files is refused). */
    public FineTune withOverwrite() {
        return new FineTune(config, resume, true, stopAfter, progressBar, log, listener);
    }

    /** Stop after step {@code t} with a checkpoint ({@link #withResume()} continues); 0: run to the end. */
    public FineTune withStopAfter(long t) {
        if (t < 0) {
            throw new ZotuneException("stop after: the step must be >= 0, got " + t);
        }
        return new FineTune(config, resume, overwrite, t, progressBar, log, listener);
    }

    /** Progress (the data, the evaluations, the run folder) as lines on {@code log}; default: none. */
    public FineTune withLog(PrintWriter log) {
        return new FineTune(config, resume, overwrite, stopAfter, progressBar, Objects.requireNonNull(log), listener);
    }

    /** A progress bar on the process's stderr (the CLI's); default: none. */
    public FineTune withProgressBar(boolean on) {
        return new FineTune(config, resume, overwrite, stopAfter, on, log, listener);
    }

    /** The listener told each step and evaluation (and able to stop the run). */
    public FineTune withListener(FineTuneListener listener) {
        return new FineTune(config, resume, overwrite, stopAfter, progressBar, log, listener);
    }

    /**
     * Runs on the calling thread until the run ends.
     *
     * @throws ZotuneException for unusable input (a file, a key, the run folder), with a one-line message
     */
    public FineTuneResult run() {
        ModelSource source = config.model();
        if (source.isBundled()) {
            log.println(source.attribution());
        }
        ModelSource.Resolved paths = source.resolve();
        log.println("run folder: " + config.out());
        log.flush();
        Adapter adapter = new Adapter(listener);
        Trainer.Options options = new Trainer.Options(resume, overwrite, stopAfter, progressBar);
        Trainer.Summary s = config.internal().methodKind() == TrainConfig.Method.DFO
                ? new DfoTrainer(config.internal(), paths.model(), paths.tokenizer(), options, log).run()
                : new Trainer(config.internal(), paths.model(), paths.tokenizer(), options, log).listener(adapter).run();
        return new FineTuneResult(s.steps(), s.stopped(), evaluation("dev", 0, s.initialDev()),
                evaluation("dev", adapter.lastDevStep < 0 ? s.steps() : adapter.lastDevStep, s.finalDev()),
                evaluation("test", s.steps(), s.finalTest()), s.bestStep(), s.lastTrainLoss(), s.skipped(),
                s.seconds(), s.out());
    }

    /**
     * Runs on {@code executor}; the future completes with the result, or exceptionally with the run's exception
     * (a {@link ZotuneException} for bad input). Cancelling the future does not stop the run: return
     * {@link FineTuneListener.Decision#STOP} from the listener.
     */
    public CompletableFuture<FineTuneResult> start(Executor executor) {
        return CompletableFuture.supplyAsync(this::run, executor);
    }

    /** Runs on a new thread named {@code zotune-fine-tune}; see {@link #start(Executor)}. */
    public CompletableFuture<FineTuneResult> start() {
        return start(task -> {
            Thread t = new Thread(task, "zotune-fine-tune");
            t.start();
        });
    }

    /** {@link CompletableFuture#join()} with the run's own exception rethrown (unwrapped). */
    public static FineTuneResult await(CompletableFuture<FineTuneResult> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
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
     * Rebuilds a run's fine-tuned weights from the base model and the run's trajectory.jsonl, without a forward
     * pass, into a new Hugging Face folder {@code out} (absent or empty). On the device the run trained on, the
     * weights equal the run's model/ bit for bit. {@link Device#AUTO} replays on CUDA when usable, else the CPU.
     * A LoRA or prefix run's trajectory replays (on the device, as full runs do) into a PEFT adapter folder
     * {@code out} (adapter_config.json + adapter_model.safetensors), equal to the run's adapter/ bit for bit on the
     * device it trained on; the base must be the run's (its fingerprint is checked). Decoders and encoders alike,
     * every objective: with objective head the classifier comes out as the run exported it (in model/ with its
     * config keys, or beside LoRA's A and B as PEFT's modules_to_save).
     */
    public static ReplayResult replay(ModelSource base, Path trajectory, Path out, Device device) {
        ModelSource.Resolved paths = base.resolve();
        ModelSource.requireExisting(trajectory, "trajectory");
        Model.requireEmptyOrAbsent(out, "replay output");
        String d = switch (device) {
            case CPU -> "cpu";
            case CUDA -> "cuda";
            case AUTO -> Cuda.availability().usable() ? "cuda" : "cpu";
        };
        Trajectory.Read tr = Trajectory.read(trajectory);
        long t0 = System.nanoTime();
        LoadedLanguageModel any = ModelLoader.loadAny(paths.model()); // decoders and encoders alike
        Peft.Method method = tr.config().peft().methodKind();
        if (method == Peft.Method.PREFIX) {
            Replay.Prefixes p = Replay.runPrefix(any, tr, d); // on CUDA: bitwise a run trained there
            AdapterClassifier.Written form = headForm(tr, any, PrefixExport.SAVED_PREFIX);
            PrefixExport.write(out, p.prefix(), tr.config().model(), any.config(), p.tensors(), adapterMetadata(tr,
                    form), form == null ? UnaryOperator.identity() : form.tensors());
            return new ReplayResult(tr.steps().size(), out, (System.nanoTime() - t0) / 1e9);
        }
        if (method == Peft.Method.LORA) {
            Replay.Adapters a = Replay.runAdapters(any, tr, d); // on CUDA: bitwise a run trained there
            // the model class the run exported for (an encoder's objective picks it; a decoder's is its causal LM)
            AdapterClassifier.Written form = headForm(tr, any, org.zotune.peft.Lora.PEFT_PREFIX);
            PeftExport.write(out, a.lora(), tr.config().model(), any.config().family(),
                    PeftExport.modelClass(tr.config(), any.config()), a.tensors(), adapterMetadata(tr, form),
                    form == null ? UnaryOperator.identity() : form.tensors());
            return new ReplayResult(tr.steps().size(), out, (System.nanoTime() - t0) / 1e9);
        }
        Replay.Weights w = Replay.full(any, tr, d);
        HfExport.write(out, paths.model(), paths.tokenizer(), any.config(), w.tensors(), Map.of("format", "pt",
                "zotune_step", Long.toString(tr.steps().size())));
        if (w.labels() != null) { // objective head: the classifier's config keys, as the run wrote them
            HfExport.classifierConfig(out, any.config(), w.labels(), w.pooling());
        }
        return new ReplayResult(tr.steps().size(), out, (System.nanoTime() - t0) / 1e9);
    }

    /** A replayed head run's classifier as the run wrote it ({@link AdapterClassifier#written}); null without. */
    private static AdapterClassifier.Written headForm(Trajectory.Read tr, LoadedLanguageModel any, String prefix) {
        return tr.head() == null ? null : AdapterClassifier.written(tr.head().labels(), tr.config().head().pooling(),
                any.config().family().architecture(), any.parameters(), prefix);
    }

    /**
     * A replayed adapter's safetensors metadata, as the run wrote it: format, step, the base's fingerprint and, with
     * objective head, the classifier's labels and pooling.
     */
    private static Map<String, String> adapterMetadata(Trajectory.Read tr, AdapterClassifier.Written head) {
        Map<String, String> meta = new java.util.LinkedHashMap<>(Map.of("format", "pt", "zotune_step",
                Long.toString(tr.steps().size())));
        if (tr.baseWeights() != null) {
            meta.put(PeftExport.BASE_WEIGHTS, tr.baseWeights());
        }
        if (head != null) { // objective head: the classifier's labels and pooling, as the run wrote them
            meta.putAll(head.metadata());
        }
        return meta;
    }

    /**
     * Draws a run folder's curves (plots/loss.png: training and dev loss; plots/metric.png: dev accuracy and F1) from
     * its metrics.jsonl: for runs made on a Java runtime without AWT. Needs the java.desktop module (any JDK).
     *
     * @return the plots folder
     */
    public static Path plot(Path runDir) {
        Path metrics = runDir.resolve("metrics.jsonl");
        if (!java.nio.file.Files.isRegularFile(metrics)) {
            throw new ZotuneException("run folder " + runDir + " has no metrics.jsonl");
        }
        if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) {
            throw new ZotuneException("drawing plots needs a Java runtime with java.desktop (AWT), e.g. a full JDK; "
                    + "this one has none");
        }
        List<com.fasterxml.jackson.databind.JsonNode> lines = new java.util.ArrayList<>();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        int n = 0;
        try {
            for (String line : java.nio.file.Files.readAllLines(metrics, java.nio.charset.StandardCharsets.UTF_8)) {
                n++;
                if (!line.isBlank()) {
                    lines.add(json.readTree(line));
                }
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ZotuneException(metrics + ": line " + n + " is not JSON");
        } catch (java.io.IOException e) {
            throw new ZotuneException(metrics + ": cannot read: " + e.getMessage(), e);
        }
        Path dir = runDir.resolve("plots");
        MetricsLog.drawPlots(lines, dir);
        return dir;
    }

    private static Evaluation evaluation(String split, long step, Trainer.Eval e) {
        return e == null ? null : new Evaluation(split, step, e.loss(), e.accuracy(), e.f1(), e.examples());
    }

    /** The trainer's metrics, as the API's values. */
    private static final class Adapter implements MetricsLog.Listener {
        private final FineTuneListener listener;
        private long lastDevStep = -1;

        Adapter(FineTuneListener listener) {
            this.listener = listener;
        }

        @Override
        public boolean train(ZoEngine.StepResult r, double elapsedSeconds) {
            return listener.onStep(new StepMetrics(r.t(), r.loss(), r.lr(), r.skipped(), elapsedSeconds))
                    == FineTuneListener.Decision.STOP;
        }

        @Override
        public boolean eval(String split, long t, Trainer.Eval e) {
            if (split.equals("dev")) {
                lastDevStep = t;
            }
            return listener.onEvaluation(evaluation(split, t, e)) == FineTuneListener.Decision.STOP;
        }
    }
}
