package org.zotune.zo.cuda;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;

/**
 * The loss a captured step computes on the device from one micro-batch's logits, as a (value, count) pair whose
 * quotient is the loss (zo_grad and loss_mean divide): the token cross-entropy of {@code lm} as (Σ, count), the
 * candidate-scoring objectives (classification, multiple choice, −accuracy, −F1) as (loss, 1)
 * (native/kernels/choice_loss.cu). Its int inputs are bound in the step's graph and rewritten before each replay;
 * what else the launches bake in is its {@link #shape}.
 */
public sealed interface DeviceLoss {
    /** A forward pass whose output a device loss reads. */
    @FunctionalInterface
    interface Forward {
        Tensor run(Ops ops, LanguageModel model, WeightSource weights, Batch batch);
    }

    /** The model's own forward: logits at every position. */
    Forward MODEL_FORWARD = (ops, model, weights, batch) -> model.forward(ops, weights, batch);

    /** The forward this loss reads (the model's logits at every position unless it says otherwise). */
    default Forward forward() {
        return MODEL_FORWARD;
    }

    /** The int inputs the loss reads on the device, in the order {@link #compute} receives them. */
    List<int[]> ints();

    /** The launch constants besides the inputs' lengths: a graph captured for one shape replays only for it. */
    List<Integer> shape();

    /** Refuses a batch the loss does not fit (one line). */
    void check(Batch batch);

    /**
     * Whether its pair is (Σ over the batch, count), so that the pairs of a batch's parts add up to the whole batch's
     * (a batch split over data-parallel ranks inside the step: {@link DeviceZoStep#spreadOver}); the losses that
     * write (loss, 1) are not.
     */
    default boolean additive() {
        return false;
    }

    /**
     * Enqueues the loss of {@code logits} (what {@link #forward} returned) with its bound {@code inputs}: 8 bytes
     * (value, count) at {@code out}; {@code weights} for a loss that reads weights of its own (the head).
     */
    void compute(CudaOps ops, ZoKernels kernels, LanguageModel model, WeightSource weights, Tensor logits,
                 List<IntTensor> inputs, long out);

    /** Mean token cross-entropy over {@code targets} ([rows·seq], -1 = not scored): (Σ, count). */
    record TokenCrossEntropy(int[] targets) implements DeviceLoss {
        @Override
        public List<int[]> ints() {
            return List.of(targets);
        }

        @Override
        public List<Integer> shape() {
            return List.of(0);
        }

        @Override
        public boolean additive() {
            return true;
        }

        @Override
        public void check(Batch batch) {
            if (targets.length != batch.tokens()) {
                throw new ZotuneException("zo step: " + targets.length + " targets for a batch of " + batch.tokens()
                        + " tokens");
            }
        }

        @Override
        public void compute(CudaOps ops, ZoKernels kernels, LanguageModel model, WeightSource weights,
                            Tensor logits, List<IntTensor> inputs, long out) {
            Tensor ce = ops.crossEntropy(logits, inputs.get(0));
            org.zotune.cuda.DeviceBuffer.copy(out, CudaTensors.address(ce), 8, ops.stream());
        }
    }

    /**
     * A candidate-scoring loss: rows of {@code seq} positions, each candidate row's score the mean log-likelihood of
     * its answer tokens (targets, already shifted for a causal LM, -1 elsewhere); example x's candidates are rows
     * firstRow[x] .. firstRow[x] + candidates[x] - 1, its answer {@code gold[x]}. metric: 0 the cross-entropy of
     * softmax(scores) against the gold, 1 −accuracy, 2 −F1 over {@code classes} (binary when 2).
     */
    record Choices(int[] targets, int seq, int[] firstRow, int[] candidates, int[] gold, int metric, int classes)
            implements DeviceLoss {
        public Choices {
            int n = firstRow.length;
            if (seq <= 0 || targets.length == 0 || targets.length % seq != 0 || n == 0 || candidates.length != n
                    || gold.length != n || metric < 0 || metric > 2 || classes < 1) {
                throw new IllegalArgumentException("choices: " + targets.length + " targets in rows of " + seq + ", "
                        + n + " examples, " + candidates.length + " candidate counts, " + gold.length
                        + " gold labels, metric " + metric + ", classes " + classes);
            }
            int rows = targets.length / seq;
            for (int x = 0; x < n; x++) {
                if (candidates[x] < 1 || firstRow[x] < 0 || firstRow[x] + candidates[x] > rows || gold[x] < 0
                        || gold[x] >= candidates[x] || candidates[x] > classes && metric == 2) {
                    throw new IllegalArgumentException("choices: example " + x + " has rows " + firstRow[x] + " + "
                            + candidates[x] + " of " + rows + ", gold " + gold[x] + ", classes " + classes);
                }
            }
        }

        @Override
        public List<int[]> ints() {
            int n = firstRow.length;
            int[] meta = new int[3 * n];
            System.arraycopy(firstRow, 0, meta, 0, n);
            System.arraycopy(candidates, 0, meta, n, n);
            System.arraycopy(gold, 0, meta, 2 * n, n);
            return List.of(targets, meta);
        }

        @Override
        public List<Integer> shape() {
            return List.of(1, seq, metric, classes);
        }

        @Override
        public void check(Batch batch) {
            if (targets.length != batch.tokens() || seq != batch.seq()) {
                throw new ZotuneException("zo step: " + targets.length + " choice targets in rows of " + seq
                        + " for a batch of " + batch.batch() + " x " + batch.seq() + " tokens");
            }
        }

        @Override
        public void compute(CudaOps ops, ZoKernels kernels, LanguageModel model, WeightSource weights,
                            Tensor logits, List<IntTensor> inputs, long out) {
            int rows = targets.length / seq;
            Tensor tokenLoss = ops.tokenLosses(logits, inputs.get(0));
            Tensor rowSc = ops.scratch(rows, 2);
            kernels.choiceRowSums(CudaTensors.address(tokenLoss), CudaTensors.address(inputs.get(0)),
                    CudaTensors.address(rowSc), rows, seq, ops.stream());
            kernels.choiceLoss(CudaTensors.address(rowSc), CudaTensors.address(inputs.get(1)), firstRow.length,
                    metric, classes, out, ops.stream());
        }
    }

    /**
     * A masked-LM prompt's loss: the MLM head's logits at each example's mask row ({@code rows}, flat b·seq + t),
     * restricted to the label tokens, s[x][l] = logits[x, tokens[l]]; loss = mean over x of −log softmax(s[x])[gold[x]].
     * Its forward is the encoder's hidden states and the MLM head at those rows only.
     */
    record MaskedChoices(int[] rows, int[] tokens, int[] gold) implements DeviceLoss {
        public MaskedChoices {
            if (rows.length == 0 || gold.length != rows.length || tokens.length == 0) {
                throw new IllegalArgumentException("masked choices: " + rows.length + " rows, " + gold.length
                        + " gold labels, " + tokens.length + " label tokens");
            }
            for (int x = 0; x < gold.length; x++) {
                if (gold[x] < 0 || gold[x] >= tokens.length) {
                    throw new IllegalArgumentException("masked choices: example " + x + " has gold " + gold[x]
                            + " of " + tokens.length + " labels");
                }
            }
        }

        @Override
        public Forward forward() {
            return (ops, model, weights, batch) -> {
                if (!(model instanceof EncoderModel e)) {
                    throw new ZotuneException("a masked-LM prompt loss needs an encoder; this model is a "
                            + model.config().family() + " decoder");
                }
                return e.mlmLogits(ops, weights, e.hiddenStates(ops, weights, batch, null), rows);
            };
        }

        @Override
        public List<int[]> ints() {
            int[] meta = new int[tokens.length + gold.length];
            System.arraycopy(tokens, 0, meta, 0, tokens.length);
            System.arraycopy(gold, 0, meta, tokens.length, gold.length);
            return List.of(meta);
        }

        @Override
        public List<Integer> shape() {
            // the MLM head gathers the rows unless they are every row in order: part of the captured launches
            boolean identity = true;
            for (int i = 0; i < rows.length; i++) {
                identity &= rows[i] == i;
            }
            return List.of(2, rows.length, tokens.length, identity ? 1 : 0);
        }

        @Override
        public void check(Batch batch) {
            for (int r : rows) {
                if (r < 0 || r >= batch.tokens()) {
                    throw new ZotuneException("zo step: mask row " + r + " outside a batch of " + batch.tokens()
                            + " tokens");
                }
            }
        }

        @Override
        public void compute(CudaOps ops, ZoKernels kernels, LanguageModel model, WeightSource weights,
                            Tensor logits, List<IntTensor> inputs, long out) {
            kernels.maskedChoiceLoss(logits.dtype(), CudaTensors.address(logits), CudaTensors.ld(logits),
                    CudaTensors.address(inputs.get(0)), rows.length, tokens.length, out, ops.stream());
        }

        /**
         * Plain-Java reference of masked_choice_loss: {@code logits} [examples, vocab] as floats, the cross-entropy
         * in double in ChoiceScorer's order.
         */
        public float reference(float[] logits, int vocab) {
            double total = 0;
            for (int x = 0; x < rows.length; x++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int t : tokens) {
                    max = Math.max(max, logits[x * vocab + t]);
                }
                double z = 0;
                for (int t : tokens) {
                    z += Math.exp(logits[x * vocab + t] - max);
                }
                total += Math.log(z) + max - logits[x * vocab + tokens[gold[x]]];
            }
            return (float) (total / rows.length);
        }
    }

    /**
     * The encoder objectives that pool hidden states (ALGORITHMS.md §6): objective head (scoring 0: s = W·pool + b with
     * the model's head weights) and label similarity (scoring 1: cosine of the example's and each label description's
     * pooled states / temperature; the batch is the joint batch of examples then descriptions). pooling: 0 the mean
     * over a row's real positions, 1 its first position, 2 the pooler's output. Loss: the cross-entropy of the scores
     * against the gold label, in double as the objectives compute it on the host.
     *
     * @param mask        the batch's attention mask ([rows·seq]), the mean's positions
     * @param exampleRows per example, its row of the batch
     */
    record Pooled(int[] mask, int seq, int[] exampleRows, int[] gold, int pooling, int scoring, int labels,
                  double temperature, int headWeight, int headBias) implements DeviceLoss {
        /** The most examples × labels one block's shared memory holds (48 KiB of doubles). */
        public static final int MAX_SCORES = 5000;

        public Pooled {
            int n = exampleRows.length;
            if (seq <= 0 || mask.length == 0 || mask.length % seq != 0 || n == 0 || gold.length != n || labels < 1
                    || pooling < 0 || pooling > 2 || scoring < 0 || scoring > 1 || !fits(n, labels)) {
                throw new IllegalArgumentException("pooled choices: " + mask.length + " mask values in rows of " + seq
                        + ", " + n + " examples, " + gold.length + " gold, " + labels + " labels, pooling " + pooling
                        + ", scoring " + scoring);
            }
            for (int x = 0; x < n; x++) {
                if (gold[x] < 0 || gold[x] >= labels || exampleRows[x] < 0 || exampleRows[x] >= mask.length / seq) {
                    throw new IllegalArgumentException("pooled choices: example " + x + " at row " + exampleRows[x]
                            + " has gold " + gold[x] + " of " + labels);
                }
            }
        }

        /** Whether n examples of {@code labels} labels fit one block's scores (else the eager step). */
        public static boolean fits(int n, int labels) {
            return (long) n * labels + n + labels <= MAX_SCORES;
        }

        @Override
        public Forward forward() {
            return (ops, model, weights, batch) -> {
                if (!(model instanceof EncoderModel e)) {
                    throw new ZotuneException("a pooled encoder loss needs an encoder; this model is a "
                            + model.config().family() + " decoder");
                }
                Tensor hidden = e.hiddenStates(ops, weights, batch, null);
                return pooling == 2 ? e.pooled(ops, weights, hidden, batch.seq()) : hidden;
            };
        }

        @Override
        public List<int[]> ints() {
            int n = exampleRows.length;
            if (scoring == 1) {
                return List.of(mask, gold.clone());
            }
            int[] meta = new int[2 * n];
            System.arraycopy(exampleRows, 0, meta, 0, n);
            System.arraycopy(gold, 0, meta, n, n);
            return List.of(mask, meta);
        }

        @Override
        public List<Integer> shape() {
            long t = Double.doubleToLongBits(temperature);
            return List.of(3, seq, exampleRows.length, pooling, scoring, labels, (int) t, (int) (t >>> 32),
                    headWeight, headBias);
        }

        @Override
        public void check(Batch batch) {
            if (mask.length != batch.tokens() || seq != batch.seq()) {
                throw new ZotuneException("zo step: a mask of " + mask.length + " in rows of " + seq + " for a batch of "
                        + batch.batch() + " x " + batch.seq() + " tokens");
            }
            if (scoring == 1 && exampleRows.length + labels != batch.batch()) {
                throw new ZotuneException("zo step: label similarity over " + exampleRows.length + " examples and "
                        + labels + " descriptions in a batch of " + batch.batch() + " rows");
            }
        }

        @Override
        public void compute(CudaOps ops, ZoKernels kernels, LanguageModel model, WeightSource weights,
                            Tensor logits, List<IntTensor> inputs, long out) {
            int h = model.config().hiddenSize();
            int rows = mask.length / seq;
            int n = exampleRows.length;
            Tensor pooled = ops.scratch(rows * h, 2); // doubles
            long p = CudaTensors.address(pooled);
            kernels.poolRows(logits.dtype(), CudaTensors.address(logits), CudaTensors.address(inputs.get(0)),
                    pooling == 2 ? 1 : seq, h, rows, pooling == 0 ? 0 : 1, p, ops.stream());
            if (scoring == 0) {
                Tensor w = weights.weight(headWeight);
                Tensor b = weights.weight(headBias);
                long wa = CudaTensors.address(ops.settle(w));
                long ba = CudaTensors.address(ops.settle(b));
                kernels.headLoss(w.dtype(), p, wa, ba, CudaTensors.address(inputs.get(1)), n, labels, h, out,
                        ops.stream());
            } else {
                kernels.similarityLoss(p, CudaTensors.address(inputs.get(1)), n, labels, h, temperature, out,
                        ops.stream());
            }
        }
    }

    /**
     * Plain-Java reference of choice_row_sums: per row, (Σ token losses, number of targets) in the order of a
     * 1024-thread block: thread t adds positions t, t + 1024, ...; then block_sum (block.cuh): a butterfly warp sum
     * (lane l adds lane l ^ o for o = 16, 8, 4, 2, 1), the 32 warp sums into one warp, the butterfly again.
     */
    static float[] rowSums(float[] tokenLoss, int[] targets, int seq) {
        int rows = targets.length / seq;
        float[] out = new float[2 * rows];
        float[] s = new float[1024];
        float[] c = new float[1024];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < 1024; t++) {
                float sv = 0f;
                float cv = 0f;
                for (int i = t; i < seq; i += 1024) {
                    sv += tokenLoss[r * seq + i];
                    cv += targets[r * seq + i] >= 0 ? 1f : 0f;
                }
                s[t] = sv;
                c[t] = cv;
            }
            out[2 * r] = blockSum(s);
            out[2 * r + 1] = blockSum(c);
        }
        return out;
    }

    /** block_sum over 1024 threads' values (thread 0's result). */
    private static float blockSum(float[] v) {
        float[] warps = new float[32];
        for (int w = 0; w < 32; w++) {
            warps[w] = warpSum(java.util.Arrays.copyOfRange(v, 32 * w, 32 * w + 32));
        }
        return warpSum(warps);
    }

    /** Lane 0 of warp_sum: for o = 16 .. 1, every lane l adds lane l ^ o's value (all lanes at once). */
    private static float warpSum(float[] lanes) {
        float[] v = lanes.clone();
        for (int o = 16; o > 0; o >>= 1) {
            float[] next = new float[32];
            for (int l = 0; l < 32; l++) {
                next[l] = v[l] + v[l ^ o];
            }
            v = next;
        }
        return v[0];
    }

    /**
     * Plain-Java reference of loss_pair_sum: {@code gathered} [world][pairs] (value, count) pairs; per pair, the
     * values and the counts each added in double in rank order from 0, their quotient rounded to float, and 1.
     */
    static float[] pairSum(float[] gathered, int world) {
        int pairs = gathered.length / (2 * world);
        float[] out = new float[2 * pairs];
        for (int i = 0; i < pairs; i++) {
            double v = 0;
            double c = 0;
            for (int r = 0; r < world; r++) {
                v += gathered[2 * (r * pairs + i)];
                c += gathered[2 * (r * pairs + i) + 1];
            }
            out[2 * i] = (float) (v / c);
            out[2 * i + 1] = 1f;
        }
        return out;
    }

    /** Plain-Java reference of loss_mean: Σ_j pairs[2j] / pairs[2j + 1] in order in float32, then / m when m > 1. */
    static float mean(float[] pairs) {
        int m = pairs.length / 2;
        float sum = 0f;
        for (int j = 0; j < m; j++) {
            sum += pairs[2 * j] / pairs[2 * j + 1];
        }
        return m == 1 ? sum : sum / m;
    }
}
