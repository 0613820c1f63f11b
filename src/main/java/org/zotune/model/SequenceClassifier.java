package org.zotune.model;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.tensor.HostTensor;

/**
 * An encoder with a linear classification head (ALGORITHMS.md §6 (a)): the body's parameters, then the head's
 * {@code classifier.weight} [labels, hidden] and {@code classifier.bias} [labels] as two more parameters of the same
 * model, so that they sit in the same parameter buffer, noise layout, checkpoint and export as the body's (their
 * names are BertForSequenceClassification's). The body's parameter indices are unchanged; the head's are
 * {@link #headWeight()} and {@link #headBias()}. Everything else is the body's.
 */
public final class SequenceClassifier implements EncoderModel {
    public static final String WEIGHT = "classifier.weight";
    public static final String BIAS = "classifier.bias";

    private final EncoderModel body;
    private final int labels;
    private final List<ParamSpec> params;

    public SequenceClassifier(EncoderModel body, int labels) {
        if (labels < 2) {
            throw new ZotuneException("a classification head needs at least 2 labels, got " + labels);
        }
        this.body = body;
        this.labels = labels;
        List<ParamSpec> p = new ArrayList<>(body.params());
        for (ParamSpec s : p) {
            if (s.name().equals(WEIGHT) || s.name().equals(BIAS)) {
                throw new ZotuneException("the encoder already has a parameter " + s.name());
            }
        }
        long h = body.config().hiddenSize();
        p.add(new ParamSpec(WEIGHT, new long[] {labels, h}, ParamSpec.Role.MATRIX));
        p.add(new ParamSpec(BIAS, new long[] {labels}, ParamSpec.Role.BIAS));
        this.params = List.copyOf(p);
    }

    /** The head's initial tensors: zero weight and bias, so that the first forward predicts every label alike. */
    public List<HostTensor> zeroHead() {
        int h = body.config().hiddenSize();
        return List.of(HostTensor.ofFloats(WEIGHT, new float[labels * h], labels, h),
                HostTensor.ofFloats(BIAS, new float[labels], labels));
    }

    public EncoderModel body() {
        return body;
    }

    public int labels() {
        return labels;
    }

    /** The parameter index of {@code classifier.weight}. */
    public int headWeight() {
        return params.size() - 2;
    }

    /** The parameter index of {@code classifier.bias}. */
    public int headBias() {
        return params.size() - 1;
    }

    @Override
    public ModelConfig config() {
        return body.config();
    }

    @Override
    public List<ParamSpec> params() {
        return params;
    }

    @Override
    public Tensor forward(Ops ops, WeightSource weights, Batch batch) {
        return body.forward(ops, weights, batch);
    }

    @Override
    public boolean hasMlmHead() {
        return body.hasMlmHead();
    }

    @Override
    public Tensor hiddenStates(Ops ops, WeightSource weights, Batch batch, int[] tokenTypes) {
        return body.hiddenStates(ops, weights, batch, tokenTypes);
    }

    @Override
    public boolean hasPooler() {
        return body.hasPooler();
    }

    @Override
    public Tensor pooled(Ops ops, WeightSource weights, Tensor hidden, int seq) {
        return body.pooled(ops, weights, hidden, seq);
    }

    @Override
    public Tensor mlmLogits(Ops ops, WeightSource weights, Tensor hidden, int[] rows) {
        return body.mlmLogits(ops, weights, hidden, rows);
    }
}
