package org.zotune.train.objective;

import java.util.Optional;
import java.util.Locale;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;

/**
 * Label similarity (ALGORITHMS.md §6), an encoder objective with no new parameters: each example's text and each
 * label's description are encoded by the same model in the same forward pass and pooled; the scores are
 * s_c = cos(pool(x), pool(t_c)) / τ; loss = mean cross-entropy of softmax(s) against the gold label; prediction =
 * argmax s. Pooling: the mean of the last hidden states over the real tokens (sentence-transformers' rule), the first
 * token's hidden state, or BERT's pooler when the checkpoint has one.
 */
public final class LabelSimilarity implements AdditiveObjective, ChoiceScorer {
    /** τ when the config names none: cosines in [−1, 1] become logits in [−20, 20]. */
    public static final double DEFAULT_TEMPERATURE = 0.05;

    /** How a sequence's last hidden states become one vector. */
    public enum Pooling {
        MEAN, CLS, POOLER;

        public static Pooling parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "mean" -> MEAN;
                case "cls" -> CLS;
                case "pooler" -> POOLER;
                default -> throw new ZotuneException("similarity pooling '" + name + "' is not one of mean, cls, "
                        + "pooler");
            };
        }
    }

    private final int[][] labelRows;
    private final Pooling pooling;
    private final double temperature;
    private final int padId;

    /**
     * @param labelRows   per label (the data set's label order), its description's token ids, special tokens included
     * @param pooling     how sequences are pooled
     * @param temperature τ &gt; 0
     * @param padId       the id padding the joint batch (masked out, so any id of the vocabulary)
     */
    public LabelSimilarity(int[][] labelRows, Pooling pooling, double temperature, int padId) {
        if (labelRows.length < 2) {
            throw new ZotuneException("objective similarity needs at least 2 labels, got " + labelRows.length);
        }
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new ZotuneException("similarity temperature must be a positive number, got " + temperature);
        }
        for (int c = 0; c < labelRows.length; c++) {
            if (labelRows[c].length == 0) {
                throw new ZotuneException("objective similarity: the description of label " + c + " has no tokens");
            }
        }
        this.labelRows = new int[labelRows.length][];
        for (int c = 0; c < labelRows.length; c++) {
            this.labelRows[c] = labelRows[c].clone();
        }
        this.pooling = pooling;
        this.temperature = temperature;
        this.padId = padId;
    }

    @Override
    public String name() {
        return "similarity";
    }

    public Pooling pooling() {
        return pooling;
    }

    public double temperature() {
        return temperature;
    }

    @Override
    public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return (float) ChoiceScorer.crossEntropy(choiceScores(ops, model, weights, batch), batch.gold());
    }

    /** [Σ per-example cross-entropy, examples]. */
    @Override
    public double[] sums(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return crossEntropySums(ops, model, weights, batch);
    }

    @Override
    public double[][] choiceScores(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        return choiceScores(ops, model, weights, batch, 1);
    }

    @Override
    public Optional<PooledChoices> pooledChoices(LanguageModel model, PromptBatch batch) {
        EncoderModel encoder = requireEncoder(model);
        if (pooling == Pooling.POOLER && !encoder.hasPooler()) {
            throw new ZotuneException("similarity pooling 'pooler': this " + model.config().family() + " checkpoint "
                    + "has no pooler (pooler.dense weights); use mean or cls");
        }
        int n = batch.examples();
        Batch joint = joint(batch, 1);
        for (int x = 0; x < n; x++) {
            if (batch.gold()[x] < 0 || batch.gold()[x] >= labelRows.length) {
                throw new ZotuneException("example " + x + " of the batch has no gold label among its "
                        + labelRows.length + " labels");
            }
        }
        int[] rows = new int[n];
        for (int x = 0; x < n; x++) {
            rows[x] = x;
        }
        PooledChoices.Pooling p = switch (pooling) {
            case MEAN -> PooledChoices.Pooling.MEAN;
            case CLS -> PooledChoices.Pooling.CLS;
            case POOLER -> PooledChoices.Pooling.POOLER;
        };
        return Optional.of(new PooledChoices(joint, rows, batch.gold().clone(), p, PooledChoices.Scoring.SIMILARITY,
                labelRows.length, temperature, -1, -1));
    }

    /**
     * The scores of {@code copies} copies of the batch in one forward pass ({@link #joint}): copy k's example rows
     * [k·n, (k + 1)·n) of the result. A DFO population gives each copy its own adapters through its rows.
     */
    public double[][] choiceScores(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch,
            int copies) {
        EncoderModel encoder = requireEncoder(model);
        if (pooling == Pooling.POOLER && !encoder.hasPooler()) {
            throw new ZotuneException("similarity pooling 'pooler': this " + model.config().family() + " checkpoint "
                    + "has no pooler (pooler.dense weights); use mean or cls");
        }
        int n = batch.examples();
        int labels = labelRows.length;
        Batch joint = joint(batch, copies);
        int h = model.config().hiddenSize();
        float[] pooled;
        try (Ops.Scope scope = ops.scope()) {
            Tensor hidden = encoder.hiddenStates(ops, weights, joint, null);
            pooled = pooling == Pooling.POOLER ? ops.toHost(encoder.pooled(ops, weights, hidden, joint.seq()))
                    : pool(ops.toHost(hidden), joint, h);
        }
        double[][] s = new double[copies * n][labels];
        for (int k = 0; k < copies; k++) {
            int first = k * (n + labels);
            double[][] unit = new double[n + labels][];
            for (int r = 0; r < n + labels; r++) {
                unit[r] = unit(pooled, first + r, h);
            }
            for (int x = 0; x < n; x++) {
                for (int c = 0; c < labels; c++) {
                    double dot = 0;
                    for (int i = 0; i < h; i++) {
                        dot += unit[x][i] * unit[n + c][i];
                    }
                    s[k * n + x][c] = dot / temperature;
                }
            }
        }
        return s;
    }

    /**
     * The one batch a forward encodes: per copy, the examples' rows (their real tokens) then the label descriptions,
     * right-padded together (to the batch's width at least: a length bucket); copy k holds rows
     * [k·(n + labels), (k + 1)·(n + labels)).
     */
    public Batch joint(PromptBatch batch, int copies) {
        if (copies < 1) {
            throw new IllegalArgumentException("copies " + copies);
        }
        int n = batch.examples();
        int labels = labelRows.length;
        int[][] rows = new int[copies * (n + labels)][];
        Batch b = batch.batch();
        for (int x = 0; x < n; x++) {
            if (batch.candidates()[x] != 1) {
                throw new ZotuneException("objective similarity encodes one row per example; example " + x + " has "
                        + batch.candidates()[x] + " candidate rows");
            }
            int r = batch.firstRow()[x];
            int len = 0;
            while (len < b.seq() && b.mask()[r * b.seq() + len] != 0) {
                len++;
            }
            rows[x] = java.util.Arrays.copyOfRange(b.ids(), r * b.seq(), r * b.seq() + len);
        }
        System.arraycopy(labelRows, 0, rows, n, labels);
        for (int k = 1; k < copies; k++) {
            System.arraycopy(rows, 0, rows, k * (n + labels), n + labels);
        }
        Batch joint = Batch.rightPadded(rows, padId);
        if (joint.seq() >= b.seq()) {
            return joint;
        }
        // the batch was padded to a length bucket (key pad_multiple): the joint batch keeps that width, so its shape
        // repeats as the batch's does (padding columns: mask 0, pooled over by no row)
        int[] ids = new int[joint.batch() * b.seq()];
        int[] mask = new int[ids.length];
        java.util.Arrays.fill(ids, padId);
        for (int r = 0; r < joint.batch(); r++) {
            System.arraycopy(joint.ids(), r * joint.seq(), ids, r * b.seq(), joint.seq());
            System.arraycopy(joint.mask(), r * joint.seq(), mask, r * b.seq(), joint.seq());
        }
        return new Batch(joint.batch(), b.seq(), ids, mask);
    }

    /** Mean over each row's real tokens, or its first token's state: [rows, h]. */
    private float[] pool(float[] hidden, Batch joint, int h) {
        int seq = joint.seq();
        float[] out = new float[joint.batch() * h];
        for (int r = 0; r < joint.batch(); r++) {
            if (pooling == Pooling.CLS) {
                System.arraycopy(hidden, r * seq * h, out, r * h, h);
                continue;
            }
            double[] sum = new double[h];
            int count = 0;
            for (int t = 0; t < seq; t++) {
                if (joint.mask()[r * seq + t] != 0) {
                    count++;
                    for (int i = 0; i < h; i++) {
                        sum[i] += hidden[(r * seq + t) * h + i];
                    }
                }
            }
            for (int i = 0; i < h; i++) {
                out[r * h + i] = (float) (sum[i] / count);
            }
        }
        return out;
    }

    /** Row r of v scaled to unit length (a zero vector stays zero: its cosines are 0). */
    private static double[] unit(float[] v, int r, int h) {
        double norm = 0;
        for (int i = 0; i < h; i++) {
            norm += (double) v[r * h + i] * v[r * h + i];
        }
        norm = Math.sqrt(norm);
        double[] u = new double[h];
        for (int i = 0; i < h; i++) {
            u[i] = norm == 0 ? 0 : v[r * h + i] / norm;
        }
        return u;
    }

    private static EncoderModel requireEncoder(LanguageModel model) {
        if (!(model instanceof EncoderModel e) || model.kind() != LanguageModel.Kind.MASKED) {
            throw new ZotuneException("objective similarity pools an encoder's hidden states and needs an encoder "
                    + "(BERT, RoBERTa); this model is a " + model.config().family() + " decoder");
        }
        return e;
    }
}
