package org.zotune.train.objective;

import org.zotune.model.Batch;

/**
 * What an encoder objective that pools hidden states reads (objective head, label similarity), for an engine that
 * computes its loss itself (the captured CUDA step, native/kernels/choice_loss.cu): the batch to encode (the
 * examples' batch for the head; for similarity the joint batch of the examples' real tokens then the label
 * descriptions, {@link LabelSimilarity#joint}), each example's row and gold label, the pooling and the scoring.
 * {@link #loss} is the plain-Java reference of the device loss, in the order and precision of the objectives' own.
 *
 * @param batch       what the encoder's forward reads
 * @param exampleRows per example, its row of {@code batch}
 * @param gold        per example, its label
 * @param pooling     how a row's hidden states become one vector
 * @param scoring     the head's W·pool + b, or the cosine with each label description's / temperature
 * @param labels      number of labels
 * @param temperature similarity's temperature (unused by the head)
 * @param headWeight  the head's weight parameter index (the head; -1 otherwise)
 * @param headBias    the head's bias parameter index (the head; -1 otherwise)
 */
public record PooledChoices(Batch batch, int[] exampleRows, int[] gold, Pooling pooling, Scoring scoring, int labels,
                            double temperature, int headWeight, int headBias) {
    /** Mean over the row's real positions, its first position, or the encoder's pooler output. */
    public enum Pooling {
        MEAN, CLS, POOLER
    }

    /** The scores of an example's labels. */
    public enum Scoring {
        HEAD, SIMILARITY
    }

    /**
     * The loss from the forward's output: {@code hidden} [rows·seq, h] (the pooler's [rows, h] for POOLER) as floats;
     * for the head its weight [labels, h] and bias [labels] as floats.
     */
    public float loss(float[] hidden, int h, float[] w, float[] bias) {
        int seq = pooling == Pooling.POOLER ? 1 : batch.seq();
        int n = exampleRows.length;
        double[][] s = new double[n][labels];
        if (scoring == Scoring.HEAD) {
            for (int x = 0; x < n; x++) {
                double[] p = pool(hidden, exampleRows[x], seq, h);
                for (int c = 0; c < labels; c++) {
                    double z = bias[c];
                    for (int i = 0; i < h; i++) {
                        z += (double) w[c * h + i] * p[i];
                    }
                    s[x][c] = z;
                }
            }
        } else {
            double[][] unit = new double[n + labels][];
            for (int r = 0; r < n + labels; r++) {
                double[] p = pool(hidden, r, seq, h);
                float[] v = new float[h];
                for (int i = 0; i < h; i++) {
                    v[i] = (float) p[i]; // similarity pools into float32
                }
                double norm = 0;
                for (int i = 0; i < h; i++) {
                    norm += (double) v[i] * v[i];
                }
                norm = Math.sqrt(norm);
                unit[r] = new double[h];
                for (int i = 0; i < h; i++) {
                    unit[r][i] = norm == 0 ? 0 : v[i] / norm;
                }
            }
            for (int x = 0; x < n; x++) {
                for (int c = 0; c < labels; c++) {
                    double dot = 0;
                    for (int i = 0; i < h; i++) {
                        dot += unit[x][i] * unit[n + c][i];
                    }
                    s[x][c] = dot / temperature;
                }
            }
        }
        return (float) ChoiceScorer.crossEntropy(s, gold);
    }

    private double[] pool(float[] hidden, int r, int seq, int h) {
        double[] p = new double[h];
        if (pooling != Pooling.MEAN) {
            for (int i = 0; i < h; i++) {
                p[i] = hidden[r * seq * h + i];
            }
            return p;
        }
        int count = 0;
        for (int t = 0; t < seq; t++) {
            if (batch.mask()[r * seq + t] != 0) {
                count++;
                for (int i = 0; i < h; i++) {
                    p[i] += hidden[(r * seq + t) * h + i];
                }
            }
        }
        for (int i = 0; i < h; i++) {
            p[i] /= count;
        }
        return p;
    }
}
