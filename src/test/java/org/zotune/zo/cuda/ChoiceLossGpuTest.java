package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.tensor.DType;
import org.zotune.train.objective.CandidateChoices;
import org.zotune.train.objective.PooledChoices;

/**
 * choice_loss.cu against its plain-Java references on awkward shapes (GPU): choice_row_sums bitwise
 * {@link DeviceLoss#rowSums} (seq 1, 7, 33, 1024, 1025, 2100; ignored positions); choice_loss bitwise
 * {@link CandidateChoices#loss} for −accuracy and −F1 (integer counts, IEEE division) and within 1 float32 ulp for
 * the cross-entropy (the device's double exp/log and Java's agree to a few double ulps, which changes the float only
 * near a rounding boundary), on 1–9 examples of 1–5 candidates, ties and NaN rows included; loss_mean bitwise
 * {@link DeviceLoss#mean}; masked_choice_loss in f32, bf16 and f16 within 1 float32 ulp of
 * {@link DeviceLoss.MaskedChoices#reference} (the same exp/log reason), vocabularies up to 50257; pool_rows with
 * head_loss or similarity_loss within 1 ulp of {@link PooledChoices#loss}. Prints each case.
 */
@Tag("gpu")
class ChoiceLossGpuTest {
    @BeforeEach
    void gpu() {
        ZoGpu.assumeGpu();
    }

    @Test
    void rowSumsMatchTheReferenceBitwise() {
        Random rnd = new Random(11);
        try (CudaOps ops = CudaOps.create(DType.F32); ZoKernels k = ZoGpu.kernels()) {
            for (int seq : new int[] {1, 7, 33, 1024, 1025, 2100}) {
                int rows = 1 + rnd.nextInt(13);
                float[] loss = new float[rows * seq];
                int[] targets = new int[rows * seq];
                for (int i = 0; i < loss.length; i++) {
                    targets[i] = rnd.nextInt(4) == 0 ? -1 : rnd.nextInt(1000);
                    loss[i] = targets[i] < 0 ? 0f : 12f * rnd.nextFloat();
                }
                try (Ops.Scope s = ops.scope()) {
                    Tensor tl = ops.tensor(loss, rows * seq, 1);
                    IntTensor tg = ops.ints(targets);
                    Tensor out = ops.scratch(rows, 2);
                    k.choiceRowSums(CudaTensors.address(tl), CudaTensors.address(tg), CudaTensors.address(out),
                            rows, seq, ops.stream());
                    float[] got = ops.toHost(out);
                    float[] want = DeviceLoss.rowSums(loss, targets, seq);
                    int differ = 0;
                    for (int i = 0; i < want.length; i++) {
                        differ += Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i]) ? 1 : 0;
                    }
                    System.out.printf("choice_row_sums rows %d seq %d: %d of %d values differ%n", rows, seq, differ,
                            want.length);
                    assertEquals(0, differ, "choice_row_sums rows " + rows + " seq " + seq);
                }
            }
        }
    }

    @Test
    void choiceLossMatchesTheReference() {
        Random rnd = new Random(12);
        try (CudaOps ops = CudaOps.create(DType.F32); ZoKernels k = ZoGpu.kernels()) {
            for (int trial = 0; trial < 60; trial++) {
                int n = 1 + rnd.nextInt(9);
                int[] first = new int[n];
                int[] cand = new int[n];
                int[] gold = new int[n];
                int rows = 0;
                int classes = 0;
                for (int x = 0; x < n; x++) {
                    first[x] = rows;
                    cand[x] = 1 + rnd.nextInt(trial % 3 == 0 ? 2 : 5);
                    gold[x] = rnd.nextInt(cand[x]);
                    rows += cand[x];
                    classes = Math.max(classes, cand[x]);
                }
                float[] rowSums = new float[2 * rows];
                for (int r = 0; r < rows; r++) {
                    float count = 1 + rnd.nextInt(5);
                    // trial 7: ties (equal sums); trial 13: a NaN row
                    rowSums[2 * r] = trial == 7 ? 3f : (trial == 13 && r == 0 ? Float.NaN : 20f * rnd.nextFloat());
                    rowSums[2 * r + 1] = trial == 7 ? 1f : count;
                }
                for (CandidateChoices.Metric metric : CandidateChoices.Metric.values()) {
                    CandidateChoices c = new CandidateChoices(new int[rows], 1, first, cand, gold, metric, classes);
                    float want = c.loss(rowSums);
                    float got;
                    try (Ops.Scope s = ops.scope()) {
                        Tensor sc = ops.tensor(rowSums, rows, 2);
                        int[] meta = new int[3 * n];
                        System.arraycopy(first, 0, meta, 0, n);
                        System.arraycopy(cand, 0, meta, n, n);
                        System.arraycopy(gold, 0, meta, 2 * n, n);
                        IntTensor mt = ops.ints(meta);
                        Tensor out = ops.scratch(1, 2);
                        k.choiceLoss(CudaTensors.address(sc), CudaTensors.address(mt), n, metric.ordinal(), classes,
                                CudaTensors.address(out), ops.stream());
                        float[] o = ops.toHost(out);
                        assertEquals(1f, o[1]);
                        got = o[0];
                    }
                    String what = "choice_loss " + metric + " trial " + trial + " (" + n + " examples, classes "
                            + classes + "): reference " + want + ", device " + got;
                    if (trial % 20 == 0 || Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got)) {
                        System.out.println(what);
                    }
                    if (Float.isNaN(want)) {
                        assertEquals(true, Float.isNaN(got), what); // a NaN score makes the cross-entropy NaN
                    } else if (metric == CandidateChoices.Metric.CROSS_ENTROPY) {
                        assertEquals(want, got, Math.ulp(want), what);
                    } else {
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), what);
                    }
                }
            }
        }
    }

    @Test
    void lossMeanMatchesTheReferenceBitwise() {
        Random rnd = new Random(13);
        try (CudaOps ops = CudaOps.create(DType.F32); ZoKernels k = ZoGpu.kernels()) {
            for (int m : new int[] {1, 2, 3, 8, 17}) {
                float[] pairs = new float[2 * m];
                for (int j = 0; j < m; j++) {
                    pairs[2 * j] = 100f * rnd.nextFloat();
                    pairs[2 * j + 1] = j % 2 == 0 ? 1f : 1 + rnd.nextInt(300);
                }
                try (Ops.Scope s = ops.scope()) {
                    Tensor p = ops.tensor(pairs, m, 2);
                    Tensor out = ops.scratch(1, 2);
                    k.lossMean(CudaTensors.address(p), m, CudaTensors.address(out), ops.stream());
                    float[] o = ops.toHost(out);
                    float want = DeviceLoss.mean(pairs);
                    System.out.printf("loss_mean m %d: reference %.9g device %.9g%n", m, want, o[0]);
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(o[0]), "loss_mean m " + m);
                    assertEquals(1f, o[1]);
                }
            }
        }
    }

    @Test
    void lossPairSumMatchesTheReferenceBitwise() {
        Random rnd = new Random(15);
        try (CudaOps ops = CudaOps.create(DType.F32); ZoKernels k = ZoGpu.kernels()) {
            for (int[] shape : new int[][] {{1, 1}, {1, 6}, {2, 4}, {3, 12}, {8, 300}}) {
                int world = shape[0];
                int pairs = shape[1];
                float[] gathered = new float[2 * world * pairs];
                for (int r = 0; r < world; r++) {
                    for (int i = 0; i < pairs; i++) {
                        int at = 2 * (r * pairs + i);
                        boolean absent = world > 1 && (i + r) % 3 == 0; // a rank that evaluated no pair sends (0, 0)
                        gathered[at] = absent ? 0f : 1000f * rnd.nextFloat() * (float) Math.pow(2, rnd.nextInt(20) - 10);
                        gathered[at + 1] = absent ? 0f : i % 4 == 0 ? 1f : 1 + rnd.nextInt(5000);
                    }
                }
                try (Ops.Scope s = ops.scope()) {
                    Tensor g = ops.tensor(gathered, world * pairs, 2);
                    Tensor out = ops.scratch(pairs, 2);
                    k.lossPairSum(CudaTensors.address(g), world, pairs, CudaTensors.address(out), ops.stream());
                    float[] o = ops.toHost(out);
                    float[] want = DeviceLoss.pairSum(gathered, world);
                    int differ = 0;
                    for (int i = 0; i < 2 * pairs; i++) {
                        differ += Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(o[i]) ? 1 : 0;
                    }
                    System.out.printf("loss_pair_sum world %d pairs %d: first reference %.9g device %.9g, %d values "
                            + "differ%n", world, pairs, want[0], o[0], differ);
                    assertArrayEquals(want, o, "loss_pair_sum world " + world + " pairs " + pairs);
                }
            }
        }
    }

    @Test
    void maskedChoiceLossMatchesTheReference() {
        Random rnd = new Random(14);
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            try (CudaOps ops = CudaOps.create(dtype); ZoKernels k = ZoGpu.kernels()) {
                for (int[] shape : new int[][] {{1, 7, 2}, {5, 33, 3}, {13, 1000, 7}, {3, 50257, 2}}) {
                    int n = shape[0];
                    int vocab = shape[1];
                    int labels = shape[2];
                    float[] logits = new float[n * vocab];
                    for (int i = 0; i < logits.length; i++) {
                        // values the dtype holds exactly, so the reference reads what the device reads
                        logits[i] = Math.round(8f * (float) rnd.nextGaussian()) / 4f; // quarters below 64: exact in bf16
                    }
                    int[] tokens = new int[labels];
                    for (int l = 0; l < labels; l++) {
                        tokens[l] = (l * 7919 + 3) % vocab;
                    }
                    int[] gold = new int[n];
                    for (int x = 0; x < n; x++) {
                        gold[x] = rnd.nextInt(labels);
                    }
                    DeviceLoss.MaskedChoices loss = new DeviceLoss.MaskedChoices(new int[n], tokens, gold);
                    float want = loss.reference(logits, vocab);
                    float got;
                    try (Ops.Scope s = ops.scope()) {
                        Tensor l = ops.tensor(logits, n, vocab);
                        IntTensor meta = ops.ints(loss.ints().get(0));
                        Tensor out = ops.scratch(1, 2);
                        k.maskedChoiceLoss(dtype, CudaTensors.address(l), CudaTensors.ld(l), CudaTensors.address(meta),
                                n, labels, CudaTensors.address(out), ops.stream());
                        float[] o = ops.toHost(out);
                        assertEquals(1f, o[1]);
                        got = o[0];
                    }
                    String what = "masked_choice_loss " + dtype + " " + n + " x " + vocab + ", " + labels
                            + " labels: reference " + want + ", device " + got;
                    System.out.println(what);
                    assertEquals(want, got, Math.ulp(want), what);
                }
            }
        }
    }

    /**
     * pool_rows + head_loss and pool_rows + similarity_loss against {@link PooledChoices#loss} in three dtypes, mean
     * and first-position pooling, rows with padding, hidden sizes 16, 768, 1000: within 1 float32 ulp (exp/log).
     */
    @Test
    void pooledLossesMatchTheReference() {
        Random rnd = new Random(15);
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            try (CudaOps ops = CudaOps.create(dtype); ZoKernels k = ZoGpu.kernels()) {
                for (int[] shape : new int[][] {{3, 7, 16, 2}, {9, 33, 768, 3}, {2, 1, 1000, 5}}) {
                    int n = shape[0];
                    int seq = shape[1];
                    int h = shape[2];
                    int labels = shape[3];
                    for (PooledChoices.Scoring scoring : PooledChoices.Scoring.values()) {
                        for (PooledChoices.Pooling pooling : new PooledChoices.Pooling[] {PooledChoices.Pooling.MEAN,
                            PooledChoices.Pooling.CLS}) {
                            int rows = scoring == PooledChoices.Scoring.HEAD ? n + 2 : n + labels;
                            int[] mask = new int[rows * seq];
                            for (int r = 0; r < rows; r++) {
                                int len = 1 + rnd.nextInt(seq);
                                for (int t = 0; t < len; t++) {
                                    mask[r * seq + t] = 1;
                                }
                            }
                            float[] hidden = exact(rnd, rows * seq * h);
                            float[] w = exact(rnd, labels * h);
                            float[] bias = exact(rnd, labels);
                            int[] exampleRows = new int[n];
                            int[] gold = new int[n];
                            for (int x = 0; x < n; x++) {
                                exampleRows[x] = scoring == PooledChoices.Scoring.HEAD ? rnd.nextInt(rows) : x;
                                gold[x] = rnd.nextInt(labels);
                            }
                            PooledChoices c = new PooledChoices(new org.zotune.model.Batch(rows, seq, new int[rows * seq],
                                    mask), exampleRows, gold, pooling, scoring, labels, 0.05, 0, 1);
                            float want = c.loss(hidden, h, w, bias);
                            DeviceLoss.Pooled loss = new DeviceLoss.Pooled(mask, seq, exampleRows, gold,
                                    pooling.ordinal(), scoring.ordinal(), labels, 0.05, 0, 1);
                            float got;
                            try (Ops.Scope s = ops.scope()) {
                                Tensor hid = ops.tensor(hidden, rows * seq, h);
                                Tensor wt = ops.tensor(w, labels, h);
                                Tensor bt = ops.tensor(bias, 1, labels);
                                java.util.List<int[]> ints = loss.ints();
                                IntTensor m = ops.ints(ints.get(0));
                                IntTensor meta = ops.ints(ints.get(1));
                                Tensor pooled = ops.scratch(rows * h, 2);
                                Tensor out = ops.scratch(1, 2);
                                k.poolRows(dtype, CudaTensors.address(hid), CudaTensors.address(m), seq, h, rows,
                                        pooling == PooledChoices.Pooling.MEAN ? 0 : 1, CudaTensors.address(pooled),
                                        ops.stream());
                                if (scoring == PooledChoices.Scoring.HEAD) {
                                    k.headLoss(dtype, CudaTensors.address(pooled), CudaTensors.address(wt),
                                            CudaTensors.address(bt), CudaTensors.address(meta), n, labels, h,
                                            CudaTensors.address(out), ops.stream());
                                } else {
                                    k.similarityLoss(CudaTensors.address(pooled), CudaTensors.address(meta), n, labels,
                                            h, 0.05, CudaTensors.address(out), ops.stream());
                                }
                                float[] o = ops.toHost(out);
                                assertEquals(1f, o[1]);
                                got = o[0];
                            }
                            String what = scoring + " " + pooling + " " + dtype + " " + n + " examples, seq " + seq
                                    + ", h " + h + ", " + labels + " labels: reference " + want + ", device " + got;
                            System.out.println(what);
                            assertEquals(want, got, Math.ulp(want), what);
                        }
                    }
                }
            }
        }
    }

    /** Values every dtype holds exactly (quarters below 16), so the reference reads what the device reads. */
    private static float[] exact(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = Math.round(4f * (float) rnd.nextGaussian()) / 4f;
        }
        return v;
    }
}
