package org.zotune.dfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.Subspace.Factors;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.peft.RowGroupDeltas;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.ChoiceScorer;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.LabelSimilarity;
import org.zotune.train.objective.Metrics;
import org.zotune.train.objective.NegativeAccuracy;
import org.zotune.train.objective.Objective;
import org.zotune.train.objective.OptionScores;

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
 */
public final class BatchedPopulation implements PopulationLoss {
    private final Ops ops;
    private final LanguageModel model;
    private final WeightSource base;
    private final Objective objective;
    private final PromptBatch train;
    private final Subspace subspace;
    private final int[] tokenTargets; // the causal LM loss's targets over the training set, or null
    private final int memberTokens;
    private PromptBatch repeated; // the training set repeated λ times, for the last λ

    /**
     * @param base     the frozen model's weights
     * @param train    the whole k-shot training set as one batch
     * @param subspace the per-layer maps of this model's query and key projections
     */
    public BatchedPopulation(Ops ops, LanguageModel model, WeightSource base, Objective objective, PromptBatch train,
            Subspace subspace) {
        this.ops = ops;
        this.model = model;
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
        List<HostTensor> host = new ArrayList<>();
        List<int[]> where = new ArrayList<>(); // per A/B pair: weight, first row, end row
        for (int l = 0; l < layers(); l++) {
            if (l != layer && !isZero(current[l])) {
                addPairs(host, where, l, subspace.factors(l, current[l]), 0, lambda * memberTokens);
            }
        }
        for (int i = 0; i < lambda; i++) {
            addPairs(host, where, layer, subspace.factors(layer, candidates[i]), i * memberTokens,
                    (i + 1) * memberTokens);
        }
        try (Parameters factors = ops.createParameters(host, DType.F32)) {
            RowGroupDeltas w = new RowGroupDeltas(base);
            for (int p = 0; p < where.size(); p++) {
                int[] g = where.get(p);
                w.add(g[0], new RowGroupDeltas.Group(g[1], g[2], factors.weight(2 * p), factors.weight(2 * p + 1)));
            }
            return reduce(w, lambda);
        }
    }

    /** The per-member losses of one forward over the repeated batch. */
    private double[] reduce(WeightSource w, int lambda) {
        double[] out = new double[lambda];
        int n = train.examples();
        int rows = train.rows();
        if (objective instanceof LabelSimilarity sim) {
            double[][] s = sim.choiceScores(ops, model, w, train, lambda);
            for (int i = 0; i < lambda; i++) {
                out[i] = (float) ChoiceScorer.crossEntropy(Arrays.copyOfRange(s, i * n, (i + 1) * n), train.gold());
            }
        } else if (objective instanceof ClassificationLoss || objective instanceof NegativeAccuracy) {
            OptionScores.Scored s = OptionScores.score(ops, model, w, repeated(lambda));
            for (int i = 0; i < lambda; i++) {
                OptionScores.Scored member = new OptionScores.Scored(
                        Arrays.copyOfRange(s.rowScores(), i * rows, (i + 1) * rows),
                        Arrays.copyOfRange(s.predictions(), i * n, (i + 1) * n));
                out[i] = objective instanceof ClassificationLoss
                        ? (float) OptionScores.classificationLoss(member, train)
                        : (float) -Metrics.accuracy(member.predictions(), train.gold());
            }
        } else if (objective instanceof ChoiceScorer scorer) {
            double[][] s = scorer.choiceScores(ops, model, w, repeated(lambda));
            for (int i = 0; i < lambda; i++) {
                out[i] = (float) ChoiceScorer.crossEntropy(Arrays.copyOfRange(s, i * n, (i + 1) * n), train.gold());
            }
        } else {
            try (Ops.Scope scope = ops.scope()) {
                Tensor logits = model.forward(ops, w, repeated(lambda).batch());
                for (int i = 0; i < lambda; i++) {
                    float[] ce = ops.toHost(ops.crossEntropy(
                            ops.rows(logits, i * memberTokens, (i + 1) * memberTokens), ops.ints(tokenTargets)));
                    out[i] = (float) ((double) ce[0] / ce[1]);
                }
            }
        }
        return out;
    }

    /** Layer l's updates ({@link Subspace#pairs}) on the rows [from, to). */
    private void addPairs(List<HostTensor> host, List<int[]> where, int l, Factors f, int from, int to) {
        for (Subspace.Pair p : subspace.pairs(l, f)) {
            host.add(HostTensor.ofFloats("a", p.a(), p.rank(), p.in()));
            host.add(HostTensor.ofFloats("b", p.b(), p.rows(), p.rank()));
            where.add(new int[] {p.target().weight(), from, to});
        }
    }

    private static boolean isZero(double[] z) {
        for (double v : z) {
            if (v != 0) {
                return false;
            }
        }
        return true;
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
