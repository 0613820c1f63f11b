package org.zotune.dfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.IntTensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.peft.RowGroupDeltas;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CandidateChoices;
import org.zotune.train.objective.ChoiceScorer;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.LabelSimilarity;
import org.zotune.train.objective.MaskedChoices;
import org.zotune.train.objective.Metrics;
import org.zotune.train.objective.NegativeAccuracy;
import org.zotune.train.objective.Objective;
import org.zotune.train.objective.OptionScores;
import org.zotune.train.objective.PooledChoices;
import org.zotune.zo.cuda.DeviceLoss;

/**
 * A generation's losses in ONE forward pass (ALGORITHMS.md §7): the batch is the k-shot training set repeated λ
 * times; member i's query/key low-rank update x·A_iᵀ·B_iᵀ is added to the q/k projection outputs of its own rows
 * (per-member products on the shared frozen base, {@link RowGroupDeltas}; never λ merged weight copies); the other
 * layers' current points apply to every row; the objective's loss is reduced per member, in float32 as
 * {@link Objective#loss} returns it. Written against {@link Ops}, so any backend runs it.
 *
 * <p>Objectives: the masked-LM prompt (and any {@link ChoiceScorer} scoring one row per example from the batch's own
 * rows), label similarity (each member encodes its own copy of the examples and the label descriptions,
 * {@link LabelSimilarity#joint}), prompt classification and −accuracy over candidate rows ({@link OptionScores}), and
 * any objective that is a token cross-entropy ({@link Objective#tokenTargets}, the causal LM loss).
 *
 * <p>The layers below the searched one run once per generation over one member's rows ({@link SharedLayers}, for
 * models that split: {@link org.zotune.model.LayerSplit}); a decoder's large LM head runs only at the answer positions
 * on the device ({@link AnswerRows}, {@link #ANSWER_HEAD_MIN}); a generation whose tensors would pass 2^31 elements is refused in one line
 * ({@link PopulationSizes}). The factors are in the backend's compute type (float32, or bf16 / f16 rounded once).
 *
 * <p>On the CUDA backend (any compute type) a generation is one captured CUDA graph with the losses reduced on the device
 * ({@link DeviceGeneration}: one copy of the packed factors in, λ (value, count) pairs out), for every objective above
 * that describes its loss for the device ({@link Objective#tokenTargets}, {@link Objective#candidateChoices},
 * {@link Objective#maskedChoices}, {@link Objective#pooledChoices} within {@link DeviceLoss.Pooled#fits}); the
 * others, the CPU, and {@code -Dzotune.dfo.graph=false} run the eager generation: the factors uploaded as fresh
 * parameters, the forward launched op by op, the losses reduced on the host. The CUDA path holds device memory:
 * close the population before its backend.
 */
public final class BatchedPopulation implements PopulationLoss, AutoCloseable {
    /**
     * Logits (λ × positions × vocabulary) from which a decoder's device generation computes the LM head at the answer
     * positions only ({@link AnswerRows}): the loss reads nothing else, and at GPT-2 large's shape the full logits
     * (4.1e9 elements) pass 2^31. Smaller heads keep the full logits, bitwise the eager generation's.
     */
    static final long ANSWER_HEAD_MIN = 1L << 26;

    /** The system property that turns the captured generation off ({@code false}) on CUDA. */
    public static final String GRAPH_PROPERTY = "zotune.dfo.graph";

    /** How a generation runs. */
    enum Mode {
        /** One captured CUDA graph per generation key, losses reduced on the device. */
        GRAPH,
        /** The same device work and reductions launched op by op, never captured (tests compare it with GRAPH). */
        DEVICE,
        /** The factors uploaded as parameters, the forward op by op, the losses reduced on the host (any backend). */
        EAGER
    }

    private final Ops ops;
    private final LanguageModel model;
    private final LanguageModel shared; // the model as the population's forwards run it (SharedLayers)
    private final WeightSource base;
    private final Objective objective;
    private final PromptBatch train;
    private final Subspace subspace;
    private final int[] tokenTargets; // the causal LM loss's targets over the training set, or null
    private final int memberTokens;
    private final int memberSeq; // tokens per row of a member's batch
    private int answerRows = -1; // a candidate batch's answer positions per member, once known
    private long answerHeadMin = ANSWER_HEAD_MIN;
    private PromptBatch repeated; // the training set repeated λ times, for the last λ
    private final Mode mode;
    private final String eagerWhy; // why generations are eager, or null
    private DeviceGeneration device; // the CUDA generation (GRAPH, DEVICE), made at the first generation
    private DeviceGeneration.Reduction reduction; // its forward and reductions for reductionLambda members
    private int reductionLambda;

    /**
     * @param base     the frozen model's weights
     * @param train    the whole k-shot training set as one batch
     * @param subspace the per-layer maps of this model's query and key projections
     */
    public BatchedPopulation(Ops ops, LanguageModel model, WeightSource base, Objective objective, PromptBatch train,
            Subspace subspace) {
        this(ops, model, base, objective, train, subspace, graphsEnabled() ? Mode.GRAPH : Mode.EAGER);
    }

    /**
     * @param wanted GRAPH or DEVICE where the backend and the objective allow it (CUDA, a device
     *               reduction), else EAGER
     */
    BatchedPopulation(Ops ops, LanguageModel model, WeightSource base, Objective objective, PromptBatch train,
            Subspace subspace, Mode wanted) {
        this.ops = ops;
        this.model = model;
        this.shared = SharedLayers.wrap(model);
        this.base = base;
        this.objective = objective;
        this.train = train;
        this.subspace = subspace;
        if (subspace.layers() != model.config().numLayers()) {
            throw new IllegalArgumentException("a subspace of " + subspace.layers() + " layers for a model of "
                    + model.config().numLayers());
        }
        // a member's tokens: its copy of the training set's rows (and, for label similarity, of the descriptions')
        this.memberTokens = objective instanceof LabelSimilarity sim ? sim.joint(train, 1).tokens()
                : train.batch().tokens();
        this.memberSeq = objective instanceof LabelSimilarity sim ? sim.joint(train, 1).seq() : train.batch().seq();
        if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy
                || objective instanceof ChoiceScorer) {
            this.tokenTargets = null;
        } else {
            Optional<int[]> t = objective.tokenTargets(model, train);
            if (t.isEmpty()) {
                throw new ZotuneException("objective " + objective.name() + " is not batched over a DFO population; "
                        + "use mlm, similarity, classification, accuracy or lm");
            }
            this.tokenTargets = t.get();
        }
        String why = wanted == Mode.EAGER ? "-D" + GRAPH_PROPERTY + "=false" : !(ops instanceof CudaOps)
                ? "backend " + ops.name() : deviceReduction() ? null
                : "objective " + objective.name() + " reduces on the host";
        this.eagerWhy = why;
        this.mode = why == null ? wanted : Mode.EAGER;
    }

    /** {@code -Dzotune.dfo.graph}: true (default) or false; anything else is refused in one line. */
    public static boolean graphsEnabled() {
        String v = System.getProperty(GRAPH_PROPERTY, "true").trim();
        if (v.equalsIgnoreCase("true")) {
            return true;
        }
        if (v.equalsIgnoreCase("false")) {
            return false;
        }
        throw new ZotuneException("system property " + GRAPH_PROPERTY + " must be true or false, got '" + v + "'");
    }

    /** How generations run, for the run's log: captured CUDA graphs, or eager and why. */
    public String generations() {
        return switch (mode) {
            case GRAPH -> "generations captured as CUDA graphs (losses reduced on the device)";
            case DEVICE -> "generations uncaptured (losses reduced on the device)";
            case EAGER -> "generations eager (" + eagerWhy + ")";
        };
    }

    Mode mode() {
        return mode;
    }

    /** The CUDA generation (null before the first one, or when eager). */
    DeviceGeneration device() {
        return device;
    }

    /** Whether the objective's loss has a per-member device reduction here (see the class comment). */
    boolean deviceReduction() {
        try {
            return hasDeviceReduction();
        } catch (ZotuneException e) {
            return false; // a batch the description refuses: the eager generation says why, as before
        }
    }

    private boolean hasDeviceReduction() {
        if (objective instanceof LabelSimilarity || objective instanceof ChoiceScorer
                && !(objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy)) {
            if (objective.maskedChoices(model, train).isPresent()) {
                return true;
            }
            Optional<PooledChoices> p = objective.pooledChoices(model, train);
            return p.isPresent() && DeviceLoss.Pooled.fits(p.get().exampleRows().length, p.get().labels());
        }
        if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy) {
            return objective.candidateChoices(model, train).isPresent();
        }
        return tokenTargets != null;
    }

    @Override
    public int layers() {
        return subspace.layers();
    }

    @Override
    public int dimension() {
        return subspace.dimension();
    }

    @Override
    public double[] losses(int layer, double[][] candidates, double[][] current) {
        int lambda = candidates.length;
        if (layer < 0 || layer >= layers()) {
            throw new IllegalArgumentException("layer " + layer + " of " + layers());
        }
        if (lambda < 1 || current.length != layers()) {
            throw new IllegalArgumentException(lambda + " candidates, " + current.length + " current points for "
                    + layers() + " layers");
        }
        for (int l = 0; l < layers(); l++) {
            if (l != layer && current[l].length != dimension()) {
                throw new IllegalArgumentException("layer " + l + "'s current point has " + current[l].length
                        + " values, the subspace " + dimension());
            }
        }
        PopulationSizes.check(model.config(), lambda, memberTokens, memberSeq, headRows(lambda));
        GenerationFactors g = GenerationFactors.of(subspace, layer, candidates, current, memberTokens);
        if (mode != Mode.EAGER) {
            return deviceLosses(g, lambda);
        }
        List<HostTensor> host = new ArrayList<>();
        for (int s = 0; s < g.slots().size(); s++) {
            GenerationFactors.Slot slot = g.slots().get(s);
            host.add(HostTensor.ofFloats("a", g.a(s), slot.rank(), slot.in()));
            host.add(HostTensor.ofFloats("b", g.b(s), slot.out(), slot.rank()));
        }
        try (Parameters factors = ops.createParameters(host, ops.computeType())) {
            return reduce(SharedLayers.weights(base, g, memberTokens, s -> factors.weight(2 * s),
                    s -> factors.weight(2 * s + 1)), lambda);
        }
    }

    /**
     * Rows of one member the LM head runs on: the answer positions (device reduction of a decoder), the mask rows
     * (masked-LM prompt), none (pooled objectives), else every position.
     */
    private int headRows(int lambda) {
        if (objective instanceof LabelSimilarity) {
            return 0;
        }
        if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy) {
            if (!answerHead(lambda)) {
                return memberTokens;
            }
            if (answerRows < 0) {
                answerRows = AnswerRows.of(objective.candidateChoices(model, train).orElseThrow().targets(),
                        train.batch().seq()).positions().length;
            }
            return answerRows;
        }
        if (objective instanceof ChoiceScorer) {
            Optional<MaskedChoices> masked = objective.maskedChoices(model, train);
            return masked.isPresent() ? masked.get().rows().length : 0;
        }
        return memberTokens;
    }

    /** Whether a device generation of λ members computes a decoder's LM head at the answer positions only. */
    private boolean answerHead(int lambda) {
        return mode != Mode.EAGER && shared instanceof SharedLayers.Decoder
                && (long) lambda * memberTokens * model.config().vocabSize() >= answerHeadMin;
    }

    /** Tests: the answer-position head at every size (before the first generation). */
    void answerHeadAlways() {
        answerHeadMin = 0;
    }

    /** A generation on CUDA: the λ device pairs, each member's loss their quotient as the eager path divides. */
    private double[] deviceLosses(GenerationFactors g, int lambda) {
        if (device == null) {
            device = new DeviceGeneration((CudaOps) ops, base, mode == Mode.GRAPH);
        }
        if (reduction == null || reductionLambda != lambda) {
            reduction = reduction(lambda);
            reductionLambda = lambda;
        }
        float[] pairs = device.pairs(g, lambda, reduction);
        double[] out = new double[lambda];
        for (int i = 0; i < lambda; i++) {
            out[i] = (float) ((double) pairs[2 * i] / pairs[2 * i + 1]);
        }
        return out;
    }

    /**
     * The forward over λ copies of the training set and each member's loss on the device: the same forward as
     * {@link #reduce}, then per member the objective's device loss (native/kernels/choice_loss.cu, cross_entropy.cu)
     * over its own rows, into the pair at out + 8·i.
     */
    DeviceGeneration.Reduction reduction(int lambda) {
        int n = train.examples();
        if (objective instanceof LabelSimilarity || objective instanceof ChoiceScorer
                && !(objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy)) {
            Optional<MaskedChoices> masked = objective.maskedChoices(model, train);
            if (masked.isPresent()) {
                int[] rows = objective.maskedChoices(model, repeated(lambda)).orElseThrow().rows();
                return masked(repeated(lambda).batch(), rows, masked.get(), lambda);
            }
            PooledChoices p = objective.pooledChoices(model, train).orElseThrow();
            Batch b = objective instanceof LabelSimilarity sim ? sim.joint(train, lambda) : repeated(lambda).batch();
            return pooled(b, p, lambda);
        }
        if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy) {
            CandidateChoices member = objective.candidateChoices(model, train).orElseThrow();
            PromptBatch rep = repeated(lambda);
            int[] targets = objective.candidateChoices(model, rep).orElseThrow().targets();
            int rows = train.rows();
            int seq = member.seq();
            int[] meta = new int[3 * n];
            System.arraycopy(member.firstRow(), 0, meta, 0, n);
            System.arraycopy(member.candidates(), 0, meta, n, n);
            System.arraycopy(member.gold(), 0, meta, 2 * n, n);
            int metric = member.metric().ordinal();
            int classes = member.classes();
            AnswerRows answers = answerHead(lambda) ? AnswerRows.of(targets, seq) : null;
            return (ops, cuda, kernels, w, out) -> {
                Tensor logits;
                IntTensor tg;
                int width;
                if (answers != null) { // the head at the answer positions only, k per row
                    logits = ((SharedLayers.Decoder) shared).logitsAt(ops, w, rep.batch(), answers.positions());
                    tg = ops.ints(answers.targets());
                    width = answers.perRow();
                } else {
                    logits = shared.forward(ops, w, rep.batch());
                    tg = ops.ints(targets);
                    width = seq;
                }
                Tensor tokenLoss = cuda.tokenLosses(logits, tg);
                Tensor rowSc = cuda.scratch(lambda * rows, 2);
                kernels.choiceRowSums(CudaTensors.address(tokenLoss), CudaTensors.address(tg),
                        CudaTensors.address(rowSc), lambda * rows, width, cuda.stream());
                IntTensor mt = ops.ints(meta);
                for (int i = 0; i < lambda; i++) {
                    kernels.choiceLoss(CudaTensors.address(rowSc) + 8L * i * rows, CudaTensors.address(mt), n, metric,
                            classes, out + 8L * i, cuda.stream());
                }
            };
        }
        PromptBatch rep = repeated(lambda);
        int m = memberTokens;
        return (ops, cuda, kernels, w, out) -> {
            Tensor logits = shared.forward(ops, w, rep.batch());
            IntTensor tg = ops.ints(tokenTargets);
            for (int i = 0; i < lambda; i++) {
                Tensor ce = cuda.crossEntropy(ops.rows(logits, i * m, (i + 1) * m), tg);
                DeviceBuffer.copy(out + 8L * i, CudaTensors.address(ce), 8, cuda.stream());
            }
        };
    }

    /** The masked-LM prompt: the MLM head at every copy's mask rows, then member i's n rows' loss. */
    private DeviceGeneration.Reduction masked(Batch batch, int[] rows, MaskedChoices member, int lambda) {
        int n = member.rows().length;
        int labels = member.tokens().length;
        int[] meta = new int[labels + n];
        System.arraycopy(member.tokens(), 0, meta, 0, labels);
        System.arraycopy(member.gold(), 0, meta, labels, n);
        EncoderModel e = (EncoderModel) shared;
        return (ops, cuda, kernels, w, out) -> {
            Tensor logits = e.mlmLogits(ops, w, e.hiddenStates(ops, w, batch, null), rows);
            IntTensor mt = ops.ints(meta);
            for (int i = 0; i < lambda; i++) {
                Tensor li = ops.rows(logits, i * n, (i + 1) * n);
                kernels.maskedChoiceLoss(li.dtype(), CudaTensors.address(li), CudaTensors.ld(li),
                        CudaTensors.address(mt), n, labels, out + 8L * i, cuda.stream());
            }
        };
    }

    /**
     * The pooled encoder objectives (label similarity, the head): every copy's rows pooled at once, then member i's
     * scores and loss from its own {@code member.batch()} rows.
     */
    private DeviceGeneration.Reduction pooled(Batch batch, PooledChoices member, int lambda) {
        int perMember = member.batch().batch();
        if (batch.batch() != lambda * perMember || batch.seq() != member.batch().seq()) {
            throw new IllegalStateException("pooled population batch " + batch.batch() + " x " + batch.seq()
                    + " is not " + lambda + " copies of " + perMember + " x " + member.batch().seq());
        }
        int n = member.exampleRows().length;
        int labels = member.labels();
        int h = model.config().hiddenSize();
        boolean pooler = member.pooling() == PooledChoices.Pooling.POOLER;
        int mode = member.pooling() == PooledChoices.Pooling.MEAN ? 0 : 1;
        boolean similarity = member.scoring() == PooledChoices.Scoring.SIMILARITY;
        int[] meta;
        if (similarity) {
            meta = member.gold().clone();
        } else {
            meta = new int[2 * n];
            System.arraycopy(member.exampleRows(), 0, meta, 0, n);
            System.arraycopy(member.gold(), 0, meta, n, n);
        }
        double temperature = member.temperature();
        EncoderModel e = (EncoderModel) shared;
        return (ops, cuda, kernels, w, out) -> {
            Tensor hidden = e.hiddenStates(ops, w, batch, null);
            if (pooler) {
                hidden = e.pooled(ops, w, hidden, batch.seq());
            }
            IntTensor mask = ops.ints(batch.mask());
            int rows = batch.batch();
            Tensor pooled = cuda.scratch(rows * h, 2); // doubles
            long p = CudaTensors.address(pooled);
            kernels.poolRows(hidden.dtype(), CudaTensors.address(hidden), CudaTensors.address(mask),
                    pooler ? 1 : batch.seq(), h, rows, mode, p, cuda.stream());
            IntTensor mt = ops.ints(meta);
            for (int i = 0; i < lambda; i++) {
                long pi = p + 8L * i * perMember * h;
                if (similarity) {
                    kernels.similarityLoss(pi, CudaTensors.address(mt), n, labels, h, temperature, out + 8L * i,
                            cuda.stream());
                } else {
                    Tensor hw = w.weight(member.headWeight());
                    Tensor hb = w.weight(member.headBias());
                    kernels.headLoss(hw.dtype(), pi, CudaTensors.address(hw), CudaTensors.address(hb),
                            CudaTensors.address(mt), n, labels, h, out + 8L * i, cuda.stream());
                }
            }
        };
    }

    /** Frees the CUDA generation's graph and buffers (nothing to free on the eager path). */
    @Override
    public void close() {
        if (device != null) {
            DeviceGeneration d = device;
            device = null;
            d.close();
        }
    }

    /** The per-member losses of one forward over the repeated batch. */
    private double[] reduce(WeightSource w, int lambda) {
        double[] out = new double[lambda];
        int n = train.examples();
        int rows = train.rows();
        if (objective instanceof LabelSimilarity sim) {
            double[][] s = sim.choiceScores(ops, shared, w, train, lambda);
            for (int i = 0; i < lambda; i++) {
                out[i] = (float) ChoiceScorer.crossEntropy(Arrays.copyOfRange(s, i * n, (i + 1) * n), train.gold());
            }
        } else if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy) {
            OptionScores.Scored s = OptionScores.score(ops, shared, w, repeated(lambda));
            for (int i = 0; i < lambda; i++) {
                OptionScores.Scored member = new OptionScores.Scored(
                        Arrays.copyOfRange(s.rowScores(), i * rows, (i + 1) * rows),
                        Arrays.copyOfRange(s.predictions(), i * n, (i + 1) * n));
                out[i] = objective instanceof ClassificationLoss
                        ? (float) OptionScores.classificationLoss(member, train)
                        : (float) -Metrics.accuracy(member.predictions(), train.gold());
            }
        } else if (objective instanceof ChoiceScorer scorer) {
            double[][] s = scorer.choiceScores(ops, shared, w, repeated(lambda));
            for (int i = 0; i < lambda; i++) {
                out[i] = (float) ChoiceScorer.crossEntropy(Arrays.copyOfRange(s, i * n, (i + 1) * n), train.gold());
            }
        } else {
            try (Ops.Scope scope = ops.scope()) {
                Tensor logits = shared.forward(ops, w, repeated(lambda).batch());
                for (int i = 0; i < lambda; i++) {
                    float[] ce = ops.toHost(ops.crossEntropy(
                            ops.rows(logits, i * memberTokens, (i + 1) * memberTokens), ops.ints(tokenTargets)));
                    out[i] = (float) ((double) ce[0] / ce[1]);
                }
            }
        }
        return out;
    }

    /** The training set repeated λ times: member i's rows are i·rows .. (i + 1)·rows − 1, bitwise the set's. */
    private PromptBatch repeated(int lambda) {
        if (repeated != null && repeated.examples() == lambda * train.examples()) {
            return repeated;
        }
        Batch b = train.batch();
        int rows = train.rows();
        int n = train.examples();
        int tokens = b.tokens();
        int[] ids = new int[lambda * tokens];
        int[] mask = new int[lambda * tokens];
        int[] labels = new int[lambda * tokens];
        int[] exampleOfRow = new int[lambda * rows];
        int[] firstRow = new int[lambda * n];
        int[] candidates = new int[lambda * n];
        int[] gold = new int[lambda * n];
        for (int i = 0; i < lambda; i++) {
            System.arraycopy(b.ids(), 0, ids, i * tokens, tokens);
            System.arraycopy(b.mask(), 0, mask, i * tokens, tokens);
            System.arraycopy(train.labels(), 0, labels, i * tokens, tokens);
            for (int r = 0; r < rows; r++) {
                exampleOfRow[i * rows + r] = train.exampleOfRow()[r] + i * n;
            }
            for (int x = 0; x < n; x++) {
                firstRow[i * n + x] = train.firstRow()[x] + i * rows;
                candidates[i * n + x] = train.candidates()[x];
                gold[i * n + x] = train.gold()[x];
            }
        }
        repeated = new PromptBatch(new Batch(lambda * rows, b.seq(), ids, mask), labels, exampleOfRow, firstRow,
                candidates, gold);
        return repeated;
    }
}
