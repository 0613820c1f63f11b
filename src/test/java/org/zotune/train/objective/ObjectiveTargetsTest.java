package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;

/**
 * The objectives own their targets: a batch carries unshifted labels, the causal objectives shift them
 * ({@link NextTokenTargets}), {@code lm} declares its token cross-entropy targets (what the captured CUDA step runs)
 * and its loss is exactly that cross-entropy, the candidate objectives declare none, and every causal objective
 * refuses a masked model in one line.
 */
class ObjectiveTargetsTest {
    private static LoadedModel model;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
    }

    /** Example 0: one row, answer from position 2; example 1: two candidates, the gold one is candidate 1. */
    private static PromptBatch batch() {
        EncodedExample lm = new EncodedExample("lm", new int[][] {{1, 40, 41, 42, 43}}, new int[] {2}, 0);
        EncodedExample choice = new EncodedExample("choice", new int[][] {{1, 50, 51, 60}, {1, 50, 51, 70, 71}},
                new int[] {3, 3}, 1);
        return PromptBatch.of(List.of(lm, choice), 0);
    }

    @Test
    void lmTargetsAreTheGoldLabelsShiftedAndItsLossIsTheirCrossEntropy() {
        PromptBatch b = batch();
        int seq = b.batch().seq();
        assertEquals(5, seq);
        assertArrayEquals(new int[] {-1, -1, 41, 42, 43, -1, -1, -1, 60, -1, -1, -1, -1, 70, 71}, b.labels());
        assertArrayEquals(new int[] {-1, -1, 41, 42, 43, -1, -1, -1, -1, -1, -1, -1, -1, 70, 71}, b.goldLabels());
        int[] targets = new CausalLmLoss().tokenTargets(model.model(), b).orElseThrow();
        assertArrayEquals(new int[] {-1, 41, 42, 43, -1, -1, -1, -1, -1, -1, -1, -1, 70, 71, -1}, targets);
        assertArrayEquals(NextTokenTargets.shift(b.goldLabels(), seq), targets);

        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            try (CpuOps ops = new CpuOps(d); Parameters p = ops.createParameters(model.parameters(), d)) {
                float[] ce;
                try (Ops.Scope s = ops.scope()) {
                    Tensor logits = model.model().forward(ops, p, b.batch());
                    ce = ops.toHost(ops.crossEntropy(logits, ops.ints(targets)));
                }
                assertEquals(5, ce[1]);
                float expected = (float) ((double) ce[0] / ce[1]);
                assertEquals(Float.floatToRawIntBits(expected),
                        Float.floatToRawIntBits(new CausalLmLoss().loss(ops, model.model(), p, b)), d.name());
            }
        }
    }

    @Test
    void candidateObjectivesDeclareNoTokenTargets() {
        PromptBatch b = batch();
        for (String name : List.of("classification", "accuracy", "f1")) {
            assertTrue(Objective.named(name).tokenTargets(model.model(), b).isEmpty(), name);
        }
        assertTrue(Objective.named("lm").tokenTargets(model.model(), b).isPresent());
    }

    @Test
    void aBatchWithoutTargetsIsRefusedBeforeTheEngineRunsIt() {
        EncodedExample promptOnly = new EncodedExample("p", new int[][] {{1, 40, 41}}, new int[] {3}, 0);
        PromptBatch b = PromptBatch.of(List.of(promptOnly), 0);
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> new CausalLmLoss().tokenTargets(model.model(), b));
        assertEquals("the batch has no target token (every token is prompt or padding)", e.getMessage());
    }

    @Test
    void causalObjectivesRefuseAMaskedModelInOneLine() {
        LanguageModel masked = new MaskedView(model.model());
        PromptBatch b = batch();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            for (String name : List.of("lm", "classification", "accuracy", "f1")) {
                Objective o = Objective.named(name);
                oneLine(() -> o.loss(ops, masked, p, b), "scores next tokens and needs a causal language model",
                        "this model is masked");
            }
            oneLine(() -> new CausalLmLoss().tokenTargets(masked, b), "objective lm scores next tokens");
            oneLine(() -> Objective.named("classification").loss(ops, masked, p, b),
                    "candidate scoring (objectives classification, accuracy, f1)");
            List<EncodedExample> ex = List.of(new EncodedExample("lm", new int[][] {{1, 40, 41}}, new int[] {1}, 0));
            oneLine(() -> Evaluator.languageModel(ops, masked, p, ex, 1, 0), "objective lm scores next tokens");
            oneLine(() -> Evaluator.evaluate(ops, masked, p, ex, 1, 0), "candidate scoring");
        }
    }

    @Test
    void nextTokenTargetsOfABatchMatchTheShiftedLabelsOfRightPaddedRows() {
        Batch batch = Batch.rightPadded(new int[][] {{5, 6, 7}, {8, 9}}, 0);
        assertArrayEquals(new int[] {6, 7, -1, 9, -1, -1}, NextTokenTargets.of(batch));
        assertArrayEquals(NextTokenTargets.of(batch),
                NextTokenTargets.shift(new int[] {5, 6, 7, 8, 9, -1}, batch.seq()));
        // left padding: the first real token has no real position before it
        Batch left = new Batch(1, 4, new int[] {0, 0, 5, 6}, new int[] {0, 0, 1, 1});
        assertArrayEquals(new int[] {-1, -1, 6, -1}, NextTokenTargets.of(left));
        assertThrows(IllegalArgumentException.class, () -> NextTokenTargets.shift(new int[5], 2));
    }

    private static void oneLine(Executable e, String... parts) {
        ZotuneException x = assertThrows(ZotuneException.class, e);
        for (String part : parts) {
            assertTrue(x.getMessage().contains(part), x.getMessage());
        }
        assertFalse(x.getMessage().contains("\n"), x.getMessage());
    }

    /** The causal model presented as a masked one: only its kind differs. */
    private record MaskedView(LanguageModel causal) implements LanguageModel {
        @Override
        public ModelConfig config() {
            return causal.config();
        }

        @Override
        public Kind kind() {
            return Kind.MASKED;
        }

        @Override
        public List<ParamSpec> params() {
            return causal.params();
        }

        @Override
        public Tensor forward(Ops ops, WeightSource weights, Batch batch) {
            return causal.forward(ops, weights, batch);
        }
    }
}
