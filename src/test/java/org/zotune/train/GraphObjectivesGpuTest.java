package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.TestData;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CandidateChoices;
import org.zotune.train.objective.Objective;

/**
 * Every objective with a device loss in one captured CUDA graph per step (issue 14.3): on stories260K (float32) the
 * CUDA engine's graph step gives bitwise the ℓ± and the weights of its eager step (-Dzotune.train.graph=false: the
 * objective's own loss on the GPU, g formed on the host), step after step, for classification, −accuracy and −F1 on
 * SST-2 batches, classification and −F1 (macro) on multiple-choice batches of 2–4 candidates, M = 2 micro-batches
 * (lm and the choice objectives) and q = 2, shadow and in place; the masked-LM prompt, objective head and label
 * similarity on tiny random BERTs; and the graph step never calls the objective's loss.
 * Bitwise for the cross-entropy objectives rests on the device's double exp/log rounding to the same float as Java's
 * (they differ by a few double ulps; a float differs only within that of a rounding boundary, ~1e-8 a value): a
 * failure prints both losses. Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class GraphObjectivesGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    @ParameterizedTest(name = "{0} on {1}, {2} {3} q={4} M={5}")
    @CsvSource({
        "classification, sst2, zo-sgd, shadow, 1, 1",
        "classification, sst2, zo-adam, in-place, 1, 1",
        "accuracy, sst2, zo-sgd, shadow, 1, 1",
        "f1, sst2, zo-sgd, in-place, 1, 1",
        "classification, choice, zo-sgd, shadow, 1, 1",
        "f1, choice, zo-sgd-mmt, shadow, 1, 1",
        "lm, sst2, zo-sgd, shadow, 1, 2",
        "classification, sst2, zo-sgd-mmt, in-place, 1, 2",
        "accuracy, choice, zo-sgd, shadow, 1, 2",
        "classification, sst2, zo-sgd, shadow, 2, 1",
        "f1, sst2, zo-sgd, in-place, 2, 2",
        "lm, choice, zo-adamu, in-place, 1, 2",
    })
    void graphStepEqualsEagerStepBitwise(String objective, String data, String opt, String strategy, int q,
                                         int micro) throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        TrainConfig config = TrainRuns.config(String.join("\n", "model: '" + b.model() + "'",
                "tokenizer: '" + b.tokenizer() + "'", "data:", "  format: sst2",
                "  train: '" + TestData.file("datasets/sst2-glue/dev.tsv") + "'", "  template: sst2",
                "  max_examples: 64", "objective: " + objective, "batch_size: 8", "max_length: 64", "device: cuda",
                "out: '" + dir.resolve("o") + "'", "seed: 7", "optimizer:", "  name: " + opt, "  lr: 1e-4",
                "steps: 3", "eps: 1e-3", "perturbation: " + strategy, "q: " + q, "grad_accumulation: " + micro,
                "dtype: f32", ""));
        int steps = 3;
        List<List<PromptBatch>> batches = new ArrayList<>();
        if (data.equals("sst2")) {
            TrainData d = TrainData.load(config.data(), tok, config.maxLength(), config.seed());
            for (int t = 0; t < steps; t++) {
                List<PromptBatch> step = new ArrayList<>();
                for (int i = 0; i < micro; i++) {
                    int from = (t * micro + i) * 6;
                    step.add(PromptBatch.of(d.train().subList(from, from + 6), d.padId()));
                }
                batches.add(step);
            }
        } else {
            Random rnd = new Random(21);
            for (int t = 0; t < steps; t++) {
                List<PromptBatch> step = new ArrayList<>();
                for (int i = 0; i < micro; i++) {
                    step.add(choices(rnd, m.model().config().vocabSize(), new int[] {2, 4, 3, 2, 3}));
                }
                batches.add(step);
            }
        }
        Counting onGraph = new Counting(Objective.named(objective));
        Counting onEager = new Counting(Objective.named(objective));
        PrintWriter log = new PrintWriter(new StringWriter());
        List<float[]> graphLosses = new ArrayList<>();
        List<float[]> eagerLosses = new ArrayList<>();
        List<HostTensor> graphTheta;
        List<HostTensor> eagerTheta;
        try (ZoEngine g = ZoEngines.create(config, m.model(), m.parameters(), onGraph, log)) {
            for (List<PromptBatch> step : batches) {
                graphLosses.add(losses(g.step(step)));
            }
            graphTheta = g.exportParameters();
        }
        System.setProperty(ZoEngines.GRAPH_PROPERTY, "false");
        try (ZoEngine e = ZoEngines.create(config, m.model(), m.parameters(), onEager, log)) {
            for (List<PromptBatch> step : batches) {
                eagerLosses.add(losses(e.step(step)));
            }
            eagerTheta = e.exportParameters();
        } finally {
            System.clearProperty(ZoEngines.GRAPH_PROPERTY);
        }
        String name = objective + " on " + data + ", " + opt + " " + strategy + " q=" + q + " M=" + micro;
        for (int t = 0; t < steps; t++) {
            System.out.printf("%s step %d: graph %s eager %s%n", name, t + 1, Arrays.toString(graphLosses.get(t)),
                    Arrays.toString(eagerLosses.get(t)));
        }
        assertEquals(0, onGraph.losses, name + ": the graph step computes the loss on the device");
        assertEquals(2 * q * micro * steps, onEager.losses, name + ": the eager step calls the objective");
        compare(name, graphLosses, eagerLosses, graphTheta, eagerTheta);
        assertTrue(onGraph.described > 0, name + ": the objective described its loss");
    }

    /**
     * The masked-LM prompt (objective mlm) on a tiny random BertForMaskedLM: the graph step (its forward the MLM
     * head at the mask rows, masked_choice_loss) equals the eager step bitwise, M = 1 and 2, q = 1 and 2.
     */
    @ParameterizedTest(name = "mlm, {0} q={1} M={2}")
    @CsvSource({"shadow, 1, 1", "in-place, 2, 1", "shadow, 1, 2", "in-place, 2, 2"})
    void maskedLmPromptGraphStepEqualsEagerStepBitwise(String strategy, int q, int micro) throws IOException {
        Path folder = org.zotune.model.bert.TinyBertFolder.write(dir.resolve("bert"), 11, true);
        org.zotune.model.LoadedEncoder model = ModelLoader.loadEncoder(folder);
        org.zotune.data.batch.MaskedPromptEncoder enc = org.zotune.data.batch.MaskedPromptEncoder.of(
                org.zotune.model.tokenizer.HfTokenizer.load(folder.resolve("tokenizer.json")), 0, 32);
        java.util.Map<String, String> words = new java.util.LinkedHashMap<>();
        words.put("neg", "terrible");
        words.put("pos", "great");
        org.zotune.data.prompt.MaskedTemplate t = new org.zotune.data.prompt.MaskedTemplate("t",
                "{text} It was [MASK].", words);
        String[] texts = {"the movie is fun", "dull plot", "the acting was boring , the film was bad", "fun",
            "the film is great", "boring", "the plot is fun , the acting is great", "bad"};
        List<org.zotune.data.Example> ex = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            ex.add(new org.zotune.data.Example("d.jsonl:" + (i + 1), java.util.Map.of("text", texts[i]),
                    (i * 5 + 1) % 3 == 0 ? 0 : 1, List.of()));
        }
        List<EncodedExample> encoded = enc.encode(new org.zotune.data.Dataset("d",
                org.zotune.data.Dataset.Kind.CLASSIFICATION, List.of("neg", "pos"), List.of("text"), ex, List.of()),
                t);
        Objective objective = new org.zotune.train.objective.MaskedLmPrompt(enc.maskId(),
                enc.labelTokens(t.words(), false));
        int steps = 3;
        List<List<PromptBatch>> batches = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            List<PromptBatch> step = new ArrayList<>();
            for (int i = 0; i < micro; i++) {
                int from = (s * micro + i) % 2 * 4;
                step.add(PromptBatch.of(encoded.subList(from, from + 3 + i), 0));
            }
            batches.add(step);
        }
        runBoth("mlm " + strategy + " q=" + q + " M=" + micro, model.model(), model.parameters(), objective,
                batches, strategy, q, micro);
    }

    /**
     * Objectives head and similarity on a tiny random BertModel (with a pooler): the graph step (pool_rows and the
     * scores in double on the device) equals the eager step (pooling on the host) bitwise.
     */
    @ParameterizedTest(name = "{0} {1} pooling, {2} q={3} M={4}")
    @CsvSource({
        "head, mean, shadow, 1, 1", "head, cls, in-place, 2, 1", "head, mean, in-place, 1, 2",
        "similarity, mean, shadow, 1, 1", "similarity, cls, in-place, 1, 2", "similarity, pooler, shadow, 2, 1",
    })
    void pooledEncoderObjectivesGraphStepEqualsEagerStepBitwise(String objective, String pooling, String strategy,
                                                               int q, int micro) throws IOException {
        Path folder = org.zotune.model.bert.TinyBertFolder.write(dir.resolve("bert"), 7, false, true);
        org.zotune.model.LoadedEncoder m = ModelLoader.loadEncoder(folder);
        String[] texts = {"the movie was great fun", "dull plot", "a boring film , the acting is bad", "loved it",
            "the film is fun", "bad"};
        int[] gold = {1, 0, 0, 1, 1, 0};
        List<EncodedExample> ex = new ArrayList<>();
        int[][] labelRows;
        try (org.zotune.model.tokenizer.HfTokenizer tok = org.zotune.model.tokenizer.HfTokenizer.load(
                folder.resolve("tokenizer.json"))) {
            org.zotune.data.batch.TextRowEncoder enc = new org.zotune.data.batch.TextRowEncoder(tok, 64);
            for (int i = 0; i < texts.length; i++) {
                ex.add(enc.encode("t:" + i, List.of(texts[i]), gold[i]));
            }
            labelRows = new int[][] {enc.description("0", "it was terrible"), enc.description("1", "it was great")};
        }
        LanguageModel model = m.model();
        List<HostTensor> initial = m.parameters();
        Objective obj;
        if (objective.equals("head")) {
            org.zotune.model.SequenceClassifier sc = new org.zotune.model.SequenceClassifier(m.model(), 2);
            model = sc;
            initial = new ArrayList<>(m.parameters());
            Random rnd = new Random(3);
            for (HostTensor t : sc.zeroHead()) { // a random head: the zero head scores every label alike
                float[] v = new float[Math.toIntExact(t.numel())];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) rnd.nextGaussian();
                }
                initial.add(HostTensor.ofFloats(t.name(), v, t.shape()));
            }
            obj = new org.zotune.train.objective.HeadClassification(
                    org.zotune.train.objective.HeadClassification.Pooling.valueOf(pooling.toUpperCase()));
        } else {
            obj = new org.zotune.train.objective.LabelSimilarity(labelRows,
                    org.zotune.train.objective.LabelSimilarity.Pooling.parse(pooling), 0.5, 0);
        }
        List<List<PromptBatch>> batches = new ArrayList<>();
        for (int s = 0; s < 3; s++) {
            List<PromptBatch> step = new ArrayList<>();
            for (int i = 0; i < micro; i++) {
                int from = (s + i) % 3;
                step.add(PromptBatch.of(ex.subList(from, from + 3 + i), 0));
            }
            batches.add(step);
        }
        runBoth(objective + " " + pooling + " " + strategy + " q=" + q + " M=" + micro, model, initial, obj, batches,
                strategy, q, micro);
    }

    /** Three steps with the captured step and three with the eager step from the same start; compares them. */
    private static void runBoth(String name, LanguageModel model, List<HostTensor> initial, Objective objective,
                                List<List<PromptBatch>> batches, String strategy, int q, int micro) {
        org.zotune.zo.optim.ZoStep.Config zc = new org.zotune.zo.optim.ZoStep.Config(1e-2, q,
                org.zotune.zo.optim.PerturbationStrategy.parse(strategy), micro, 5, org.zotune.tensor.DType.F32, 7);
        org.zotune.zo.optim.ZoOptimizerConfig opt = new org.zotune.zo.optim.ZoSgd.Config(
                org.zotune.zo.optim.LrSchedule.constant(1e-2), 0, org.zotune.zo.noise.Noise.Distribution.GAUSSIAN);
        List<float[]> graphLosses = new ArrayList<>();
        List<float[]> eagerLosses = new ArrayList<>();
        List<HostTensor> graphTheta;
        List<HostTensor> eagerTheta;
        Counting onGraph = new Counting(objective);
        Counting onEager = new Counting(objective);
        try (ZoEngine g = new CudaZoEngine(org.zotune.backend.cuda.CudaOps.create(org.zotune.tensor.DType.F32),
                model, initial, onGraph, opt, org.zotune.zo.optim.LrSchedule.constant(1e-2), zc, true)) {
            for (List<PromptBatch> step : batches) {
                graphLosses.add(losses(g.step(step)));
            }
            graphTheta = g.exportParameters();
        }
        try (ZoEngine e = new CudaZoEngine(org.zotune.backend.cuda.CudaOps.create(org.zotune.tensor.DType.F32),
                model, initial, onEager, opt, org.zotune.zo.optim.LrSchedule.constant(1e-2), zc, false)) {
            for (List<PromptBatch> step : batches) {
                eagerLosses.add(losses(e.step(step)));
            }
            eagerTheta = e.exportParameters();
        }
        for (int s = 0; s < batches.size(); s++) {
            System.out.printf("%s step %d: graph %s eager %s%n", name, s + 1, Arrays.toString(graphLosses.get(s)),
                    Arrays.toString(eagerLosses.get(s)));
        }
        assertEquals(0, onGraph.losses, name + ": the graph step computes the loss on the device");
        assertEquals(2 * q * micro * batches.size(), onEager.losses, name + ": the eager step calls the objective");
        compare(name, graphLosses, eagerLosses, graphTheta, eagerTheta);
    }

    private static void compare(String name, List<float[]> graphLosses, List<float[]> eagerLosses,
                                List<HostTensor> graphTheta, List<HostTensor> eagerTheta) {
        for (int s = 0; s < graphLosses.size(); s++) {
            float[] x = graphLosses.get(s);
            float[] y = eagerLosses.get(s);
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(x[i]), name + " step " + (s + 1)
                        + " loss " + i + ": graph " + x[i] + ", eager " + y[i]);
            }
        }
        int differ = 0;
        for (int p = 0; p < graphTheta.size(); p++) {
            float[] x = graphTheta.get(p).toFloats();
            float[] y = eagerTheta.get(p).toFloats();
            for (int i = 0; i < x.length; i++) {
                differ += Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i]) ? 1 : 0;
            }
        }
        System.out.printf("%s: %d weights differ between graph and eager%n", name, differ);
        assertEquals(0, differ, name + ": weights after " + graphLosses.size() + " steps");
    }

    /** ℓ+ of every sample, then ℓ- of every sample. */
    private static float[] losses(ZoEngine.StepResult r) {
        float[] p = r.lossPlus();
        float[] mi = r.lossMinus();
        float[] out = Arrays.copyOf(p, p.length + mi.length);
        System.arraycopy(mi, 0, out, p.length, mi.length);
        return out;
    }

    /** Multiple-choice examples of random tokens: a 3–8-token prompt, candidates of 1–4 answer tokens. */
    private static PromptBatch choices(Random rnd, int vocab, int[] candidates) {
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < candidates.length; x++) {
            int prompt = 3 + rnd.nextInt(6);
            int[][] rows = new int[candidates[x]][];
            int[] start = new int[candidates[x]];
            for (int c = 0; c < candidates[x]; c++) {
                rows[c] = new int[prompt + 1 + rnd.nextInt(4)];
                for (int t = 0; t < rows[c].length; t++) {
                    rows[c][t] = 1 + rnd.nextInt(vocab - 1);
                }
                start[c] = prompt;
            }
            ex.add(new EncodedExample("mc" + x, rows, start, rnd.nextInt(candidates[x])));
        }
        return PromptBatch.of(ex, 0);
    }

    /** The objective, counting the calls of its loss and of its descriptions. */
    private static final class Counting implements Objective {
        private final Objective o;
        int losses;
        int described;

        Counting(Objective o) {
            this.o = o;
        }

        @Override
        public String name() {
            return o.name();
        }

        @Override
        public float loss(Ops ops, LanguageModel model, WeightSource weights, PromptBatch batch) {
            losses++;
            return o.loss(ops, model, weights, batch);
        }

        @Override
        public Optional<int[]> tokenTargets(LanguageModel model, PromptBatch batch) {
            Optional<int[]> t = o.tokenTargets(model, batch);
            described += t.isPresent() ? 1 : 0;
            return t;
        }

        @Override
        public Optional<CandidateChoices> candidateChoices(LanguageModel model, PromptBatch batch) {
            Optional<CandidateChoices> c = o.candidateChoices(model, batch);
            described += c.isPresent() ? 1 : 0;
            return c;
        }

        @Override
        public Optional<org.zotune.train.objective.MaskedChoices> maskedChoices(LanguageModel model,
                                                                              PromptBatch batch) {
            Optional<org.zotune.train.objective.MaskedChoices> c = o.maskedChoices(model, batch);
            described += c.isPresent() ? 1 : 0;
            return c;
        }

        @Override
        public Optional<org.zotune.train.objective.PooledChoices> pooledChoices(LanguageModel model,
                                                                              PromptBatch batch) {
            Optional<org.zotune.train.objective.PooledChoices> c = o.pooledChoices(model, batch);
            described += c.isPresent() ? 1 : 0;
            return c;
        }
    }
}
