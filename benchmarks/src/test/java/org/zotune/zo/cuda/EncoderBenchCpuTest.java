package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.bench.EncoderForwardBench;
import org.zotune.bench.EncoderShapes;
import org.zotune.bench.Gpt2Shapes;
import org.zotune.bench.StepShapes;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;

/**
 * The encoder benchmarks' own code paths on the CPU (issue 12.8; the timings themselves need the GPU host): the shapes
 * are the released models' (their parameter counts as Hugging Face reports them), the mlm step's batch is MeZO's SST-2
 * prompt shape and the step's loss reads it as intended, the forward benchmark's two outputs on a tiny encoder, and
 * StepBench's variant grammar.
 */
class EncoderBenchCpuTest {

    /**
     * num_parameters() of bert-base-uncased / bert-large-uncased as BertForMaskedLM and roberta-base / roberta-large
     * as RobertaForMaskedLM (tied decoder counted once, no pooler), as transformers prints them.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"bert-base, 109514298", "bert-large, 335174458", "roberta-base, 124697433",
        "roberta-large, 355412057"})
    void shapesHaveTheReleasedModelsParameterCounts(String name, long expected) {
        ModelConfig c = EncoderShapes.config(name);
        long n = Architectures.createModel(c).params().stream().mapToLong(ParamSpec::numel).sum();
        assertEquals(expected, n, name);
        assertEquals(c, StepShapes.config(name), "StepBench's rows take the same shape");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"roberta-large", "bert-base"})
    void promptBatchIsMezosSst2ShapeAndTheStepLossReadsIt(String name) {
        ModelConfig c = EncoderShapes.config(name);
        boolean roberta = c.family() == ModelFamily.ROBERTA;
        int mask = roberta ? 50264 : 103;
        Set<Integer> specials = roberta ? Set.of(0, 1, 2, 3, 50264) : Set.of(0, 100, 101, 102, 103);
        PromptBatch pb = EncoderShapes.promptBatch(c, "32x128", 7);
        Batch b = pb.batch();
        assertEquals(32, b.batch());
        assertEquals(128, b.seq());
        assertEquals(32, pb.examples());
        for (int x = 0; x < 32; x++) {
            assertEquals(x % 2, pb.gold()[x], "gold alternates");
            for (int t = 0; t < 128; t++) {
                int i = x * 128 + t;
                int id = b.ids()[i];
                assertEquals(1, b.mask()[i], "full-length rows: no padding");
                if (t == 0) {
                    assertEquals(roberta ? 0 : 101, id, "row " + x + " starts with <s> / [CLS]");
                } else if (t == 127) {
                    assertEquals(roberta ? 2 : 102, id, "row " + x + " ends with </s> / [SEP]");
                } else if (t == 125) {
                    assertEquals(mask, id, "row " + x + ": the mask three from the end");
                } else {
                    assertFalse(specials.contains(id), "row " + x + " position " + t + " holds special id " + id);
                    assertTrue(id >= 0 && id < c.vocabSize());
                }
            }
        }
        LanguageModel lm = Architectures.createModel(c);
        DeviceLoss.MaskedChoices loss = StepBench.maskedLoss(lm, b);
        int[] rows = new int[32];
        int[] gold = new int[32];
        for (int x = 0; x < 32; x++) {
            rows[x] = x * 128 + 125;
            gold[x] = x % 2;
        }
        assertArrayEquals(rows, loss.rows(), "the loss reads each row's mask position");
        assertArrayEquals(gold, loss.gold());
        assertArrayEquals(EncoderShapes.labelTokens(c), loss.tokens());
        assertEquals(2, loss.tokens().length);
        for (int tok : loss.tokens()) {
            assertFalse(specials.contains(tok));
        }
        assertEquals(2, loss.shape().get(2), "two label words");
        assertEquals(0, loss.shape().get(3), "mask rows gathered (not every row)");
    }

    /**
     * On a tiny random RoBERTa: output hidden is [tokens, hidden]; output mlm is [tokens, vocab], and the cross-entropy
     * of its two label columns at the mask rows (computed here from its definition, ALGORITHMS.md §6) equals the loss
     * objective mlm computes on the same prompt batch through the head at the mask rows only.
     */
    @Test
    void forwardOutputsOnATinyEncoderAgreeWithTheMlmObjective() {
        ModelConfig c = EncoderShapes.config(ModelFamily.ROBERTA, 2, 16, 2, 32);
        EncoderModel m = (EncoderModel) Architectures.createModel(c);
        PromptBatch pb = EncoderShapes.promptBatch(c, "4x9", 3);
        Batch b = pb.batch();
        CpuOps ops = new CpuOps();
        try (Parameters w = ops.createParameters(Gpt2Shapes.randomWeights(m.params(), 11), DType.F32)) {
            Tensor hidden = EncoderForwardBench.forward(ops, m, w, b, "hidden");
            assertEquals(36, hidden.rows());
            assertEquals(16, hidden.cols());
            Tensor logits = EncoderForwardBench.forward(ops, m, w, b, "mlm");
            assertEquals(36, logits.rows());
            assertEquals(c.vocabSize(), logits.cols());
            float[] l = ops.toHost(logits);
            int[] words = EncoderShapes.labelTokens(c);
            double ce = 0;
            for (int x = 0; x < 4; x++) {
                int row = x * 9 + 6;
                double s0 = l[row * c.vocabSize() + words[0]];
                double s1 = l[row * c.vocabSize() + words[1]];
                double gold = x % 2 == 0 ? s0 : s1;
                ce += Math.log(Math.exp(s0) + Math.exp(s1)) - gold;
            }
            ce /= 4;
            float objective = EncoderShapes.objective(c).loss(ops, m, w, pb);
            assertEquals(ce, objective, 1e-5 * Math.abs(ce) + 1e-6, "mlm loss from the full logits vs objective mlm");
            assertThrows(IllegalArgumentException.class, () -> EncoderForwardBench.forward(ops, m, w, b, "pooled"));
        }
    }

    @Test
    void variantsNameTheirObjectiveAndRowsRefuseTheWrongOne() {
        StepBench.Variant mlm = StepBench.Variant.parse("sgd-inplace-graph-mlm");
        assertTrue(mlm.mlm());
        assertFalse(mlm.cls());
        assertEquals("mlm", mlm.objective());
        assertEquals("lm", StepBench.Variant.parse("adamu-shadow-eager").objective());
        assertTrue(StepBench.Variant.parse("sgd-inplace-graph-cls").cls());
        assertThrows(IllegalArgumentException.class, () -> StepBench.Variant.parse("sgd-inplace-graph-head"));
        LanguageModel roberta = Architectures.createModel(StepShapes.config("roberta-large"));
        LanguageModel gpt2 = Architectures.createModel(StepShapes.config("gpt2-124M"));
        StepBench.requireObjective(roberta, mlm);
        StepBench.requireObjective(gpt2, StepBench.Variant.parse("sgd-inplace-graph"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StepBench.requireObjective(roberta, StepBench.Variant.parse("sgd-inplace-graph")));
        assertTrue(e.getMessage().contains("sgd-inplace-graph-mlm"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StepBench.requireObjective(gpt2, mlm));
        assertTrue(e.getMessage().contains("needs an encoder"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> EncoderShapes.config("roberta-huge"));
        assertEquals(List.of("bert-base", "bert-large", "roberta-base", "roberta-large"), EncoderShapes.names());
    }
}
