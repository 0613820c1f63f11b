package org.zotune.train.objective;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntConsumer;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.data.Dataset;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.PromptEncoder;
import org.zotune.data.prompt.PromptTemplate;
import org.zotune.model.LanguageModel;

/**
 * Evaluation over a whole data set, in batches: accuracy, F1 and classification loss of candidate data; token-weighted
 * causal-LM loss (and so perplexity) of language-model data.
 */
public final class Evaluator {
    private Evaluator() {
    }

    /**
     * @param examples    how many examples were scored
     * @param accuracy    fraction predicted right
     * @param f1          binary F1 (2 candidates) or macro F1
     * @param loss        mean classification loss (ALGORITHMS.md §6)
     * @param predictions per example, the predicted candidate
     * @param gold        per example, the gold candidate
     * @param scores      per example, each class's score as the objective computes it (the argmax is the prediction):
     *                    a {@link ChoiceScorer}'s logits, or the candidates' mean log-likelihood per token
     */
    public record Result(int examples, double accuracy, double f1, double loss, int[] predictions, int[] gold,
            double[][] scores) {
    }

    /** A progress listener that ignores every update. */
    private static final IntConsumer NO_PROGRESS = done -> {
    };

    /**
     * @param lossSum  the summed cross-entropy of every target token
     * @param tokens   how many target tokens
     */
    public record LmResult(double lossSum, long tokens) {
        public double loss() {
            return lossSum / tokens;
        }

        public double perplexity() {
            return Math.exp(loss());
        }
    }

    /** Encodes {@code data} with {@code template} and evaluates it. */
    public static Result evaluate(Ops ops, LanguageModel model, WeightSource weights, PromptEncoder encoder,
            Dataset data, PromptTemplate template, int batchSize) {
        return evaluate(ops, model, weights, encoder.encode(data.requireLabels(), template), batchSize,
                encoder.padId());
    }

    /**
     * The causal-LM loss over all target tokens of the data (each example's gold row), token-weighted across batches:
     * Σ cross-entropy / Σ tokens.
     */
    public static LmResult languageModel(Ops ops, LanguageModel model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId) {
        return languageModel(ops, model, weights, data, batchSize, padId, NO_PROGRESS);
    }

    /** As above, telling {@code progress} the examples scored so far after each batch. */
    public static LmResult languageModel(Ops ops, LanguageModel model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId, IntConsumer progress) {
        if (data.isEmpty()) {
            throw new ZotuneException("nothing to evaluate: no examples");
        }
        if (batchSize <= 0) {
            throw new ZotuneException("evaluation batch size must be positive, got " + batchSize);
        }
        double sum = 0;
        long count = 0;
        for (int from = 0; from < data.size(); from += batchSize) {
            PromptBatch b = PromptBatch.of(new ArrayList<>(data.subList(from, Math.min(data.size(), from + batchSize))),
                    padId);
            try (Ops.Scope scope = ops.scope()) {
                Tensor logits = model.forward(ops, weights, b.batch());
                float[] ce = ops.toHost(ops.crossEntropy(logits, ops.ints(CausalLmLoss.targets(model, b))));
                sum += ce[0];
                count += (long) ce[1];
            }
            progress.accept(Math.min(data.size(), from + batchSize));
        }
        if (count == 0) {
            throw new ZotuneException("nothing to evaluate: no target tokens");
        }
        return new LmResult(sum, count);
    }

    public static Result evaluate(Ops ops, LanguageModel model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId) {
        return evaluate(ops, model, weights, data, batchSize, padId, (Objective) null);
    }

    /**
     * As above, scored the way {@code objective} scores: by its {@link ChoiceScorer} when it is one (e.g. the
     * masked-LM prompt), else by the candidates' log-likelihood ({@link OptionScores}).
     */
    public static Result evaluate(Ops ops, LanguageModel model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId, Objective objective) {
        return evaluate(ops, model, weights, data, batchSize, padId, objective, NO_PROGRESS);
    }

    /** As above, telling {@code progress} the examples scored so far after each batch. */
    public static Result evaluate(Ops ops, LanguageModel model, WeightSource weights, List<EncodedExample> data,
            int batchSize, int padId, Objective objective, IntConsumer progress) {
        if (objective instanceof ChoiceScorer scorer) {
            return evaluate(data, batchSize, padId, b -> {
                double[][] s = scorer.choiceScores(ops, model, weights, b);
                int[] classes = new int[s.length];
                for (int r = 0; r < s.length; r++) {
                    classes[r] = s[r].length;
                }
                return new Scored(ChoiceScorer.predictions(s), ChoiceScorer.crossEntropy(s, b.gold()), classes, s);
            }, progress);
        }
        return evaluate(data, batchSize, padId, b -> {
            OptionScores.Scored s = OptionScores.score(ops, model, weights, b);
            double[][] perExample = new double[b.examples()][];
            for (int x = 0; x < perExample.length; x++) {
                int first = b.firstRow()[x];
                perExample[x] = java.util.Arrays.copyOfRange(s.rowScores(), first, first + b.candidates()[x]);
            }
            return new Scored(s.predictions(), OptionScores.classificationLoss(s, b), b.candidates(), perExample);
        }, progress);
    }

    /** One batch's predictions, its mean loss, each example's number of classes and its classes' scores. */
    private record Scored(int[] predictions, double loss, int[] classes, double[][] scores) {
    }

    /** Scores the data in batches of {@code batchSize} and averages the loss over the examples. */
    private static Result evaluate(List<EncodedExample> data, int batchSize, int padId,
            Function<PromptBatch, Scored> scoreBatch, IntConsumer progress) {
        if (data.isEmpty()) {
            throw new ZotuneException("nothing to evaluate: no examples");
        }
        if (batchSize <= 0) {
            throw new ZotuneException("evaluation batch size must be positive, got " + batchSize);
        }
        int n = data.size();
        int[] pred = new int[n];
        int[] gold = new int[n];
        double[][] scores = new double[n][];
        int classes = 0;
        double lossSum = 0;
        for (int from = 0; from < n; from += batchSize) {
            List<EncodedExample> chunk = new ArrayList<>(data.subList(from, Math.min(n, from + batchSize)));
            PromptBatch b = PromptBatch.of(chunk, padId);
            Scored s = scoreBatch.apply(b);
            lossSum += s.loss() * chunk.size();
            for (int i = 0; i < chunk.size(); i++) {
                pred[from + i] = s.predictions()[i];
                gold[from + i] = b.gold()[i];
                scores[from + i] = s.scores()[i];
                classes = Math.max(classes, s.classes()[i]);
            }
            progress.accept(from + chunk.size());
        }
        return new Result(n, Metrics.accuracy(pred, gold), Metrics.f1(pred, gold, classes), lossSum / n, pred, gold,
                scores);
    }
}
