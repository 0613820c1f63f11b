package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * Objectives similarity and head (with the body; head pooling mean, cls and BERT's pooler) on the CUDA engine
 * against the CPU engine on a tiny random BertModel: ℓ± of every step within 1e-4 relative (float32 in another
 * order); a linear probe (the head alone under the mask) likewise, its θ the head's two tensors, and a state taken
 * after two steps and restored into a fresh engine continues bitwise. Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class EncoderObjectivesGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private static TrainConfig config(String device, String objective, String opt, String... more) {
        List<String> sets = new ArrayList<>(List.of(
                "objective=" + objective, "device=" + device, "optimizer.name=" + opt, "optimizer.lr=1e-3",
                "eps=1e-2", "dtype=f32", "noise=exact", // compared with the CPU engine: the exact noise
                "similarity.labels={\"0\": \"it was terrible\", \"1\": \"it was great\"}",
                "similarity.temperature=0.5"));
        sets.addAll(List.of(more));
        return TrainConfig.parse("t", "model: x\ndata: {format: jsonl, train: a}\nout: o\n", sets);
    }

    private static PromptBatch batch(HfTokenizer tok) {
        String[] texts = {"the movie was great fun", "dull plot", "a boring film , the acting is bad", "loved it"};
        int[] gold = {1, 0, 0, 1};
        TextRowEncoder enc = new TextRowEncoder(tok, 64);
        List<EncodedExample> ex = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            ex.add(enc.encode("t:" + i, List.of(texts[i]), gold[i]));
        }
        return PromptBatch.of(ex, 0);
    }

    /** ℓ± of the CPU engine's step {@code t} and the GPU engine's within 1e-4 relative (float32 in another order). */
    private static void assertSameLosses(ZoEngine.StepResult cpu, ZoEngine.StepResult gpu, int t) {
        assertEquals(cpu.lossPlus()[0], gpu.lossPlus()[0], 1e-4 * Math.abs(cpu.lossPlus()[0]) + 1e-6, "l+ step " + t);
        assertEquals(cpu.lossMinus()[0], gpu.lossMinus()[0], 1e-4 * Math.abs(cpu.lossMinus()[0]) + 1e-6,
                "l- step " + t);
    }

    @ParameterizedTest
    @CsvSource({"zo-sgd", "zo-adamu"})
    void linearProbeOnTheGpuMatchesTheCpuAndResumesBitwise(String opt) throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 7, false);
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        PrintWriter log = new PrintWriter(new StringWriter());
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            PromptBatch batch = batch(tok);
            TrainConfig cpuConfig = config("cpu", "head", opt, "head.linear_probe=true", "optimizer.lr=0.05");
            TrainConfig gpuConfig = config("cuda", "head", opt, "head.linear_probe=true", "optimizer.lr=0.05");
            Objective obj = EncoderObjectives.objective(cpuConfig, new TextRowEncoder(tok, 64), List.of("0", "1"), 0);
            EncoderObjectives.Head head = EncoderObjectives.Head.of(new SequenceClassifier(m.model(), 2),
                    List.of("0", "1"), cpuConfig.head(), m.parameters(), m.checkpoint());
            boolean[] mask = head.trainable();
            try (ZoEngine c = ZoEngines.create(cpuConfig, head.model(), head.initial(), null, mask, obj, log);
                    ZoEngine g = ZoEngines.create(gpuConfig, head.model(), head.initial(), null, mask, obj, log);
                    ZoEngine again = ZoEngines.create(gpuConfig, head.model(), head.initial(), null, mask, obj, log)) {
                assertEquals("cuda", g.device());
                ZoEngine.State afterTwo = null;
                for (int t = 1; t <= 4; t++) {
                    ZoEngine.StepResult x = c.step(List.of(batch));
                    ZoEngine.StepResult y = g.step(List.of(batch));
                    assertSameLosses(x, y, t); // the body moving on either engine would change the later steps'
                    if (t == 2) {
                        afterTwo = g.state();
                        again.restore(afterTwo);
                    } else if (t > 2) {
                        ZoEngine.StepResult z = again.step(List.of(batch));
                        assertEquals(y.lossPlus()[0], z.lossPlus()[0], "restored: l+ step " + t + " bitwise");
                        assertEquals(y.lossMinus()[0], z.lossMinus()[0], "restored: l- step " + t + " bitwise");
                    }
                }
                assertEquals(2, afterTwo.parameters().size(), "θ is the head's two tensors");
                List<HostTensor> cpuHead = c.exportParameters();
                List<HostTensor> gpuHead = g.exportParameters();
                List<HostTensor> restoredHead = again.exportParameters();
                assertEquals(List.of("classifier.weight", "classifier.bias"),
                        gpuHead.stream().map(HostTensor::name).toList());
                for (int k = 0; k < 2; k++) {
                    float[] a = cpuHead.get(k).toFloats();
                    float[] b = gpuHead.get(k).toFloats();
                    org.junit.jupiter.api.Assertions.assertArrayEquals(b, restoredHead.get(k).toFloats(),
                            "restored engine's " + gpuHead.get(k).name() + " bitwise");
                    double moved = 0;
                    for (int i = 0; i < a.length; i++) {
                        assertEquals(a[i], b[i], 1e-4 * Math.abs(a[i]) + 1e-6, gpuHead.get(k).name() + "[" + i + "]");
                        moved = Math.max(moved, Math.abs(b[i]));
                    }
                    if (k == 0) {
                        org.junit.jupiter.api.Assertions.assertTrue(moved > 0, "the zero head trained");
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"similarity, zo-sgd, mean", "similarity, zo-adamu, mean", "head, zo-sgd, mean", "head, zo-adam, mean",
        "head, zo-sgd, pooler", "head, zo-adamu, cls"})
    void gpuEngineMatchesCpuEngine(String objective, String opt, String pooling) throws IOException {
        Path folder = TinyBertFolder.write(dir.resolve("bert"), 7, false, true); // with the pooler
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        PrintWriter log = new PrintWriter(new StringWriter());
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            PromptBatch batch = batch(tok);
            String pool = objective + ".pooling=" + pooling;
            TrainConfig cpuConfig = config("cpu", objective, opt, pool);
            TrainConfig gpuConfig = config("cuda", objective, opt, pool);
            Objective obj = EncoderObjectives.objective(cpuConfig, new TextRowEncoder(tok, 64), List.of("0", "1"), 0);
            LanguageModel model = m.model();
            List<HostTensor> initial = m.parameters();
            if (objective.equals("head")) {
                EncoderObjectives.Head head = EncoderObjectives.Head.of(new SequenceClassifier(m.model(), 2),
                        List.of("0", "1"), cpuConfig.head(), m.parameters(), m.checkpoint());
                model = head.model();
                initial = head.initial();
            }
            try (ZoEngine c = ZoEngines.create(cpuConfig, model, initial, null, null, obj, log);
                    ZoEngine g = ZoEngines.create(gpuConfig, model, initial, null, null, obj, log)) {
                assertEquals("cuda", g.device());
                for (int t = 1; t <= 3; t++) {
                    ZoEngine.StepResult x = c.step(List.of(batch));
                    ZoEngine.StepResult y = g.step(List.of(batch));
                    assertSameLosses(x, y, t);
                }
            }
        }
    }
}
