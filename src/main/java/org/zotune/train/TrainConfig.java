package org.zotune.train;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.dfo.search.Fireworks;
import org.zotune.tensor.DType;
import org.zotune.train.config.RecordBinder;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.NonNegative;
import org.zotune.train.config.RecordBinder.Positive;
import org.zotune.train.config.RecordBinder.Required;
import org.zotune.train.objective.HeadOptions;
import org.zotune.train.objective.SimilarityOptions;
import org.zotune.zo.cuda.NoiseVariant;
import org.zotune.zo.noise.Noise;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoSgdMomentum;

/**
 * A training run as read from {@code run.yaml} (every key is documented in the README, section "zotune train").
 * Keys are snake_case; an unknown key, a value of the wrong type or an unknown choice is a one-line
 * {@link ZotuneException} naming the file, the key and the valid choices. Absent keys take the defaults on the
 * components, bound by {@link RecordBinder}; choices are the enums below, stored as their config spelling (the
 * String accessors, e.g. {@code objective()}) and read typed through the {@code ...Kind()} accessors.
 *
 * @param model      a Hugging Face folder or a llama2.c .bin, or {@code bundled} (stories260K)
 * @param tokenizer  the tokenizer file, or null for the model's own
 * @param data       the data set
 * @param objective  lm, classification, accuracy (−accuracy), f1 (−F1), mlm (masked-LM prompt, encoders),
 *                   similarity (label similarity, encoders) or head (a classification head, encoders)
 * @param optimizer  the ZO optimiser and its hyperparameters
 * @param peft       which weights train: full fine-tuning (default) or LoRA adapters over the frozen model
 * @param parallel   data-parallel workers (ALGORITHMS.md §10): how many, and how their replicas are checked
 * @param method     zo (the ZO optimiser, default) or dfo (the DFO-LoRA subspace search of section dfo)
 * @param dfo        method dfo: the DFO-LoRA search (ALGORITHMS.md §7)
 * @param similarity objective similarity's options (label descriptions, pooling, τ)
 * @param head       objective head's options (pooling, linear probe)
 * @param eps        ε of the two-point estimate
 * @param q          SPSA samples per step
 * @param perturbation shadow (θ untouched during a step) or in-place
 * @param steps      optimiser steps
 * @param batchSize  examples per micro-batch
 * @param maxLength  tokens per row: prompts are cut from the left (text: chunk length)
 * @param padMultiple the training batches' length buckets ({@link LengthBuckets}): each batch padded to its longest
 *                   row rounded up to a multiple of this, at most max_length; 0 (auto) is
 *                   {@link LengthBuckets#autoMultiple} on the CUDA engine (its captured step keeps one graph per
 *                   shape) and 1 (the longest row) on the CPU engine, where padding only costs time; a run records
 *                   the resolved value ({@link #withPadMultiple}), absent there meaning 1
 * @param gradAccumulation micro-batches per step (same perturbation; losses averaged)
 * @param evalEvery  evaluate on dev every N steps (0: only at the end)
 * @param evalBatchSize examples per evaluation batch
 * @param earlyStoppingPatience stop after this many evaluations without a better dev metric (0: never)
 * @param metric     the dev metric that selects the best weights: loss, accuracy or f1 (default: accuracy for
 *                   candidate tasks, loss for lm)
 * @param checkpointEvery write a resumable checkpoint every N steps (0: at evaluations and at the end)
 * @param maxBadSteps stop after this many non-finite steps in a row
 * @param device     cpu, cuda or auto
 * @param dtype      f32, bf16 or f16
 * @param noise      how the CUDA engine evaluates the Gaussian noise ({@link NoiseVariant}): auto (fast on CUDA, exact
 *                   on the CPU), exact or fast; a run folder's run.json and trajectory header record the resolved
 *                   variant ({@link #withNoise}), absent there meaning exact
 * @param out        the run folder
 * @param seed       the master seed (step seeds, data order)
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record TrainConfig(
        @Required("a Hugging Face folder, a llama2.c .bin, or bundled") String model,
        String tokenizer,
        @Required("data.format, data.train, ...") Data data,
        @Choice(ObjectiveKind.class) String objective,
        @Default("{}") Optimizer optimizer,
        @Default("{}") Peft peft,
        @Default("{}") Parallel parallel,
        @Default("zo") @Choice(Method.class) String method,
        @Default("{}") Dfo dfo,
        @Default("{}") SimilarityOptions similarity,
        @Default("{}") HeadOptions head,
        @Default("0.001") @Positive Double eps,
        @Default("1") @AtLeast(1) Integer q,
        @Default("shadow") @Choice(Perturbation.class) String perturbation,
        @Default("100") @AtLeast(1) Integer steps,
        @Default("16") @AtLeast(1) Integer batchSize,
        @Default("128") @AtLeast(2) Integer maxLength,
        @Default("0") @AtLeast(0) Integer padMultiple,
        @Default("1") @AtLeast(1) Integer gradAccumulation,
        @Default("0") @AtLeast(0) Integer evalEvery,
        @AtLeast(1) Integer evalBatchSize,
        @Default("0") @AtLeast(0) Integer earlyStoppingPatience,
        @Choice(Metric.class) String metric,
        @Default("0") @AtLeast(0) Integer checkpointEvery,
        @Default("5") @AtLeast(1) Integer maxBadSteps,
        @Default("auto") @Choice(Device.class) String device,
        @Default("f32") @Choice(Precision.class) String dtype,
        @Default("auto") @Choice(NoiseSetting.class) String noise,
        @Required("the run folder") String out,
        @Default("42") Long seed) {

    /**
     * What the run minimises (key objective): the LM loss, the candidates' loss, −accuracy, −F1, or the masked-LM
     * prompt's loss (an encoder with its MLM head; the template is a masked-LM one), label similarity or a
     * classification head's loss (encoders, their pooled output).
     */
    public enum ObjectiveKind { LM, CLASSIFICATION, ACCURACY, F1, MLM, SIMILARITY, HEAD }

    /** How the run trains (key method): the ZO optimiser over the trainable set, or the DFO-LoRA search. */
    public enum Method { ZO, DFO }

    /** The dev metric that selects the best weights (key metric). */
    public enum Metric { LOSS, ACCURACY, F1 }

    /** Where the run trains (key device): auto is CUDA when a device is usable, else the CPU. */
    public enum Device { CPU, CUDA, AUTO }

    /**
     * How the CUDA engine evaluates the Gaussian noise (key noise, ALGORITHMS.md §1 "Exactness (revised)"): auto is
     * the fast variant on the CUDA engine and the exact one on the CPU engine, which has the exact reference only.
     */
    public enum NoiseSetting { AUTO, EXACT, FAST }

    /**
     * What a recorded config (run.json, a trajectory's header) without key noise ran with: zotune before the key had
     * the exact noise only.
     */
    public static final String RECORDED_NOISE_DEFAULT = "exact";

    /** What a recorded config without key pad_multiple ran with: each batch padded to its longest row. */
    public static final int RECORDED_PAD_MULTIPLE_DEFAULT = 1;

    /** How θ is perturbed during a step (key perturbation). */
    public enum Perturbation {
        SHADOW, IN_PLACE;

        public PerturbationStrategy strategy() {
            return this == SHADOW ? PerturbationStrategy.SHADOW : PerturbationStrategy.IN_PLACE;
        }
    }

    /** A storage type (keys dtype and optimizer.state_dtype). */
    public enum Precision {
        F32(DType.F32), BF16(DType.BF16), F16(DType.F16);

        private final DType dtype;

        Precision(DType dtype) {
            this.dtype = dtype;
        }

        public DType dtype() {
            return dtype;
        }
    }

    /** Per-key defaults, ranges and choices are on the components ({@link RecordBinder}); here what relates keys. */
    public TrainConfig {
        if (objective == null) {
            objective = data.format().equals("text") ? "lm" : "classification";
        }
        if (evalBatchSize == null) {
            evalBatchSize = batchSize;
        }
        if (metric == null) {
            metric = objective.equals("lm") ? "loss" : "accuracy";
        }
        if (objective.equals("lm") && !metric.equals("loss")) {
            throw new ZotuneException("key 'metric': the lm objective is evaluated by loss only, got '" + metric + "'");
        }
        if (optimizer.name().equals("zo-adamu") && q != 1) {
            throw new ZotuneException("key 'q': zo-adamu defines one SPSA sample, got q = " + q);
        }
        if (device.equals("cpu") && noise.equals("fast")) {
            throw new ZotuneException("key 'noise': fast is the CUDA engine's noise; device cpu has the exact noise "
                    + "only (use noise exact or auto)");
        }
        if (parallel.worldSize() > 1 && RecordBinder.choice(Method.class, method) == Method.DFO) {
            throw new ZotuneException("parallel.world_size " + parallel.worldSize() + ": a dfo run spreads its "
                    + "population over CPU workers in one process only so far (parallel.workers)");
        }
    }

    /**
     * The data set.
     *
     * @param format   jsonl (zotune JSON Lines), sst2 (GLUE TSV), tsv (GLUE-style TSV, see text_column /
     *                 label_column), label-sentence, superglue, kshot (LM-BFF folders), nli-json (the MNLI / SNLI
     *                 pools: one JSON object of text_a, text_b, label entries) or text (plain text chunks)
     * @param train    training file(s) (kshot: the data root)
     * @param dev      dev file(s), or null: dev (and test) drawn from train by {@code splits}
     * @param test     test file(s), or null
     * @param task     superglue / kshot task name (e.g. boolq, SST-2)
     * @param template a built-in template name or a pattern with {field} placeholders ending in {label} / {option};
     *                 for objective mlm a built-in masked-LM template name or a pattern with one {@code <mask>} /
     *                 {@code [MASK]}
     * @param verbalizer label → word, for a pattern ending in {label} (or a masked-LM pattern)
     * @param classes  label-sentence: the number of classes
     * @param textColumn  tsv: the text column (default sentence)
     * @param labelColumn tsv: the label column (default label)
     * @param kShot    keep k training examples per class (0: all)
     * @param splits   sizes drawn from the train pool (train, dev, test); absent: use the files as given
     * @param seed     seed of k-shot sampling and splits (default: the run's seed)
     * @param maxExamples text: at most this many training chunks (0: all)
     * @param verbalizerFirstToken objective mlm: score a label word of several tokens by its first token (default
     *                 false: such a word is refused)
     * @param kShotPartial k_shot: a class with fewer than k examples keeps all of them (default false: an error)
     */
    public record Data(
            @Required @Choice(Format.class) String format,
            @Required("the training file or files") List<String> train,
            List<String> dev,
            List<String> test,
            String task,
            String template,
            Map<String, String> verbalizer,
            Integer classes,
            String textColumn,
            String labelColumn,
            @Default("0") @AtLeast(0) Integer kShot,
            Splits splits,
            Long seed,
            @Default("0") @AtLeast(0) Integer maxExamples,
            @Default("false") Boolean verbalizerFirstToken,
            @Default("false") Boolean kShotPartial) {

        /** How the data files are read (key data.format). */
        public enum Format { JSONL, SST2, TSV, LABEL_SENTENCE, SUPERGLUE, KSHOT, TEXT, NLI_JSON }

        public Data {
            // a YAML/JSON list with an empty entry (train: [a, null]) ended in a NullPointerException
            for (var e : java.util.Map.of("train", train == null ? List.<String>of() : train,
                    "dev", dev == null ? List.<String>of() : dev, "test", test == null ? List.<String>of() : test)
                    .entrySet()) {
                if (e.getValue().stream().anyMatch(java.util.Objects::isNull)) {
                    throw new ZotuneException("key 'data." + e.getKey() + "' holds an empty entry: name a file");
                }
            }
            train = List.copyOf(train);
            dev = dev == null ? List.of() : List.copyOf(dev);
            test = test == null ? List.of() : List.copyOf(test);
            if (!format.equals("text") && !format.equals("jsonl") && template == null) {
                throw new ZotuneException("key 'data.template' is required for data.format " + format
                        + " (a built-in template name or a pattern ending in {label} / {option})");
            }
        }

        public Format formatKind() {
            return RecordBinder.choice(Format.class, format);
        }
    }

    /**
     * Data-parallel training (key parallel, ALGORITHMS.md §10): each micro-batch is split by examples over
     * {@code workers} replicas that hold the same θ; their loss sums are added (in rank order) so every replica forms
     * the same g and applies the same update. Today the workers are CPU replicas in one process.
     *
     * @param workers       replicas (1: no data parallelism)
     * @param split         what the workers divide: batch (each micro-batch's examples) or samples (each step's q
     *                      SPSA samples, every worker on the whole batch)
     * @param checksumEvery compare the replicas' parameter checksums every N steps (0: only at checkpoints and at the
     *                      end)
     * @param workerTimeout seconds a worker waits for the others at a collective before the run stops, naming the
     *                      worker that did not arrive
     * @param gpus          GPU replicas (1: one GPU; N: one CUDA engine on each of the devices 0 … N − 1, their loss
     *                      sums all-reduced through NCCL; device cuda, split batch)
     * @param worldSize     processes of a run over several processes or hosts, one GPU each (1: this process alone);
     *                      absent: 1, or the environment's WORLD_SIZE with init {@code env://}
     * @param rank          this process's rank, 0 … world_size − 1 (rank 0 writes the run folder); absent: 0, or RANK
     *                      with init {@code env://}
     * @param localRank     this process's GPU among the visible ones (absent: LOCAL_RANK with init {@code env://},
     *                      else rank modulo the visible GPUs)
     * @param init          how the processes find each other ({@link org.zotune.parallel.ProcessLaunch}):
     *                      {@code file:///shared/path}, {@code tcp://host:port}, or {@code env://} (RANK, WORLD_SIZE,
     *                      LOCAL_RANK, MASTER_ADDR, MASTER_PORT; resolved when the config is read)
     */
    public record Parallel(
            @Default("1") @AtLeast(1) Integer workers,
            @Default("batch") @Choice(DataParallelEngine.Split.class) String split,
            @Default("100") @AtLeast(0) Integer checksumEvery,
            @Default("600") @Positive Double workerTimeout,
            @Default("1") @AtLeast(1) Integer gpus,
            @AtLeast(1) Integer worldSize,
            @AtLeast(0) Integer rank,
            @AtLeast(0) Integer localRank,
            String init) {

        /** The keys that differ between the processes of one run (not compared on --resume). */
        public static final java.util.Set<String> PER_PROCESS = java.util.Set.of("parallel.rank",
                "parallel.local_rank", "parallel.init");

        public Parallel {
            org.zotune.parallel.ProcessLaunch.Resolved r = org.zotune.parallel.ProcessLaunch.resolve(worldSize, rank,
                    localRank, init, System.getenv());
            worldSize = r.worldSize();
            rank = r.rank();
            localRank = r.localRank();
            init = r.init();
            if (worldSize > 1 && workers != null && workers > 1) {
                throw new ZotuneException("parallel.world_size " + worldSize + " and parallel.workers " + workers
                        + ": a process of a run over several processes drives one GPU; use parallel.workers 1");
            }
            if (worldSize > 1 && gpus != null && gpus > 1) {
                throw new ZotuneException("parallel.world_size " + worldSize + " and parallel.gpus " + gpus
                        + ": a process of a run over several processes drives one GPU; use parallel.gpus 1 (one "
                        + "process per GPU)");
            }
            // below a millisecond no collective can complete, and the message would read "0.0 s"
            if (workerTimeout != null && workerTimeout < 1e-3) {
                throw new ZotuneException("key 'parallel.worker_timeout' must be at least 0.001 (seconds), got "
                        + workerTimeout);
            }
        }

        public DataParallelEngine.Split splitKind() {
            return RecordBinder.choice(DataParallelEngine.Split.class, split);
        }
    }

    /**
     * Which weights train (key peft, ALGORITHMS.md §9).
     *
     * @param method  full (every weight, the default), lora (W' = W + (alpha/r)·B·A on the targets) or prefix
     *                (trainable keys and values prepended to every attention layer's, CPU engine)
     * @param r       lora: the rank
     * @param alpha   lora: the scale numerator (the update is scaled by alpha / r)
     * @param targets lora: the adapted modules, short names (q, k, v, o, up, down, gate, fc1, fc2) or Hugging Face
     *                module names (default q and v, as MeZO); checked against the model's architecture
     * @param tokens  prefix: trainable key/value vectors per attention layer (p; p + max_length must fit the model's
     *                positions)
     * @param merge   lora: also write the merged full weights W + (alpha/r)·B·A to model/ (and best/)
     */
    public record Peft(
            @Default("full") @Choice(Method.class) String method,
            @Default("8") @AtLeast(1) Integer r,
            @Default("16") @Positive Double alpha,
            List<String> targets,
            @Default("5") @AtLeast(1) Integer tokens,
            @Default("false") Boolean merge) {

        /** The parameter-efficient methods (key peft.method). */
        public enum Method { FULL, LORA, PREFIX }

        public Peft {
            if (targets != null && targets.stream().anyMatch(java.util.Objects::isNull)) {
                throw new ZotuneException("key 'peft.targets' holds an empty entry: name a module (e.g. [q, v])");
            }
            targets = targets == null ? List.of("q", "v") : List.copyOf(targets);
            if (targets.isEmpty()) {
                throw new ZotuneException("key 'peft.targets' is empty: name at least one module (e.g. [q, v])");
            }
            if ("lora".equals(method) && alpha != null && r != null && r > 0) {
                org.zotune.peft.Lora.requireScale("key 'peft.alpha'", alpha, r);
            }
            if (merge != null && merge && !method.equals("lora")) {
                throw new ZotuneException("key 'peft.merge' merges LoRA adapters into the weights: it needs "
                        + "peft.method lora (full fine-tuning writes full weights anyway; a prefix has no weights "
                        + "to merge into)");
            }
        }

        public Method methodKind() {
            return RecordBinder.choice(Method.class, method);
        }
    }

    /** Sizes drawn (seeded, without overlap) from the train pool. */
    public record Splits(
            @Default("0") @AtLeast(1) Integer train,
            @Default("0") @AtLeast(0) Integer dev,
            @Default("0") @AtLeast(0) Integer test) {
    }

    /**
     * The ZO optimiser.
     *
     * @param name        zo-sgd, zo-sgd-mmt, zo-adam or zo-adamu
     * @param lr          the peak learning rate
     * @param schedule    constant or linear (decay to 0 over the run)
     * @param weightDecay λ
     * @param momentum    zo-sgd-mmt's μ
     * @param beta1       zo-adam's β1
     * @param beta2       zo-adam's β2
     * @param epsilon     zo-adam's ε
     * @param sigma       zo-adamu's σ
     * @param noise       zo-sgd's direction distribution: gaussian or rademacher
     * @param t1          zo-adamu phase boundary T1 (default min(1024, 5% of steps))
     * @param t2          zo-adamu T2 (default 80% of steps)
     * @param t3          zo-adamu T3 (default steps)
     * @param stateDtype  storage of the optimiser state m (and v): f32 (default), bf16 or f16; values are
     *                    computed in float32 and rounded to nearest even when stored (zo-sgd has no state)
     */
    public record Optimizer(
            @Default("zo-sgd") @Choice(Name.class) String name,
            @NonNegative Double lr,
            @Default("constant") @Choice(Schedule.class) String schedule,
            @Default("0") @NonNegative Double weightDecay,
            @Default("0.9") @NonNegative Double momentum,
            @Default("0.9") @NonNegative Double beta1,
            @Default("0.999") @NonNegative Double beta2,
            @Default("1.0e-8") @Positive Double epsilon,
            @Default("1.0e-8") @Positive Double sigma,
            @Default("gaussian") @Choice(NoiseKind.class) String noise,
            Long t1,
            Long t2,
            Long t3,
            @Default("f32") @Choice(Precision.class) String stateDtype) {

        /** The optimisers (key optimizer.name). */
        public enum Name { ZO_SGD, ZO_SGD_MMT, ZO_ADAM, ZO_ADAMU }

        /** The learning-rate schedules (key optimizer.schedule). */
        public enum Schedule { CONSTANT, LINEAR }

        /** zo-sgd's direction distributions (key optimizer.noise). */
        public enum NoiseKind {
            GAUSSIAN, RADEMACHER;

            public Noise.Distribution distribution() {
                return this == GAUSSIAN ? Noise.Distribution.GAUSSIAN : Noise.Distribution.RADEMACHER;
            }
        }

        public Optimizer {
            if (lr == null) {
                lr = switch (name) {
                    case "zo-adamu" -> 1e-4;
                    case "zo-adam" -> 1e-4;
                    default -> 1e-6;
                };
            }
        }

        public Name kind() {
            return RecordBinder.choice(Name.class, name);
        }

        public Schedule scheduleKind() {
            return RecordBinder.choice(Schedule.class, schedule);
        }

        public NoiseKind noiseKind() {
            return RecordBinder.choice(NoiseKind.class, noise);
        }

        /** The storage type of the optimiser state. */
        public DType stateDType() {
            return RecordBinder.choice(Precision.class, stateDtype).dtype();
        }

        public LrSchedule lrSchedule(long steps) {
            return scheduleKind() == Schedule.LINEAR ? LrSchedule.linear(lr, steps) : LrSchedule.constant(lr);
        }

        /** The optimiser's validated configuration record. */
        public ZoOptimizerConfig referenceConfig(long steps) {
            LrSchedule s = lrSchedule(steps);
            return switch (name) {
                case "zo-sgd" -> new ZoSgd.Config(s, weightDecay, Noise.Distribution.parse(noise));
                case "zo-sgd-mmt" -> new ZoSgdMomentum.Config(s, momentum, weightDecay, stateDType());
                case "zo-adam" -> new ZoAdam.Config(s, beta1, beta2, epsilon, weightDecay, stateDType());
                case "zo-adamu" -> {
                    AdaMuSchedule d = AdaMuSchedule.defaults(steps);
                    AdaMuSchedule a = d.withPhases(t1 != null ? t1 : d.t1(), t2 != null ? t2 : d.t2(),
                            t3 != null ? t3 : d.t3());
                    yield new ZoAdaMu.Config(s, a, sigma, weightDecay, stateDType());
                }
                default -> throw new AssertionError(name);
            };
        }
    }

    /**
     * The DFO-LoRA search (key dfo, ALGORITHMS.md §7), read when method is dfo. What needs the model (rank against
     * the hidden size, targets against the architecture, the budget against the layers) is checked when it is
     * loaded ({@link org.zotune.dfo.run.DfoTrainer}).
     *
     * @param optimizer  cma (C-LoRA), fwa (F-LoRA) or alternate (the article's: CMA-ES and Fireworks alternate at
     *                   each visit of a layer, a visit being one generation of it)
     * @param subspace   D, the dimension of each layer's subspace point; split into one block per factor (A and B of
     *                   each target), so divisible by 2 × the number of targets (4 for [q, k])
     * @param rank       r of the low-rank factors (at most the hidden size)
     * @param targets    the adapted attention projections: q, k (default both)
     * @param population λ, candidates per generation (>= 2)
     * @param sigma0     the optimisers' initial step size σ0 (> 0); it also scales the A maps (§7)
     * @param budget     forward evaluations in all (λ per generation), at least one generation
     * @param schedule   layers (each layer budget/(λ·L) generations in turn, the public code's) or rounds (one
     *                   generation per layer per round, cycling)
     * @param covariance CMA-ES's covariance: separable (default: at D = 500, λ = 20 it reached lower values than full
     *                   within 8000 evaluations on sphere and ellipsoid at ~1/120 of the time per generation;
     *                   benchmarks/RESULTS.md) or full
     * @param alpha      α of the A maps' scale s_l = α·σ̂_l/(sqrt(D)·σ0)
     * @param fireworks  Fireworks constants overriding its defaults, by the names of {@link #FIREWORKS_KEYS}
     */
    public record Dfo(
            @Default("alternate") @Choice(org.zotune.dfo.DfoSearch.Method.class) String optimizer,
            @Default("500") @AtLeast(1) Integer subspace,
            @Default("4") @AtLeast(1) Integer rank,
            List<String> targets,
            @Default("20") @AtLeast(2) Integer population,
            @Default("1") @Positive Double sigma0,
            @Default("8000") @AtLeast(1) Long budget,
            @Default("layers") @Choice(org.zotune.dfo.DfoSearch.Schedule.class) String schedule,
            @Default("separable") @Choice(Covariance.class) String covariance,
            @Default("1") @Positive Double alpha,
            @Default("{}") Map<String, Double> fireworks) {

        /** CMA-ES's covariance model (key dfo.covariance). */
        public enum Covariance { FULL, SEPARABLE }

        /**
         * The Fireworks constants a run may set (key dfo.fireworks; {@link Fireworks.Settings}, ALGORITHMS.md §7), each
         * with what it must be: amplitude_up and amplitude_down, the amplitude's factors after an improving / a failed
         * generation (1.2, 0.9); mutation_fraction, the share of Gaussian mutation sparks (0.2); amplitude_per_sigma,
         * A₀ / sigma0 (√3: a first-generation coordinate has standard deviation sigma0); mutation_scale (1);
         * min_amplitude_ratio, the amplitude's floor as a fraction of A₀ (1e-8); bound, the box |z_i| <= bound
         * (default: unbounded). Absent keys keep the defaults.
         */
        public static final Map<String, String> FIREWORKS_KEYS = new java.util.TreeMap<>(Map.of(
                "amplitude_up", "a number > 1",
                "amplitude_down", "a number in (0, 1)",
                "mutation_fraction", "a number in [0, 1)",
                "amplitude_per_sigma", "a number > 0",
                "mutation_scale", "a number > 0",
                "min_amplitude_ratio", "a number in (0, 1]",
                "bound", "a number > 0"));

        /** The Fireworks settings of this section: {@link Fireworks.Settings#DEFAULTS} with its overrides. */
        public Fireworks.Settings fireworksSettings() {
            Fireworks.Settings d = Fireworks.Settings.DEFAULTS;
            Fireworks.Settings s = new Fireworks.Settings(
                    fireworks.getOrDefault("mutation_fraction", d.mutationFraction()),
                    fireworks.getOrDefault("amplitude_up", d.amplitudeUp()),
                    fireworks.getOrDefault("amplitude_down", d.amplitudeDown()),
                    fireworks.getOrDefault("amplitude_per_sigma", d.amplitudePerSigma()),
                    fireworks.getOrDefault("mutation_scale", d.mutationScale()),
                    fireworks.getOrDefault("min_amplitude_ratio", d.minAmplitudeRatio()), d.lower(), d.upper());
            Double bound = fireworks.get("bound");
            return bound == null ? s : s.withBounds(-bound, bound);
        }

        public Dfo {
            if (targets != null && targets.stream().anyMatch(java.util.Objects::isNull)) {
                throw new ZotuneException("key 'dfo.targets' holds an empty entry: name a module (e.g. [q, k])");
            }
            targets = targets == null ? List.of("q", "k") : List.copyOf(targets);
            if (targets.isEmpty()) {
                throw new ZotuneException("key 'dfo.targets' is empty: name at least one module (e.g. [q, k])");
            }
            if (new java.util.HashSet<>(targets).size() != targets.size()) {
                throw new ZotuneException("key 'dfo.targets' names a module twice: " + targets);
            }
            int blocks = 2 * targets.size();
            if (subspace % blocks != 0) {
                throw new ZotuneException("key 'dfo.subspace': " + subspace + " is not divisible by " + blocks
                        + " (one block per factor: A and B of each of the targets " + targets + ")");
            }
            if (budget < population) {
                throw new ZotuneException("key 'dfo.budget': " + budget + " is smaller than one generation (population "
                        + population + ")");
            }
            fireworks = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(fireworks));
            for (Map.Entry<String, Double> e : fireworks.entrySet()) {
                String key = "dfo.fireworks." + e.getKey();
                String rule = FIREWORKS_KEYS.get(e.getKey());
                if (rule == null) {
                    throw new ZotuneException("unknown key '" + key + "' (valid keys in 'dfo.fireworks': "
                            + String.join(", ", FIREWORKS_KEYS.keySet()) + ")");
                }
                Double v = e.getValue();
                boolean ok = v != null && Double.isFinite(v) && switch (e.getKey()) {
                    case "amplitude_up" -> v > 1;
                    case "amplitude_down" -> v > 0 && v < 1;
                    case "mutation_fraction" -> v >= 0 && v < 1;
                    case "min_amplitude_ratio" -> v > 0 && v <= 1;
                    default -> v > 0;
                };
                if (!ok) {
                    throw new ZotuneException("key '" + key + "' must be " + rule + ", got " + v);
                }
            }
        }

        public org.zotune.dfo.DfoSearch.Method optimizerKind() {
            return RecordBinder.choice(org.zotune.dfo.DfoSearch.Method.class, optimizer);
        }

        public org.zotune.dfo.DfoSearch.Schedule scheduleKind() {
            return RecordBinder.choice(org.zotune.dfo.DfoSearch.Schedule.class, schedule);
        }

        /** Whether CMA-ES keeps a diagonal covariance. */
        public boolean separable() {
            return RecordBinder.choice(Covariance.class, covariance) == Covariance.SEPARABLE;
        }
    }

    public Method methodKind() {
        return RecordBinder.choice(Method.class, method);
    }

    public ObjectiveKind objectiveKind() {
        return RecordBinder.choice(ObjectiveKind.class, objective);
    }

    public Metric metricKind() {
        return RecordBinder.choice(Metric.class, metric);
    }

    public Device deviceKind() {
        return RecordBinder.choice(Device.class, device);
    }

    public DType paramDType() {
        return RecordBinder.choice(Precision.class, dtype).dtype();
    }

    public PerturbationStrategy strategy() {
        return RecordBinder.choice(Perturbation.class, perturbation).strategy();
    }

    public NoiseSetting noiseSetting() {
        return RecordBinder.choice(NoiseSetting.class, noise);
    }

    /**
     * The noise variant this run's engine takes: auto is fast on the CUDA engine and exact on the CPU engine; fast
     * on the CPU engine is a one-line error (the CPU has the exact reference only).
     *
     * @param cudaEngine whether the run trains on the CUDA engine
     */
    public NoiseVariant noiseVariant(boolean cudaEngine) {
        return switch (noiseSetting()) {
            case EXACT -> NoiseVariant.EXACT;
            case AUTO -> cudaEngine ? NoiseVariant.FAST : NoiseVariant.EXACT;
            case FAST -> {
                if (!cudaEngine) {
                    throw new ZotuneException("key 'noise': fast is the CUDA engine's noise, and this run trains on "
                            + "the CPU engine (device " + device + "), which has the exact noise only; use noise "
                            + "exact or auto");
                }
                yield NoiseVariant.FAST;
            }
        };
    }

    /** This config with key noise set to {@code v} (the resolved variant a run records). */
    public TrainConfig withNoise(NoiseVariant v) {
        ObjectNode json = (ObjectNode) toJson();
        json.put("noise", v.name().toLowerCase(java.util.Locale.ROOT));
        return RecordBinder.bind("config", json, TrainConfig.class);
    }

    /**
     * The length buckets of this run's training batches (key pad_multiple, resolved for the engine: auto is
     * {@link LengthBuckets#autoMultiple} on the CUDA engine, 1 on the CPU engine), at most max_length and
     * {@code positions} (the model's).
     */
    public LengthBuckets lengthBuckets(boolean cudaEngine, int positions) {
        return new LengthBuckets(padMultiple(cudaEngine), Math.max(1, Math.min(maxLength, positions)));
    }

    /** Key pad_multiple resolved for the engine the run trains on (auto: see {@link #lengthBuckets}). */
    public int padMultiple(boolean cudaEngine) {
        if (padMultiple != 0) {
            return padMultiple;
        }
        return cudaEngine && methodKind() == Method.ZO ? LengthBuckets.autoMultiple(maxLength) : 1;
    }

    /** This config with key pad_multiple set to {@code multiple} (the resolved value a run records). */
    public TrainConfig withPadMultiple(int multiple) {
        ObjectNode json = (ObjectNode) toJson();
        json.put("pad_multiple", multiple);
        return RecordBinder.bind("config", json, TrainConfig.class);
    }

    /** The run folder. */
    public Path outDir() {
        return Path.of(out);
    }

    // ---- reading ----

    /** Duplicate keys are an error (YAML and JSON would keep the last, silently). */
    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** Reads {@code file} and applies {@code overrides} ({@code dotted.key=value}, values in YAML syntax). */
    public static TrainConfig read(Path file, List<String> overrides) {
        if (!Files.isRegularFile(file)) {
            throw new ZotuneException("config " + file + " does not exist or is not a file");
        }
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ZotuneException("config " + file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(file.toString(), text, overrides);
    }

    /** Parses YAML text ({@code source} names it in messages) and applies the overrides. */
    public static TrainConfig parse(String source, String yaml, List<String> overrides) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw yamlError(source, e);
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            root = YAML.createObjectNode();
        }
        if (!root.isObject()) {
            throw new ZotuneException(source + ": expected a mapping of keys (model, data, optimizer, ...)");
        }
        ObjectNode obj = (ObjectNode) root;
        for (String o : overrides) {
            applyOverride(source, obj, o);
        }
        return RecordBinder.bind(source, obj, TrainConfig.class);
    }

    /** {@code a.b.c=value}: sets the key, creating mappings on the way; the value is read as a YAML scalar/flow. */
    static void applyOverride(String source, ObjectNode root, String override) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ZotuneException("override '" + override + "': expected key=value (e.g. optimizer.lr=1e-4)");
        }
        String key = override.substring(0, eq).trim();
        String raw = override.substring(eq + 1);
        JsonNode value;
        try {
            value = raw.isEmpty() ? YAML.nullNode() : YAML.readTree(raw);
        } catch (JsonProcessingException e) {
            throw new ZotuneException("override '" + override + "': " + yamlError("value", e).getMessage());
        }
        if (value == null || value.isMissingNode()) {
            value = YAML.nullNode();
        }
        String[] path = key.split("\\.");
        ObjectNode node = root;
        for (int i = 0; i < path.length - 1; i++) {
            JsonNode child = node.get(path[i]);
            if (child == null || child.isNull()) {
                child = node.putObject(path[i]);
            } else if (!child.isObject()) {
                throw new ZotuneException("override '" + override + "': key '" + String.join(".",
                        java.util.Arrays.copyOf(path, i + 1)) + "' is not a mapping");
            }
            node = (ObjectNode) child;
        }
        node.set(path[path.length - 1], value);
    }

    /** The config as JSON (every key, defaults filled in): stored in the run folder to recognise the run. */
    public JsonNode toJson() {
        return JSON.valueToTree(this);
    }

    public String toJsonString() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads back {@link #toJsonString()} (a recorded config: run.json, a trajectory's header); one without key noise
     * was recorded before it and ran with the exact noise ({@link #RECORDED_NOISE_DEFAULT}), one without key
     * pad_multiple with each batch padded to its longest row ({@link #RECORDED_PAD_MULTIPLE_DEFAULT}).
     */
    public static TrainConfig fromJson(String source, String json) {
        try {
            JsonNode tree = JSON.readTree(json);
            if (tree instanceof ObjectNode o && !o.has("noise")) {
                o.put("noise", RECORDED_NOISE_DEFAULT);
            }
            if (tree instanceof ObjectNode o && !o.has("pad_multiple")) {
                o.put("pad_multiple", RECORDED_PAD_MULTIPLE_DEFAULT);
            }
            return RecordBinder.bind(source, tree, TrainConfig.class);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": not valid JSON: " + firstLine(e.getOriginalMessage()));
        }
    }

    /** The YAML parser's error in one line; .nan and .inf are valid YAML, just not values zotune takes. */
    private static ZotuneException yamlError(String source, JsonProcessingException e) {
        String m = firstLine(e.getOriginalMessage());
        String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")";
        if (m.matches("(?i)Malformed numeric value '[-+]?\\.(nan|inf)'.*")) {
            return new ZotuneException(source + where + ": " + m.substring(m.indexOf('\'')).replaceAll("'(.*?)'.*", "$1")
                    + " is not a finite number; zotune takes finite numbers only");
        }
        if (m.startsWith("Duplicate field")) {
            return new ZotuneException(source + where + ": " + m.replace("Duplicate field", "duplicate key"));
        }
        return new ZotuneException(source + ": not valid YAML: " + m);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
