package org.zotune.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.dfo.DfoSearch;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.search.SearchFactory;
import org.zotune.model.LoadedLanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.train.config.Dfo;
import org.zotune.train.objective.Objective;
import org.zotune.train.run.Fingerprints;
import org.zotune.train.run.MetricsLog;
import org.zotune.train.run.RunFolder;

/**
 * A DFO-LoRA run ({@code method: dfo}, ALGORITHMS.md §7) over a run folder: the {@link DfoSearch} of the run's dfo
 * section, one progress line and one metrics.jsonl record ({@code "type": "dfo"}) per generation, resumable
 * checkpoints ({@link DfoCheckpoints}) every {@code checkpoint_every} generations and when the run stops, and the
 * result in {@code subspace.json} (every layer's best z and loss, the projection seed). The run folder's rules are
 * {@link RunFolder}'s: {@code --resume} continues bit for bit and refuses a changed dfo section by its key.
 * <p>
 * Its parts come from {@link DfoParts}; everything the model decides (targets, rank, layers against the budget) is
 * checked before anything is written.
 */
public final class DfoTrainer {
    /** The result of a dfo run: every layer's best z (the adapter materialised from it is in {@link #ADAPTER}). */
    public static final String SUBSPACE = "subspace.json";
    /** The result as a PEFT LoRA adapter folder ({@link DfoExport}), written when the search is done. */
    public static final String ADAPTER = "adapter";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainConfig config;
    private final Path modelPath;
    private final Path tokenizerPath;
    private final Trainer.Options options;
    private final PrintWriter log;
    private final RunFolder folder;
    private final DfoParts.PopulationLossFactory losses;
    private final SearchFactory searches;

    /** A run with the parts {@link DfoParts} wires. */
    public DfoTrainer(TrainConfig config, Path modelPath, Path tokenizerPath, Trainer.Options options,
            PrintWriter log) {
        this(config, modelPath, tokenizerPath, options, log, DfoParts.populationLoss(),
                DfoParts.searches(config.dfo()));
    }

    /** A run with the given parts (tests: a synthetic loss and test optimisers). */
    public DfoTrainer(TrainConfig config, Path modelPath, Path tokenizerPath, Trainer.Options options,
            PrintWriter log, DfoParts.PopulationLossFactory losses, SearchFactory searches) {
        if (config.methodKind() != TrainConfig.Method.DFO) {
            throw new IllegalArgumentException("a DfoTrainer for method " + config.method());
        }
        this.config = config;
        this.modelPath = modelPath;
        this.tokenizerPath = tokenizerPath;
        this.options = options;
        this.log = log;
        this.folder = new RunFolder(config, options.resume(), options.overwrite());
        this.losses = losses;
        this.searches = searches;
    }

    /**
     * Makes one optimiser of each kind the run uses and drops it, so that a population or subspace they cannot hold
     * is refused in one line before the run folder is written (the search makes its own lazily, per layer).
     */
    private void requireOptimizers(Dfo d) {
        DfoSearch.Method m = d.optimizerKind();
        if (m != DfoSearch.Method.FWA) {
            searches.create(0, SearchFactory.Kind.CMA_ES, d.subspace(), config.seed());
        }
        if (m != DfoSearch.Method.CMA) {
            searches.create(0, SearchFactory.Kind.FIREWORKS, d.subspace(), config.seed());
        }
    }

    /** The projection seed: the run seed (the projections are regenerated from it, never stored). */
    long projectionSeed() {
        return config.seed();
    }

    public Trainer.Summary run() {
        long t0 = System.nanoTime();
        folder.check(); // a changed dfo section on --resume is refused here, before the model loads
        if (!Files.exists(modelPath)) {
            throw new ZotuneException("model " + modelPath + " does not exist");
        }
        RunInputs.Plan plan = RunInputs.plan(config); // bad data keys first
        if (config.objectiveKind() == TrainConfig.ObjectiveKind.HEAD) {
            throw new ZotuneException("method dfo: objective head adds a new classification head, which the subspace "
                    + "search over the attention's LoRA factors cannot learn; use objective similarity or mlm");
        }
        LoadedLanguageModel loaded = ModelLoader.loadAny(modelPath);
        RunInputs.requireKind(config, plan, loaded);
        requireFits(config.dfo(), loaded.config());
        Tokenizer tokenizer = Tokenizers.forModel(modelPath, tokenizerPath);
        Tokenizers.requireFits(tokenizer, loaded.config().vocabSize(), modelPath);
        RunInputs.Read read = RunInputs.read(config, plan, loaded, tokenizer);
        TrainData data = read.data();
        Objective objective = read.objective();
        log.println("data: " + data.description());
        if (data.languageModel()) {
            throw new ZotuneException("method dfo searches for a classification objective and needs candidate data "
                    + "(classification or multiple choice); data.format " + config.data().format() + " is text");
        }
        DfoParts.Inputs inputs = new DfoParts.Inputs(config, loaded, data, objective, projectionSeed());
        PopulationLoss loss = losses.create(inputs);
        if (loss == null) {
            throw new ZotuneException("method dfo: the batched population forward is not available for "
                    + loaded.config().family() + " with objective " + config.objective() + " in this build yet");
        }
        try {
            return run(loss, inputs, tokenizer, t0);
        } finally {
            if (loss instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing the population loss: " + e.getMessage(), e);
                }
            }
        }
    }

    private Trainer.Summary run(PopulationLoss loss, DfoParts.Inputs inputs, Tokenizer tokenizer, long t0) {
        LoadedLanguageModel loaded = inputs.loaded();
        TrainData data = inputs.data();
        Dfo d = config.dfo();
        if (loss.layers() != loaded.config().numLayers() || loss.dimension() != d.subspace()) {
            throw new IllegalStateException("population loss of " + loss.layers() + " layers × " + loss.dimension()
                    + " for a model of " + loaded.config().numLayers() + " layers and subspace " + d.subspace());
        }
        DfoSearch search = new DfoSearch(loss, searches, settings(config));
        requireOptimizers(d);
        log.flush();
        Fingerprints fingerprints = new Fingerprints(Fingerprints.weights(loaded.parameters()),
                Fingerprints.tokenizer(tokenizer), Fingerprints.examples(data.train()),
                Fingerprints.examples(data.dev()), Fingerprints.examples(data.test()));
        try (RunFolder.Lock lock = folder.lock()) {
            folder.create(fingerprints);
            boolean started = false;
            try {
                if (options.resume()) {
                    DfoCheckpoints.load(folder.dir(), search, projectionSeed());
                    folder.truncate(RunFolder.METRICS, search.position(), false);
                    log.println("resuming " + folder.dir() + " at generation " + search.position() + " ("
                            + search.evaluations() + " of " + d.budget() + " evaluations)");
                }
                log.println("dfo: " + search.totalGenerations() + " generations of " + d.population() + " over "
                        + search.layers() + " layers (schedule " + d.schedule() + ", optimizer " + d.optimizer()
                        + ", subspace " + d.subspace() + "), budget " + d.budget());
                Trainer.Eval initialDev = null;
                if (loss instanceof DfoModelLoss m) {
                    int[] gpus = m.gpus();
                    log.println("dfo: device " + m.device() + " (" + m.dtype().name().toLowerCase(
                            java.util.Locale.ROOT) + ")" + (gpus.length > 0 ? ", each generation divided over "
                            + "CUDA devices " + java.util.Arrays.toString(gpus) : "") + ", " + m.generations()
                            + "; training loss at z = 0 (the "
                            + "base model) " + m.trainLoss(null));
                    initialDev = initialDev(m, data);
                }
                log.flush();
                started = true;
                return loop(search, loss, inputs, fingerprints.baseWeights(), initialDev, t0);
            } catch (RuntimeException | Error e) {
                if (!options.resume() && !started) {
                    folder.clearUnstarted();
                }
                throw e;
            }
        }
    }

    /** The search settings of a run's dfo section. */
    public static DfoSearch.Settings settings(TrainConfig c) {
        Dfo d = c.dfo();
        return new DfoSearch.Settings(d.optimizerKind(), d.scheduleKind(), d.population(), d.budget(), c.seed());
    }

    /** An evaluation's progress lines ({@link EvalProgressLines}), none with --no-progress. */
    private java.util.function.IntConsumer progress(String split, List<EncodedExample> set) {
        return options.progress() ? EvalProgressLines.of(log, "eval " + split, set.size()) : done -> { };
    }

    /** The base model's dev evaluation, logged at t = 0 by a fresh run and read back by a resumed one. */
    private Trainer.Eval initialDev(DfoModelLoss m, TrainData data) {
        if (data.dev().isEmpty()) {
            return null;
        }
        MetricsLog metrics = new MetricsLog(folder, log);
        Trainer.Eval e = options.resume() ? metrics.dev(0) : null;
        if (e == null) {
            e = m.evaluate(null, data.dev(), config.evalBatchSize(), data.padId(), progress("dev", data.dev()));
            metrics.eval("dev", 0, e);
        }
        return e;
    }

    private Trainer.Summary loop(DfoSearch search, PopulationLoss loss, DfoParts.Inputs inputs, String baseWeights,
            Trainer.Eval initialDev, long t0) {
        String stopped = "completed";
        double last = Double.NaN;
        long every = config.checkpointEvery();
        long start = search.position();
        while (!search.done()) {
            DfoSearch.Generation g = search.step();
            last = g.bestLoss();
            long t = g.index() + 1;
            log.println(g.line());
            log.flush();
            folder.append(RunFolder.METRICS, metricsLine(g));
            Trainer.holdIfAsked(t); // test-only crash point (the crash matrix)
            boolean stop = options.stopAfter() > 0 && t >= options.stopAfter() && !search.done();
            if (stop || search.done() || (every > 0 && t % every == 0)) {
                DfoCheckpoints.save(folder.dir(), search, projectionSeed());
            }
            if (stop) {
                stopped = "stop-after";
                break;
            }
        }
        if (search.position() == start && start > 0) {
            DfoCheckpoints.save(folder.dir(), search, projectionSeed()); // resumed a finished run: just finish
        }
        writeSubspace(search);
        MetricsLog metrics = new MetricsLog(folder, log);
        Trainer.Eval finalDev = null;
        Trainer.Eval finalTest = null;
        String device = "cpu";
        if (loss instanceof DfoModelLoss m) {
            device = m.device();
            if (search.done()) {
                double[][] best = search.bestPoints();
                Map<String, String> meta = new LinkedHashMap<>();
                meta.put("format", "pt");
                meta.put("zotune_step", Long.toString(search.position()));
                meta.put(PeftExport.BASE_WEIGHTS, baseWeights);
                DfoExport.write(folder.file(ADAPTER), m.adapter(best), config.model(), inputs.loaded().model(), meta);
                last = m.trainLoss(best);
                log.println("dfo: training loss at the result " + last + "; adapter " + folder.file(ADAPTER));
                TrainData data = inputs.data();
                long t = search.position();
                boolean again = search.position() == start; // a resumed run that had ended: its evaluations stand
                if (!data.dev().isEmpty()) {
                    finalDev = again ? metrics.dev(t) : null;
                    if (finalDev == null) {
                        finalDev = m.evaluate(best, data.dev(), config.evalBatchSize(), data.padId(),
                                progress("dev", data.dev()));
                        metrics.eval("dev", t, finalDev);
                    }
                }
                if (!data.test().isEmpty()) {
                    finalTest = again ? metrics.finalTest(t) : null;
                    if (finalTest == null) {
                        finalTest = m.evaluate(best, data.test(), config.evalBatchSize(), data.padId(),
                                progress("test", data.test()));
                        metrics.eval("test", t, finalTest);
                    }
                }
            }
        } else if (search.done()) {
            log.println("dfo: no PEFT adapter (this population loss has no projections); the result is "
                    + folder.file(SUBSPACE));
        }
        Trainer.Summary s = new Trainer.Summary(search.position(), stopped, initialDev, finalDev, finalTest, -1,
                Double.NaN, last, 0, (System.nanoTime() - t0) / 1e9, folder.dir());
        metrics.summary(s, device, config);
        log.flush();
        return s;
    }

    private static String metricsLine(DfoSearch.Generation g) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", "dfo");
        o.put("t", g.index() + 1);
        o.put("layer", g.layer());
        o.put("visit", g.visit());
        o.put("optimizer", g.kind() == SearchFactory.Kind.CMA_ES ? "cma" : "fwa");
        o.put("loss", g.bestLoss());
        o.put("layer_best", g.layerBest());
        o.put("evaluations", g.evaluations());
        return o.toString();
    }

    /** subspace.json: the search's result, every layer's best z (doubles written to round-trip exactly). */
    private void writeSubspace(DfoSearch search) {
        ObjectNode o = JSON.createObjectNode();
        o.put("type", "zotune-dfo-subspace");
        o.put("version", 1);
        o.put("generations", search.position());
        o.put("evaluations", search.evaluations());
        o.put("projection_seed", projectionSeed());
        o.put("layers", search.layers());
        o.put("dimension", search.dimension());
        o.put("rank", config.dfo().rank());
        o.set("targets", JSON.valueToTree(config.dfo().targets()));
        ArrayNode loss = o.putArray("best_loss");
        for (double v : search.bestLosses()) {
            loss.add(v);
        }
        ArrayNode z = o.putArray("z");
        for (double[] layer : search.bestPoints()) {
            ArrayNode a = z.addArray();
            for (double v : layer) {
                a.add(v);
            }
        }
        AtomicFiles.writeString(folder.file(SUBSPACE), o.toPrettyString() + "\n");
    }

    /**
     * What the dfo section must agree on with the model: the targets (the attention projections DFO-LoRA adapts that
     * the architecture has), the budget (a generation per layer under schedule layers) and the rank (at most the
     * hidden size).
     */
    static void requireFits(Dfo d, ModelConfig model) {
        Map<String, String> modules = model.family().architecture().adapterModules();
        TreeSet<String> valid = new TreeSet<>();
        for (String t : DfoParts.TARGETS) {
            if (modules.isEmpty() || modules.containsKey(t)) { // encoders list none: their self-attention has q and k
                valid.add(t);
            }
        }
        for (String t : d.targets()) {
            if (!valid.contains(t)) {
                throw new ZotuneException("key 'dfo.targets': unknown target '" + t + "' for " + model.family()
                        + "; valid: " + String.join(", ", valid) + " (DFO-LoRA adapts the attention's query and key "
                        + "projections)");
            }
        }
        if (!new TreeSet<>(d.targets()).equals(valid)) {
            // the subspace (org.zotune.dfo.Subspace) maps z to the query's AND the key's factors, never one of them
            throw new ZotuneException("key 'dfo.targets': " + d.targets() + " adapts part of the attention; this "
                    + "build's subspace adapts " + valid + " together (use the default [q, k])");
        }
        long round = (long) d.population() * model.numLayers();
        if (d.scheduleKind() == DfoSearch.Schedule.LAYERS && d.budget() < round) {
            throw new ZotuneException("key 'dfo.budget': " + d.budget() + " gives no generation per layer under "
                    + "schedule layers (population " + d.population() + " × " + model.numLayers() + " layers = "
                    + round + " evaluations); raise the budget or use schedule rounds");
        }
        if (d.rank() > model.hiddenSize()) {
            throw new ZotuneException("key 'dfo.rank': " + d.rank() + " is larger than the hidden size "
                    + model.hiddenSize() + " of this " + model.family() + " model");
        }
    }

}
