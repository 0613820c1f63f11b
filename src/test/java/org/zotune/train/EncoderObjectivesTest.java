package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.data.prompt.TextTemplate;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.peft.TrainableSet;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Data;
import org.zotune.train.objective.HeadClassification;
import org.zotune.train.objective.LabelDescriptions;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * Objectives similarity and head as a run config builds them, on a tiny random BertModel: their losses against a
 * naive computation written here (each text encoded alone, no padding; pooled, cosines or W·p + b and the
 * cross-entropy in double), and the CPU engine's ZO steps with them (every optimiser; the head with the body and as
 * a linear probe) against {@link ZoStep} driven by those naive losses.
 */
class EncoderObjectivesTest {
    @TempDir
    Path dir;

    private static final String[] TEXTS = {"the movie was great fun", "dull plot", "a boring film , the acting is bad",
        "loved it"};
    private static final int[] GOLD = {1, 0, 0, 1};
    private static final String[] DESCRIPTIONS = {"it was terrible", "it was great"};

    private static TrainConfig config(String objective, String... keys) {
        List<String> o = new ArrayList<>(List.of("objective=" + objective));
        o.addAll(List.of(keys));
        return TrainConfig.parse("t", "model: x\ndata: {format: jsonl, train: a}\nout: o\n", o);
    }

    /** Mean over every token (the text alone has no padding) or the first token's state, in double. */
    private static double[] pooled(CpuOps ops, EncoderModel m, WeightSource w, int[] ids, boolean mean) {
        int h = m.config().hiddenSize();
        float[] hs = ops.toHost(m.hiddenStates(ops, w, Batch.of(ids), null));
        double[] p = new double[h];
        for (int i = 0; i < h; i++) {
            if (mean) {
                for (int t = 0; t < ids.length; t++) {
                    p[i] += hs[t * h + i];
                }
                p[i] /= ids.length;
            } else {
                p[i] = hs[i];
            }
        }
        return p;
    }

    private static double ce(double[] s, int gold) {
        double z = 0;
        for (double v : s) {
            z += Math.exp(v);
        }
        return Math.log(z) - s[gold];
    }

    private static double naiveSimilarity(CpuOps ops, EncoderModel m, WeightSource w, int[][] texts, int[][] labels,
            double tau) {
        double total = 0;
        for (int x = 0; x < texts.length; x++) {
            double[] a = pooled(ops, m, w, texts[x], true);
            double[] s = new double[labels.length];
            for (int c = 0; c < labels.length; c++) {
                double[] b = pooled(ops, m, w, labels[c], true);
                double d = 0;
                double na = 0;
                double nb = 0;
                for (int i = 0; i < a.length; i++) {
                    d += a[i] * b[i];
                    na += a[i] * a[i];
                    nb += b[i] * b[i];
                }
                s[c] = d / Math.sqrt(na * nb) / tau;
            }
            total += ce(s, GOLD[x]);
        }
        return total / texts.length;
    }

    private static double naiveHead(CpuOps ops, SequenceClassifier m, WeightSource w, int[][] texts, boolean mean) {
        int h = m.config().hiddenSize();
        float[] wt = ops.toHost(w.weight(m.headWeight()));
        float[] b = ops.toHost(w.weight(m.headBias()));
        double total = 0;
        for (int x = 0; x < texts.length; x++) {
            double[] p = pooled(ops, m, w, texts[x], mean);
            double[] s = new double[m.labels()];
            for (int c = 0; c < s.length; c++) {
                s[c] = b[c];
                for (int i = 0; i < h; i++) {
                    s[c] += wt[c * h + i] * p[i];
                }
            }
            total += ce(s, GOLD[x]);
        }
        return total / texts.length;
    }

    private static PromptBatch batch(int[][] texts) {
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            ex.add(new EncodedExample("t:" + i, new int[][] {texts[i]}, new int[] {0}, GOLD[i]));
        }
        return PromptBatch.of(ex, 0);
    }

    private static List<HostTensor> randomHead(int labels, int h, long seed) {
        Random r = new Random(seed);
        float[] w = new float[labels * h];
        float[] b = new float[labels];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        return List.of(HostTensor.ofFloats(SequenceClassifier.WEIGHT, w, labels, h),
                HostTensor.ofFloats(SequenceClassifier.BIAS, b, labels));
    }

    @Test
    void aZeroHeadPredictsUniformlyAndAHeadsLossIsTheNaiveOne() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 31, false);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json")); CpuOps ops = new CpuOps()) {
            TextRowEncoder enc = new TextRowEncoder(tok, 64);
            int[][] texts = new int[TEXTS.length][];
            for (int i = 0; i < texts.length; i++) {
                texts[i] = enc.encode("t", List.of(TEXTS[i]), GOLD[i]).rows()[0];
            }
            for (int labels : new int[] {2, 3, 6}) {
                SequenceClassifier model = new SequenceClassifier(m.model(), labels);
                List<HostTensor> zero = new ArrayList<>(m.parameters());
                zero.addAll(model.zeroHead());
                for (String pooling : new String[] {"mean", "cls"}) {
                    Objective o = EncoderObjectives.objective(config("head", "head.pooling=" + pooling), enc,
                            List.of("a", "b"), 0);
                    try (Parameters p = ops.createParameters(zero, DType.F32)) {
                        assertEquals((float) Math.log(labels), o.loss(ops, model, p, batch(texts)),
                                labels + " labels, " + pooling);
                    }
                    List<HostTensor> random = new ArrayList<>(m.parameters());
                    random.addAll(randomHead(labels, TinyBertFolder.HIDDEN, labels));
                    try (Parameters p = ops.createParameters(random, DType.F32)) {
                        double want = naiveHead(ops, model, p, texts, pooling.equals("mean"));
                        assertEquals(want, o.loss(ops, model, p, batch(texts)), 1e-5 * (1 + want),
                                labels + " labels, " + pooling);
                    }
                }
            }
        }
    }

    /**
     * A dev file that lists fewer labels than training (its own label list is shorter) is re-indexed onto the training
     * set's labels, for objective mlm as for similarity and head: gold indices and label words follow training's order.
     */
    @Test
    void devWithFewerLabelsIsIndexedByTheTrainingLabels() throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 3, true);
        Path train = java.nio.file.Files.writeString(dir.resolve("train.jsonl"), String.join("\n",
                "{\"text\": \"a dull plot\", \"label\": \"bad\"}", "{\"text\": \"a fun film\", \"label\": \"good\"}",
                "{\"text\": \"the movie\", \"label\": \"meh\"}", ""));
        Path dev = java.nio.file.Files.writeString(dir.resolve("dev.jsonl"), String.join("\n",
                "{\"text\": \"the plot\", \"label\": \"meh\"}",
                "{\"text\": \"a fun movie\", \"label\": \"good\"}", ""));
        Data d = TrainConfig.parse("t", "model: x\ndata: {format: jsonl, train: a}\nout: o\n",
                List.of("data.train=" + train, "data.dev=" + dev, "data.template='{text} it was [MASK] .'",
                        "data.verbalizer={bad: terrible, good: great, meh: movie}")).data();
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            var template = TrainData.maskedTemplate(d);
            TrainData masked = TrainData.loadMasked(d, org.zotune.data.batch.MaskedPromptEncoder.of(tok, 0, 64),
                    template, 1);
            // the reader sorts labels: train [bad, good, meh], dev [good, meh]
            assertEquals(List.of(2, 1), masked.dev().stream().map(EncodedExample::gold).toList());
            assertEquals(List.of("terrible", "great", "movie"), template.words());
            TrainData enc = TrainData.loadEncoded(d, new TextRowEncoder(tok, 64), TextTemplate.fields("x"), 0,
                    1);
            assertEquals(List.of("bad", "good", "meh"), enc.labels());
            assertEquals(List.of(2, 1), enc.dev().stream().map(EncodedExample::gold).toList());
        }
    }

    @Test
    void builtInLabelDescriptionsFollowTheTasksVerbalizers() {
        assertEquals(Map.of("0", "It was terrible.", "1", "It was great."), LabelDescriptions.builtin("sst2"));
        assertEquals("It was okay.", LabelDescriptions.builtin("SST-5").get("2"));
        assertEquals(Map.of("contradiction", "No", "entailment", "Yes", "neutral", "Maybe"),
                LabelDescriptions.builtin("mnli"));
        assertEquals("Sports", LabelDescriptions.builtin("agnews").get("1"));
    }

    /**
     * The engine's steps against ZoStep over the same trainable tensors with the naive loss: ℓ±, g and θ agree to
     * float rounding (the engine's batch is padded, the naive texts are not).
     */
    @ParameterizedTest
    @CsvSource({"similarity, zo-sgd", "similarity, zo-sgd-mmt", "similarity, zo-adam", "similarity, zo-adamu",
        "head, zo-sgd", "head, zo-adamu", "probe, zo-sgd", "probe, zo-adam"})
    void engineStepsEqualTheReferenceStepOnNaiveLosses(String kind, String opt) throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 7, false);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        boolean probe = kind.equals("probe");
        TrainConfig c = kind.equals("similarity")
                ? config("similarity", "similarity.labels={\"0\": \"" + DESCRIPTIONS[0] + "\", \"1\": \""
                        + DESCRIPTIONS[1] + "\"}", "similarity.temperature=0.5", "optimizer.name=" + opt,
                        "optimizer.lr=" + (opt.startsWith("zo-sgd") ? "1e-2" : "1e-3"))
                : config("head", "head.linear_probe=" + probe, "optimizer.name=" + opt,
                        "optimizer.lr=" + (opt.startsWith("zo-sgd") ? "1e-1" : "1e-2"));
        long steps = 3;
        ZoStep.Config sc = new ZoStep.Config(1e-2, 1, PerturbationStrategy.SHADOW, 1, 5, DType.F32, 11);
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json")); CpuOps ops = new CpuOps()) {
            TextRowEncoder enc = new TextRowEncoder(tok, 64);
            int[][] texts = new int[TEXTS.length][];
            for (int i = 0; i < texts.length; i++) {
                texts[i] = enc.encode("t", List.of(TEXTS[i]), GOLD[i]).rows()[0];
            }
            int[][] labels = {enc.description("0", DESCRIPTIONS[0]), enc.description("1", DESCRIPTIONS[1])};
            Objective objective = EncoderObjectives.objective(c, enc, List.of("0", "1"), 0);
            LanguageModel model;
            List<HostTensor> initial = new ArrayList<>(m.parameters());
            boolean[] trainable = null;
            if (kind.equals("similarity")) {
                model = m.model();
            } else {
                SequenceClassifier sc2 = new SequenceClassifier(m.model(), 2);
                EncoderObjectives.Head head = EncoderObjectives.Head.of(sc2, List.of("0", "1"), c.head(),
                        m.parameters(), m.checkpoint());
                model = sc2;
                initial = head.initial();
                trainable = head.trainable();
                assertEquals(probe, trainable != null);
            }
            List<ParamSpec> specs = model.params();
            List<ParamSpec> set = TrainableSet.of(specs, trainable).specs();
            // the reference: ZoStep over the set's tensors; the rest as loaded
            float[][] theta = new float[set.size()][];
            for (int k = 0; k < set.size(); k++) {
                theta[k] = initial.get(specs.indexOf(set.get(k))).toFloats();
            }
            final List<HostTensor> base = initial;
            ZoStep ref = new ZoStep(sc, ZoOptimizers.create(c.optimizer(), steps, new NoiseLayout(set)), theta);
            PromptBatch b = batch(texts);
            try (CpuZoEngine engine = new CpuZoEngine(model, initial, null, trainable, objective,
                    ZoOptimizers.create(c.optimizer(), steps, new NoiseLayout(set)), c.optimizer().lrSchedule(steps),
                    sc)) {
                for (int t = 1; t <= steps; t++) {
                    ZoStep.Result r = ref.step((th, mb) -> {
                        List<HostTensor> hs = new ArrayList<>(base);
                        for (int k = 0; k < th.length; k++) {
                            hs.set(specs.indexOf(set.get(k)), HostTensor.ofFloats(set.get(k).name(), th[k],
                                    set.get(k).shape()));
                        }
                        try (Parameters p = ops.createParameters(hs, DType.F32)) {
                            return (float) (kind.equals("similarity")
                                    ? naiveSimilarity(ops, m.model(), p, texts, labels, 0.5)
                                    : naiveHead(ops, (SequenceClassifier) model, p, texts, true));
                        }
                    });
                    ZoEngine.StepResult e = engine.step(List.of(b));
                    float lp = r.lossPlus()[0];
                    float lm = r.lossMinus()[0];
                    float g = r.projectedGradient()[0];
                    assertEquals(lp, e.lossPlus()[0], 2e-6 * (1 + Math.abs(lp)), "l+ at step " + t);
                    assertEquals(lm, e.lossMinus()[0], 2e-6 * (1 + Math.abs(lm)), "l- at step " + t);
                    assertEquals(g, e.projectedGradient()[0], 1e-3 * (1 + Math.abs(g)), "g at step " + t);
                    assertTrue(lp != lm, "the perturbation changes the loss at step " + t);
                }
                List<HostTensor> out = engine.exportParameters();
                assertEquals(set.size(), out.size());
                double moved = 0;
                for (int k = 0; k < set.size(); k++) {
                    float[] got = out.get(k).toFloats();
                    float[] start = initial.get(specs.indexOf(set.get(k))).toFloats();
                    for (int i = 0; i < got.length; i++) {
                        assertEquals(theta[k][i], got[i], 1e-5 * (1 + Math.abs(theta[k][i])), set.get(k).name());
                        moved = Math.max(moved, Math.abs(got[i] - start[i]));
                    }
                }
                assertTrue(moved > 1e-4, "the steps moved θ: " + moved);
            }
        }
    }
}
