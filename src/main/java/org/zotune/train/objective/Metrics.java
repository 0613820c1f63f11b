package org.zotune.train.objective;

import org.zotune.ZotuneException;

/**
 * Accuracy and F1 of predictions against gold labels (class indices).
 *
 * <p>F1 of class c = 2·TP / (2·TP + FP + FN), taken as 0 when that denominator is 0. Binary F1 is class 1's F1 (the
 * positive class: "1" for SST-2, "true" for BoolQ/WiC, the second label in general). Macro F1 is the unweighted mean
 * of the per-class F1 over the classes that occur in the gold labels or the predictions (as scikit-learn's
 * {@code f1_score(average="macro")} does).
 */
public final class Metrics {
    private Metrics() {
    }

    public static double accuracy(int[] predictions, int[] gold) {
        check(predictions, gold);
        int right = 0;
        for (int i = 0; i < gold.length; i++) {
            if (predictions[i] == gold[i]) {
                right++;
            }
        }
        return (double) right / gold.length;
    }

    /** Binary F1 for 2 classes, macro F1 for more. */
    public static double f1(int[] predictions, int[] gold, int classes) {
        return classes == 2 ? binaryF1(predictions, gold, 1) : macroF1(predictions, gold, classes);
    }

    public static double binaryF1(int[] predictions, int[] gold, int positive) {
        check(predictions, gold);
        return classF1(predictions, gold, positive);
    }

    public static double macroF1(int[] predictions, int[] gold, int classes) {
        check(predictions, gold);
        boolean[] present = new boolean[classes];
        for (int i = 0; i < gold.length; i++) {
            if (gold[i] >= classes || predictions[i] >= classes || predictions[i] < 0) {
                throw new ZotuneException("class index outside [0, " + classes + ") at example " + i);
            }
            present[gold[i]] = true;
            present[predictions[i]] = true;
        }
        double sum = 0;
        int n = 0;
        for (int c = 0; c < classes; c++) {
            if (present[c]) {
                sum += classF1(predictions, gold, c);
                n++;
            }
        }
        return sum / n;
    }

    private static double classF1(int[] predictions, int[] gold, int c) {
        int tp = 0;
        int fp = 0;
        int fn = 0;
        for (int i = 0; i < gold.length; i++) {
            boolean p = predictions[i] == c;
            boolean g = gold[i] == c;
            if (p && g) {
                tp++;
            } else if (p) {
                fp++;
            } else if (g) {
                fn++;
            }
        }
        int denom = 2 * tp + fp + fn;
        return denom == 0 ? 0 : 2.0 * tp / denom;
    }

    private static void check(int[] predictions, int[] gold) {
        if (predictions.length != gold.length || gold.length == 0) {
            throw new ZotuneException(predictions.length + " predictions for " + gold.length + " gold labels");
        }
        for (int i = 0; i < gold.length; i++) {
            if (gold[i] < 0) {
                throw new ZotuneException("example " + i + " has no gold label");
            }
        }
    }
}
