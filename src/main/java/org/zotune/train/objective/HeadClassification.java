package org.zotune.train.objective;

import java.util.Optional;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.SequenceClassifier;

/**
 * The classification head (ALGORITHMS.md §6 (a)), objective {@code head}: each example is one row; its last hidden
 * states are pooled (the mean over its real tokens, its first token's state, or the encoder's pooler: tanh(dense(·))
 * of the first token, what Hugging Face's BertForSequenceClassification and RobertaForSequenceClassification classify)
 * and the scores are
 * s = W·pool(x) + b with the {@link SequenceClassifier}'s head W [labels, hidden], b [labels]; loss = mean
 * cross-entropy of softmax(s) against the gold label; prediction = argmax s. Pooling and the head's product run on the
 * host in double, like label similarity's pooling; the body's forward runs on the backend.
 */
public final class HeadClassification implements AdditiveObjective, ChoiceScorer {

    /** How a row's last hidden states become the head's input. */
    public enum Pooling { MEAN, CLS, POOLER }

    private final Pooling pooling;

    public HeadClassification(Pooling pooling) {
        this.pooling = pooling;
    }

    @Override
    public String name() {
        return "head";
    }

    public Pooling pooling() {
        return pooling;
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
    public Optional<PooledChoices> pooledChoices(LanguageModel model, PromptBatch batch) {
        SequenceClassifier m = requireHead(model, batch);
        int n = batch.examples();
        for (int x = 0; x < n; x++) {
            if (batch.gold()[x] < 0 || batch.gold()[x] >= m.labels()) {
                throw new ZotuneException("example " + x + " of the batch has no gold label among its " + m.labels()
                        + " labels");
            }
        }
        int[] rows = new int[n];
        for (int x = 0; x < n; x++) {
            rows[x] = batch.firstRow()[x];
        }
        PooledChoices.Pooling p = switch (pooling) {
            case MEAN -> PooledChoices.Pooling.MEAN;
            case CLS -> PooledChoices.Pooling.CLS;
            case POOLER -> PooledChoices.Pooling.POOLER;
        };
        return Optional.of(new PooledChoices(batch.batch(), rows, batch.gold().clone(), p,
                PooledChoices.Scoring.HEAD, m.labels(), 1.0, m.headWeight(), m.headBias()));
    }

    private SequenceClassifier requireHead(LanguageModel model, PromptBatch batch) {
        if (!(model instanceof SequenceClassifier m)) {
            throw new ZotuneException("objective head needs an encoder with a classification head; this model is a "
                    + model.config().family() + (model.kind() == LanguageModel.Kind.CAUSAL ? " decoder" : " encoder "
                    + "without one"));
        }
        if (pooling == Pooling.POOLER && !m.hasPooler()) {
            throw new ZotuneException("head pooling 'pooler': this " + model.config().family() + " checkpoint has no "
                    + "pooler (pooler.dense weights); use mean or cls");
        }
        for (int x = 0; x < batch.examples(); x++) {
            if (batch.candidates()[x] != 1) {
                throw new ZotuneException("objective head encodes one row per example; example " + x + " has "
                        + batch.candidates()[x] + " candidate rows");
            }
        }
        return m;
    }

    @Override
    public double[][] choiceScores(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
        SequenceClassifier m = requireHead(model, batch);
        Batch b = batch.batch();
        int n = batch.examples();
        int h = model.config().hiddenSize();
        int labels = m.labels();
        int seq = b.seq();
        float[] hidden;
        float[] w;
        float[] bias;
        try (Ops.Scope scope = ops.scope()) {
            org.zotune.backend.Tensor states = m.hiddenStates(ops, weights, b, null);
            // the pooler's output [rows, h] stands where the first token's state would
            hidden = ops.toHost(pooling == Pooling.POOLER ? m.pooled(ops, weights, states, seq) : states);
            w = ops.toHost(weights.weight(m.headWeight()));
            bias = ops.toHost(weights.weight(m.headBias()));
        }
        double[][] s = new double[n][labels];
        double[] pooled = new double[h];
        for (int x = 0; x < n; x++) {
            int r = batch.firstRow()[x];
            java.util.Arrays.fill(pooled, 0);
            if (pooling != Pooling.MEAN) {
                int at = pooling == Pooling.POOLER ? r * h : r * seq * h;
                for (int i = 0; i < h; i++) {
                    pooled[i] = hidden[at + i];
                }
            } else {
                int count = 0;
                for (int t = 0; t < seq; t++) {
                    if (b.mask()[r * seq + t] != 0) {
                        count++;
                        for (int i = 0; i < h; i++) {
                            pooled[i] += hidden[(r * seq + t) * h + i];
                        }
                    }
                }
                for (int i = 0; i < h; i++) {
                    pooled[i] /= count;
                }
            }
            for (int c = 0; c < labels; c++) {
                double z = bias[c];
                for (int i = 0; i < h; i++) {
                    z += (double) w[c * h + i] * pooled[i];
                }
                s[x][c] = z;
            }
        }
        return s;
    }
}
