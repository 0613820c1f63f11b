package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Padding a batch to a length bucket (key pad_multiple) changes no loss on the CPU: every objective's loss (lm,
 * classification, accuracy, f1; mlm, similarity, head) on the bucketed batch is bitwise its loss on the batch padded
 * to its longest row, and each row's outputs at its real positions (a decoder's logits; an encoder's hidden states,
 * whose bidirectional attention must not read the padding) are bitwise those of the row run alone, unpadded.
 */
class BucketedLossTest {
    @TempDir
    Path dir;

    private static void assertBitwise(float want, float got, String what) {
        assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got), what + ": " + want + " vs " + got);
    }

    /** Row r's values at its real positions in a [rows·seq, width] output. */
    private static float[] realPositions(float[] out, int r, int seq, int len, int width) {
        float[] v = new float[len * width];
        System.arraycopy(out, r * seq * width, v, 0, len * width);
        return v;
    }

    private static void assertRowsAloneEqualBatch(float[] batched, Batch b, List<float[]> alone, int width,
                                                  String what) {
        for (int r = 0; r < b.batch(); r++) {
            float[] want = alone.get(r);
            int len = want.length / width;
            float[] got = realPositions(batched, r, b.seq(), len, width);
            for (int i = 0; i < want.length; i++) {
                if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
                    throw new AssertionError(what + ": row " + r + " (" + len + " tokens, padded to " + b.seq()
                            + ") position " + i / width + " value " + i % width + ": alone " + want[i] + ", batched "
                            + got[i]);
                }
            }
        }
    }

    private static List<int[]> rows(PromptBatch b) {
        List<int[]> out = new ArrayList<>();
        Batch x = b.batch();
        for (int r = 0; r < x.batch(); r++) {
            int len = 0;
            while (len < x.seq() && x.mask()[r * x.seq() + len] != 0) {
                len++;
            }
            out.add(java.util.Arrays.copyOfRange(x.ids(), r * x.seq(), r * x.seq() + len));
        }
        return out;
    }

    @Test
    void decoderLossesAndLogitsAreUnchangedByBucketPadding() {
        BundledModel bundled = BundledModel.get();
        LoadedModel m = ModelLoader.load(bundled.model());
        Llama2cTokenizer tok = Llama2cTokenizer.load(bundled.tokenizer());
        String[][] texts = {{"The cat sat on the mat. It was", " happy", " sad"},
            {"Lily went to the park with her mom and they played on the swings all day. She was", " happy", " sad"},
            {"The dog ran away.", " happy", " sad"}};
        int[] gold = {0, 0, 1};
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < texts.length; x++) {
            int[] prompt = tok.encode(texts[x][0]);
            int[][] rows = new int[2][];
            int[] starts = new int[2];
            for (int c = 0; c < 2; c++) {
                int[] answer = tok.encode(texts[x][0] + texts[x][c + 1]);
                rows[c] = answer;
                starts[c] = prompt.length;
            }
            ex.add(new EncodedExample("x" + x, rows, starts, gold[x]));
        }
        PromptBatch plain = PromptBatch.of(ex, 0);
        int v = m.config().vocabSize();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            for (int multiple : new int[] {16, 7, 40}) {
                PromptBatch bucketed = new LengthBuckets(multiple, 512).pad(plain, 0);
                assertTrue(bucketed.batch().seq() > plain.batch().seq(), "multiple " + multiple + " pads");
                for (String name : new String[] {"lm", "classification", "accuracy", "f1"}) {
                    Objective o = Objective.named(name);
                    float want = o.loss(ops, m.model(), p, plain);
                    float got = o.loss(ops, m.model(), p, bucketed);
                    System.out.printf("bucketed loss, stories260K, %s, rows padded to %d and to %d: %s, %s%n", name,
                            plain.batch().seq(), bucketed.batch().seq(), want, got);
                    assertBitwise(want, got, name + " padded to " + bucketed.batch().seq());
                }
                List<float[]> alone = new ArrayList<>();
                for (int[] row : rows(bucketed)) {
                    alone.add(ops.toHost(m.model().forward(ops, p, Batch.of(row))));
                }
                float[] logits = ops.toHost(m.model().forward(ops, p, bucketed.batch()));
                assertRowsAloneEqualBatch(logits, bucketed.batch(), alone, v, "stories260K logits, multiple "
                        + multiple);
            }
        }
    }

    @Test
    void encoderLossesAndHiddenStatesAreUnchangedByBucketPadding() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 31, true, true);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        int cls = TinyBertFolder.id("[CLS]");
        int sep = TinyBertFolder.id("[SEP]");
        int mask = TinyBertFolder.id("[MASK]");
        String[][] words = {{"the", "movie", "was", "fun"}, {"dull", "plot"},
            {"the", "acting", "is", "bad", ",", "the", "film", "is", "boring"}};
        int[] gold = {1, 0, 0};
        List<EncodedExample> masked = new ArrayList<>();
        List<EncodedExample> plainRows = new ArrayList<>();
        for (int x = 0; x < words.length; x++) {
            List<Integer> ids = new ArrayList<>(List.of(cls));
            for (String w : words[x]) {
                ids.add(TinyBertFolder.id(w));
            }
            List<Integer> prompt = new ArrayList<>(ids);
            prompt.addAll(List.of(TinyBertFolder.id("it"), TinyBertFolder.id("was"), mask, TinyBertFolder.id(".")));
            prompt.add(sep);
            ids.add(sep);
            masked.add(new EncodedExample("m" + x, new int[][] {prompt.stream().mapToInt(i -> i).toArray()},
                    new int[] {0}, gold[x]));
            plainRows.add(new EncodedExample("s" + x, new int[][] {ids.stream().mapToInt(i -> i).toArray()},
                    new int[] {0}, gold[x]));
        }
        int[][] labels = {{cls, TinyBertFolder.id("terrible"), sep}, {cls, TinyBertFolder.id("great"), sep}};
        int h = TinyBertFolder.HIDDEN;
        SequenceClassifier classifier = new SequenceClassifier(m.model(), 2);
        List<HostTensor> headed = new ArrayList<>(m.parameters());
        java.util.Random rnd = new java.util.Random(4);
        for (HostTensor t : classifier.zeroHead()) { // a head with random weights, so that the pooling matters
            float[] w = new float[Math.toIntExact(t.numel())];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) rnd.nextGaussian();
            }
            headed.add(HostTensor.ofFloats(t.name(), w, t.shape()));
        }
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32);
                Parameters withHead = ops.createParameters(headed, DType.F32)) {
            for (int multiple : new int[] {16, 6, 12}) {
                LengthBuckets b = new LengthBuckets(multiple, 64);
                PromptBatch mp = PromptBatch.of(masked, 0);
                PromptBatch mb = b.pad(mp, 0);
                assertTrue(mb.batch().seq() > mp.batch().seq(), "multiple " + multiple + " pads");
                MaskedLmPrompt mlm = new MaskedLmPrompt(mask, new int[] {TinyBertFolder.id("terrible"),
                    TinyBertFolder.id("great")});
                float want = mlm.loss(ops, m.model(), p, mp);
                float got = mlm.loss(ops, m.model(), p, mb);
                System.out.printf("bucketed loss, tiny BERT, mlm, rows padded to %d and to %d: %s, %s%n",
                        mp.batch().seq(), mb.batch().seq(), want, got);
                assertBitwise(want, got, "mlm padded to " + mb.batch().seq());

                PromptBatch sp = PromptBatch.of(plainRows, 0);
                PromptBatch sb = b.pad(sp, 0);
                for (LabelSimilarity.Pooling pooling : LabelSimilarity.Pooling.values()) {
                    LabelSimilarity sim = new LabelSimilarity(labels, pooling, 0.5, 0);
                    assertBitwise(sim.loss(ops, m.model(), p, sp), sim.loss(ops, m.model(), p, sb),
                            "similarity " + pooling + " padded to " + sb.batch().seq());
                    assertEquals(sb.batch().seq(), sim.joint(sb, 1).seq(), "the joint batch keeps the bucket");
                }

                for (HeadClassification.Pooling pooling : HeadClassification.Pooling.values()) {
                    HeadClassification head = new HeadClassification(pooling);
                    assertBitwise(head.loss(ops, classifier, withHead, sp), head.loss(ops, classifier, withHead, sb),
                            "head " + pooling + " padded to " + sb.batch().seq());
                }

                List<float[]> alone = new ArrayList<>();
                for (int[] row : rows(mb)) {
                    alone.add(ops.toHost(m.model().hiddenStates(ops, p, Batch.of(row), null)));
                }
                float[] hidden = ops.toHost(m.model().hiddenStates(ops, p, mb.batch(), null));
                assertRowsAloneEqualBatch(hidden, mb.batch(), alone, h, "tiny BERT hidden states, multiple "
                        + multiple);
            }
        }
    }
}
