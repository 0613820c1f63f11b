package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.dfo.PopulationFixtures.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.HeadClassification;
import org.zotune.train.objective.LabelSimilarity;
import org.zotune.train.objective.MaskedLmPrompt;
import org.zotune.train.objective.NegativeAccuracy;

/**
 * The captured DFO generation on CUDA ({@link DeviceGeneration}) against the same device work launched op by op, the
 * eager generation and the members evaluated one at a time, over eight generations per case: three at layer 0 (other
 * layers at zero) with λ = 5, three at the last layer with layer 0 at a non-zero point (a new key: the graph is
 * freed, the next generation captures anew), two more there with λ = 3; the first generation of a key runs
 * uncaptured, the second captures, the third replays. Cases on tiny random models: BERT with the masked-LM prompt,
 * bare BERT with label similarity (mean pooling, and BERT's pooler), BERT with a random classification head (objective
 * head), GPT-2 (packed q|k|v) with prompt classification and the LM loss, OPT with −accuracy, Llama (grouped keys) with
 * the LM loss. Per generation:
 * <ul>
 *   <li>captured == uncaptured device reductions, bit for bit (the graph replays exactly the launches);</li>
 *   <li>captured == the eager generation bit for bit for the LM loss (the same cross_entropy kernels per member, the
 *       same host division) and −accuracy (counts); within one float32 ulp for the cross-entropies of scores
 *       (classification, mlm, similarity, head), which the device forms with its double exp/log where the eager
 *       generation uses Java's (ChoiceLossGpuTest's bound for the same kernels);</li>
 *   <li>captured == each member merged into a copy of the weights (W + B·A) and scored by the objective alone, within
 *       1e-5 relative (float32).</li>
 * </ul>
 * Prints each case's and generation's largest differences. On the CPU: every case has a device reduction and builds
 * it (the host side of the captured generation) for λ = 5 and 3.
 */
class GenerationGraphGpuTest {

    @TempDir
    Path dir;


    /** One generation of the sequence: its layer, λ, whether layer 0's current point is non-zero. */
    private record Step(int layer, int lambda, boolean layer0Set, int capturesAfter, boolean replayed) {
    }

    @Test
    void everyCaseHasADeviceReductionBuiltOnTheHost() throws IOException {
        try (org.zotune.backend.cpu.CpuOps ops = new org.zotune.backend.cpu.CpuOps()) {
            for (Case c : cases()) {
                try (Parameters p = ops.createParameters(c.weights(), DType.F32);
                     BatchedPopulation pop = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(),
                             subspace(c, 1), BatchedPopulation.Mode.GRAPH)) {
                    assertEquals(BatchedPopulation.Mode.EAGER, pop.mode(), c.name());
                    assertEquals("generations eager (backend cpu)", pop.generations(), c.name());
                    assertTrue(pop.deviceReduction(), c.name());
                    for (int lambda : new int[] {5, 3}) {
                        assertTrue(pop.reduction(lambda) != null, c.name() + " λ " + lambda);
                    }
                }
            }
        }
    }

    @Test
    @Tag("gpu")
    void capturedGenerationsEqualUncapturedEagerAndOneAtATime() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        List<String> failures = new ArrayList<>();
        try (CudaOps ops = CudaOps.create(DType.F32)) {
            for (Case c : cases()) {
                run(ops, c, failures);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    private void run(CudaOps ops, Case c, List<String> failures) {
        int last = c.model().config().numLayers() - 1;
        List<Step> steps = List.of(
                new Step(0, 5, false, 0, false), new Step(0, 5, false, 1, true), new Step(0, 5, false, 1, true),
                new Step(last, 5, true, 1, false), new Step(last, 5, true, 2, true), new Step(last, 5, true, 2, true),
                new Step(last, 3, true, 2, false), new Step(last, 3, true, 3, true));
        Subspace s = subspace(c, 31);
        Random r = new Random(31);
        boolean exactEager = c.objective() instanceof CausalLmLoss || c.objective() instanceof NegativeAccuracy;
        try (Parameters p = ops.createParameters(c.weights(), DType.F32);
             BatchedPopulation graph = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                     BatchedPopulation.Mode.GRAPH);
             BatchedPopulation device = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                     BatchedPopulation.Mode.DEVICE);
             BatchedPopulation eager = new BatchedPopulation(ops, c.model(), p, c.objective(), c.train(), s,
                     BatchedPopulation.Mode.EAGER)) {
            assertEquals(BatchedPopulation.Mode.GRAPH, graph.mode(), c.name() + ": " + graph.generations());
            assertEquals(BatchedPopulation.Mode.DEVICE, device.mode(), c.name() + ": " + device.generations());
            double[][] current = new double[s.layers()][D];
            double[] layer0 = gaussian(r, D);
            for (int g = 0; g < steps.size(); g++) {
                Step step = steps.get(g);
                current[0] = step.layer0Set ? layer0 : new double[D];
                double[][] candidates = new double[step.lambda][];
                for (int i = 0; i < candidates.length; i++) {
                    candidates[i] = gaussian(r, D);
                }
                String what = c.name() + " generation " + g + " (layer " + step.layer + ", λ " + step.lambda
                        + (step.layer0Set ? ", layer 0 set" : "") + ")";
                double[] got = graph.losses(step.layer, candidates, current);
                double[] uncaptured = device.losses(step.layer, candidates, current);
                double[] host = eager.losses(step.layer, candidates, current);
                double[] merged = new double[step.lambda];
                for (int i = 0; i < step.lambda; i++) {
                    double[][] points = current.clone();
                    points[step.layer] = candidates[i];
                    try (Parameters m = ops.createParameters(merged(c, s, points), DType.F32)) {
                        merged[i] = c.objective().loss(ops, c.model(), m, c.train());
                    }
                }
                int bitsVsDevice = 0;
                int bitsVsEager = 0;
                double eagerAbs = 0;
                double ulps = 0;
                double mergedAbs = 0;
                double mergedRel = 0;
                for (int i = 0; i < step.lambda; i++) {
                    bitsVsDevice += Double.doubleToRawLongBits(got[i]) != Double.doubleToRawLongBits(uncaptured[i])
                            ? 1 : 0;
                    bitsVsEager += Double.doubleToRawLongBits(got[i]) != Double.doubleToRawLongBits(host[i]) ? 1 : 0;
                    double e = Math.abs(got[i] - host[i]);
                    eagerAbs = Math.max(eagerAbs, e);
                    ulps = Math.max(ulps, e / Math.ulp((float) host[i]));
                    double m = Math.abs(got[i] - merged[i]);
                    mergedAbs = Math.max(mergedAbs, m);
                    mergedRel = Math.max(mergedRel, m / Math.max(1, Math.abs(merged[i])));
                }
                System.out.printf("%s: captures %d, replayed %b; vs uncaptured %d of %d differ; vs eager %d differ, "
                        + "max abs %.3g (%.2f float ulps); vs one at a time max abs %.3g rel %.3g; first loss %.9g%n",
                        what, graph.device().captures(), graph.device().replayed(), bitsVsDevice, step.lambda,
                        bitsVsEager, eagerAbs, ulps, mergedAbs, mergedRel, got[0]);
                if (graph.device().captures() != step.capturesAfter || graph.device().replayed() != step.replayed) {
                    failures.add(what + ": " + graph.device().captures() + " captures, replayed "
                            + graph.device().replayed() + "; expected " + step.capturesAfter + ", " + step.replayed);
                }
                if (device.device().captures() != 0) {
                    failures.add(what + ": the uncaptured population captured a graph");
                }
                if (bitsVsDevice != 0) {
                    failures.add(what + ": " + bitsVsDevice + " losses differ from the uncaptured generation");
                }
                if (exactEager ? bitsVsEager != 0 : ulps > 1) {
                    failures.add(what + ": against the eager generation " + bitsVsEager + " differ, " + ulps
                            + " float ulps");
                }
                if (!(mergedRel <= 1e-5)) {
                    failures.add(what + ": against one member at a time relative " + mergedRel);
                }
                if (!(c.objective() instanceof NegativeAccuracy) && got[0] == got[1]) {
                    failures.add(what + ": members 0 and 1 have the same loss " + got[0]);
                }
            }
        }
    }

    /** The host weights with every layer's W_Q + B_Q·A_Q and W_K + B_K·A_K at its point, in float32. */
    private List<Case> cases() throws IOException {
        List<Case> out = new ArrayList<>();
        int cls = TinyBertFolder.id("[CLS]");
        int sep = TinyBertFolder.id("[SEP]");
        int mask = TinyBertFolder.id("[MASK]");
        // the masked-LM prompt: three examples of 6, 9 and 5 tokens (padded)
        LoadedEncoder mlm = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("mlm"), 11, true));
        out.add(new Case("bert mlm", mlm.model(), mlm.parameters(), new MaskedLmPrompt(mask,
                new int[] {TinyBertFolder.id("terrible"), TinyBertFolder.id("great")}), PromptBatch.of(List.of(
                new EncodedExample("a", new int[][] {{cls, 15, 22, 19, mask, sep}}, new int[] {4}, 1),
                new EncodedExample("b", new int[][] {{cls, 16, 23, 10, 29, 9, 10, mask, sep}}, new int[] {7}, 0),
                new EncodedExample("c", new int[][] {{cls, mask, 8, 20, sep}}, new int[] {1}, 0)), 0)));
        // label similarity and the head: four examples of 6, 9, 5 and 7 tokens
        List<EncodedExample> texts = List.of(
                new EncodedExample("a", new int[][] {{cls, 15, 22, 19, 5, sep}}, new int[] {0}, 1),
                new EncodedExample("b", new int[][] {{cls, 16, 23, 10, 29, 9, 10, 20, sep}}, new int[] {0}, 0),
                new EncodedExample("c", new int[][] {{cls, 31, 8, 20, sep}}, new int[] {0}, 0),
                new EncodedExample("d", new int[][] {{cls, 12, 8, 27, 14, 20, sep}}, new int[] {0}, 1));
        int[][] descriptions = {{cls, TinyBertFolder.id("terrible"), sep},
            {cls, TinyBertFolder.id("great"), TinyBertFolder.id("."), sep}};
        for (boolean pooler : new boolean[] {false, true}) {
            LoadedEncoder e = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("sim" + pooler), 13, false,
                    pooler));
            out.add(new Case("bert similarity " + (pooler ? "pooler" : "mean"), e.model(), e.parameters(),
                    new LabelSimilarity(descriptions, pooler ? LabelSimilarity.Pooling.POOLER
                            : LabelSimilarity.Pooling.MEAN, 0.05, 0), PromptBatch.of(texts, 0)));
        }
        LoadedEncoder bare = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("head"), 7, false, true));
        SequenceClassifier sc = new SequenceClassifier(bare.model(), 2);
        List<HostTensor> headWeights = new ArrayList<>(bare.parameters());
        Random rnd = new Random(3);
        for (HostTensor t : sc.zeroHead()) { // a random head: the zero head scores every label alike
            float[] v = new float[Math.toIntExact(t.numel())];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) rnd.nextGaussian();
            }
            headWeights.add(HostTensor.ofFloats(t.name(), v, t.shape()));
        }
        out.add(new Case("bert head mean", sc, headWeights, new HeadClassification(HeadClassification.Pooling.MEAN),
                PromptBatch.of(texts, 0)));
        ModelConfig gpt2 = new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);
        ModelConfig optPre = new ModelConfig(ModelFamily.OPT, 13, 8, 3, 2, 2, 4, 20, 16, 1e-5,
                ModelConfig.Activation.RELU, true, true, true, 8, 0, null, true, true, 0, 2, 1);
        ModelConfig llama = new ModelConfig(ModelFamily.LLAMA, 17, 12, 2, 4, 2, 6, 20, 32, 1e-6,
                ModelConfig.Activation.SILU, false, true, true, 12, 10000, null, true, true, 1, 2, -1);
        out.add(decoder("gpt2 classification", gpt2, new ClassificationLoss(), 1));
        out.add(decoder("gpt2 lm", gpt2, new CausalLmLoss(), 2));
        out.add(decoder("opt pre-norm accuracy", optPre, new NegativeAccuracy(), 4));
        out.add(decoder("llama lm", llama, new CausalLmLoss(), 5));
        return out;
    }

    /** Three examples of two candidates each, prompts of 5, 2 and 4 tokens, answers of 1 to 3 tokens (padded). */
}
