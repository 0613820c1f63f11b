package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.BundledModel;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.io.TextCorpus;
import org.zotune.fixtures.HfFixtures;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Evaluator;

/** The Hugging Face export: names, layouts and values as Hugging Face wrote them; exported runs load back. */
class HfExportTest {
    @TempDir
    Path dir;

    /**
     * Loading a Hugging Face checkpoint (GPT-2's Conv1D weights are transposed on load) and exporting it unchanged
     * must give back the file transformers wrote: the same names, shapes, dtypes and bytes.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "opt-post", "llama-gqa"})
    void exportOfAnUnchangedModelIsTheOriginalFile(String fixture) {
        Path src = HfFixtures.load(fixture).modelDir();
        LoadedModel m = ModelLoader.load(src);
        Path out = dir.resolve(fixture);
        HfExport.write(out, src, null, m.config(), m.parameters(), Map.of("format", "pt"));
        Map<String, HostTensor> original = SafetensorsFile.open(src.resolve("model.safetensors")).tensors();
        Map<String, HostTensor> exported = SafetensorsFile.open(out.resolve("model.safetensors")).tensors();
        assertEquals(original.keySet(), exported.keySet());
        for (String name : original.keySet()) {
            HostTensor a = original.get(name);
            HostTensor b = exported.get(name);
            assertEquals(a.dtype(), b.dtype(), name);
            assertArrayEquals(a.shape(), b.shape(), name);
            assertEquals(a.bytes(), b.bytes(), name);
        }
        assertTrue(Files.isRegularFile(out.resolve("config.json")));
    }

    /**
     * A trained run's model/ folder (llama2.c source, so config.json is written by zotune) loads with ModelLoader
     * and its own tokenizer, and scores the dev text exactly as the trainer's final evaluation did.
     */
    @Test
    void trainedRunExportLoadsBackWithTheSameLoss() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        Trainer.Summary s = TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, "optimizer:",
                "  name: zo-adamu", "  lr: 3e-4", "steps: 6")), TrainRuns.quiet());
        Path model = run.resolve("model");
        JsonNode cfg = new ObjectMapper().readTree(model.resolve("config.json").toFile());
        assertEquals("llama", cfg.path("model_type").asText());
        assertEquals(64, cfg.path("hidden_size").asInt());

        double loss = devLoss(ModelLoader.load(model), model, dev);
        assertEquals(s.finalDev().loss(), loss, 0.0);
        double base = devLoss(ModelLoader.load(BundledModel.get().model()), model, dev);
        assertEquals(s.initialDev().loss(), base, 0.0);
        assertTrue(base != loss, "six steps changed nothing");
    }

    /** The language-model loss of {@code weights} on the dev text in 32-token chunks, tokenized by tokenizerDir's. */
    private static double devLoss(LoadedModel weights, Path tokenizerDir, Path dev) {
        Tokenizer tok = Tokenizers.forModel(tokenizerDir, null);
        List<EncodedExample> chunks = TextCorpus.read(List.of(dev), tok, 32, 0).chunks().stream()
                .map(c -> new EncodedExample("chunk", new int[][] {c}, new int[] {0}, 0)).toList();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(weights.parameters(),
                org.zotune.tensor.DType.F32)) {
            return Evaluator.languageModel(ops, weights.model(), p, chunks, 16, Math.max(0, tok.eosId())).loss();
        }
    }

    /**
     * A run whose best step is its last exports the same θ to best/ and model/: the weights are written once, the
     * second folder's file is a hard link of the first, and each folder is complete on its own.
     */
    @Test
    void bestAndModelAtTheSameStepShareOneWeightsFile() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        Trainer.Summary s = TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, "optimizer:",
                "  name: zo-sgd", "  lr: 3e-4", "steps: 4", "eval_every: 0")), TrainRuns.quiet());
        assertEquals(4, s.bestStep(), "one evaluation, at the last step: the best");
        Path best = run.resolve("best/model.safetensors");
        Path model = run.resolve("model/model.safetensors");
        assertTrue(Files.isSameFile(best, model), "model/ links best/'s weights");
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            assertTrue(Files.isRegularFile(run.resolve("best").resolve(f)), "best/" + f);
            assertTrue(Files.isRegularFile(run.resolve("model").resolve(f)), "model/" + f);
        }
        assertEquals("4", SafetensorsFile.open(model).metadata().get("zotune_step"));
    }

    /**
     * best/ is written on the background writer with the checkpoint of its step while the later steps run: a run
     * whose best step on dev comes before its last has in best/ that step's weights, which score the dev text exactly
     * as the evaluation at that step did (and model/ the last step's, a file of its own).
     */
    @Test
    void bestWrittenInTheBackgroundHoldsTheBestStepsWeights() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path run = dir.resolve("run");
        // a rate too large for this model: the dev loss grows after step 2, so the best step is 2 of 6
        Trainer.Summary s = TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, run, "optimizer:",
                "  name: zo-sgd", "  lr: 1e-2", "steps: 6", "eval_every: 2")), TrainRuns.quiet());
        System.out.println("best step " + s.bestStep() + ", best dev " + s.bestValue());
        assertTrue(s.bestStep() > 0 && s.bestStep() < 6, "a best step before the last: " + s.bestStep());
        Path best = run.resolve("best");
        assertEquals(Long.toString(s.bestStep()),
                SafetensorsFile.open(best.resolve("model.safetensors")).metadata().get("zotune_step"));
        assertTrue(!Files.isSameFile(best.resolve("model.safetensors"), run.resolve("model/model.safetensors")));
        assertEquals(s.bestValue(), devLoss(ModelLoader.load(best), best, dev), 0.0);
    }
}
