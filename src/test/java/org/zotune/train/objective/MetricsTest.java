package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** Accuracy and F1 on hand-made predictions, the expected values worked out by hand in the comments. */
class MetricsTest {
    @Test
    void accuracyAndBinaryF1() {
        int[] pred = {1, 0, 1, 1, 0, 1};
        int[] gold = {1, 0, 0, 1, 1, 1};
        assertEquals(4.0 / 6, Metrics.accuracy(pred, gold), 1e-12);
        // positive class 1: TP = 3 (0, 3, 5), FP = 1 (2), FN = 1 (4): 2·3 / (2·3 + 1 + 1)
        assertEquals(0.75, Metrics.binaryF1(pred, gold, 1), 1e-12);
        assertEquals(0.75, Metrics.f1(pred, gold, 2), 1e-12);
        // class 0 as positive: TP = 1 (1), FP = 1 (4), FN = 1 (2): 2 / 4
        assertEquals(0.5, Metrics.binaryF1(pred, gold, 0), 1e-12);
        // no positive anywhere: 0 by convention
        assertEquals(0.0, Metrics.binaryF1(new int[] {0, 0}, new int[] {0, 0}, 1), 0);
    }

    @Test
    void macroF1() {
        int[] gold = {0, 1, 2, 2, 1, 0};
        int[] pred = {0, 2, 2, 2, 1, 1};
        // class 0: TP 1, FP 0, FN 1 -> 2/3; class 1: TP 1, FP 1, FN 1 -> 1/2; class 2: TP 2, FP 1, FN 0 -> 4/5
        double want = (2.0 / 3 + 0.5 + 0.8) / 3;
        assertEquals(want, Metrics.macroF1(pred, gold, 3), 1e-12);
        assertEquals(want, Metrics.f1(pred, gold, 3), 1e-12);
        assertEquals(want, Metrics.macroF1(pred, gold, 5), 1e-12, "classes in neither gold nor predictions don't count");
        assertEquals(4.0 / 6, Metrics.accuracy(pred, gold), 1e-12); // right at 0, 2, 3, 4
    }

    @Test
    void badInput() {
        assertThrows(ZotuneException.class, () -> Metrics.accuracy(new int[] {1}, new int[] {1, 0}));
        assertThrows(ZotuneException.class, () -> Metrics.accuracy(new int[] {1}, new int[] {-1}));
        assertThrows(ZotuneException.class, () -> Metrics.macroF1(new int[] {3}, new int[] {0}, 3));
        ZotuneException e = assertThrows(ZotuneException.class, () -> Objective.named("bleu"));
        assertEquals("unknown objective 'bleu' (known: lm, classification, accuracy, f1)", e.getMessage());
        assertEquals("f1", Objective.named("f1").name());
    }
}
