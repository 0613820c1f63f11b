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
        return counts(predictions, gold, c).f1();
    }

    /**
     * Class c's counts over the examples: its true positives, how many were predicted as it, how many are it.
     * Precision, recall and F1 follow from them, each 0 when its denominator is 0 (scikit-learn's zero_division=0).
     */
    public record ClassCounts(int truePositives, int predicted, int support) {
        public double precision() {
            return predicted == 0 ? 0 : (double) truePositives / predicted;
        }

        public double recall() {
            return support == 0 ? 0 : (double) truePositives / support;
        }

        /** 2·TP / (2·TP + FP + FN): TP + FP is {@code predicted}, TP + FN {@code support}. */
        public double f1() {
            int denom = predicted + support;
            return denom == 0 ? 0 : 2.0 * truePositives / denom;
        }
    }

    public static ClassCounts counts(int[] predictions, int[] gold, int c) {
        int tp = 0;
        int predicted = 0;
        int support = 0;
        for (int i = 0; i < gold.length; i++) {
            boolean p = predictions[i] == c;
            boolean g = gold[i] == c;
            tp += p && g ? 1 : 0;
            predicted += p ? 1 : 0;
            support += g ? 1 : 0;
        }
        return new ClassCounts(tp, predicted, support);
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
