package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;
import org.zotune.train.DfoParts;
import org.zotune.train.DfoTrainer;
import org.zotune.train.TrainConfig;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.LabelSimilarity;

/**
 * A measurement, not a check (runs with -Dzotune.measure=true only; benchmarks/dfo_minilm_cpu.sh): the article's
 * setting scaled to a small CPU: all-MiniLM-L6-v2, SST-2 16-shot (LM-BFF seed 13: 32 training and 32 dev examples,
 * the 872-sentence test set), label similarity (mean pooling, τ 0.05, "It was terrible." / "It was great."), D = 500,
 * r = 4, λ = 20, the run's own optimisers and schedule (DfoParts.searches, the defaults: alternate, layers,
 * separable), budget -Dzotune.dfo.budget (default 480: 4 generations per layer). Prints the training loss and the
 * dev and test accuracy of the base model and of the result, and the seconds; asserts only that the numbers exist.
 */
class MiniLmDfoMeasureTest {
    @Test
    void sst2SixteenShotSeed13() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        Path folder = TestData.file("models/all-MiniLM-L6-v2");
        Path data = TestData.file("datasets/lm-bff-k-shot/SST-2/16-13");
        long budget = Long.getLong("zotune.dfo.budget", 480);
        String optimizer = System.getProperty("zotune.dfo.optimizer", "alternate");
        TrainConfig c = TrainConfig.parse("minilm.yaml", String.join("\n", "model: minilm", "data:",
                "  format: jsonl", "  train: unused.jsonl", "method: dfo", "seed: 13", "out: unused-run", "dfo:", "  subspace: 500",
                "  rank: 4", "  population: 20", "  budget: " + budget, "  optimizer: " + optimizer, ""), List.of());
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"));
             CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            List<EncodedExample> train = read(tok, data.resolve("train.tsv"));
            List<EncodedExample> dev = read(tok, data.resolve("dev.tsv"));
            List<EncodedExample> test = read(tok, data.resolve("test.tsv"));
            LabelSimilarity sim = new LabelSimilarity(new int[][] {tok.encode("It was terrible."),
                tok.encode("It was great.")}, LabelSimilarity.Pooling.MEAN, LabelSimilarity.DEFAULT_TEMPERATURE, 0);
            PromptBatch batch = PromptBatch.of(train, 0);
            long t0 = System.nanoTime();
            Subspace s = Subspace.forModel(ops, m.model(), p,
                    m.parameters().get(HiddenStatistics.wordEmbedding(m.model())).toFloats(), batch.batch(), 500, 4,
                    c.seed(), c.dfo().alpha(), c.dfo().sigma0());
            BatchedPopulation pop = new BatchedPopulation(ops, m.model(), p, sim, batch, s);
            DfoSearch search = new DfoSearch(pop, DfoParts.searches(c.dfo()), DfoTrainer.settings(c));
            double baseLoss = sim.loss(ops, m.model(), p, batch);
            Evaluator.Result baseDev = Evaluator.evaluate(ops, m.model(), p, dev, 32, 0, sim);
            Evaluator.Result baseTest = Evaluator.evaluate(ops, m.model(), p, test, 32, 0, sim);
            long t1 = System.nanoTime();
            while (!search.done()) {
                DfoSearch.Generation g = search.step();
                System.out.printf("%s (%.1f s)%n", g.line(), (System.nanoTime() - t1) / 1e9);
            }
            double searchSeconds = (System.nanoTime() - t1) / 1e9;
            double[][] best = search.bestPoints();
            try (Parameters merged = ops.createParameters(DfoAdapter.of(s, best).merged(s, m.parameters()),
                    DType.F32)) {
                double loss = sim.loss(ops, m.model(), merged, batch);
                Evaluator.Result resultDev = Evaluator.evaluate(ops, m.model(), merged, dev, 32, 0, sim);
                Evaluator.Result resultTest = Evaluator.evaluate(ops, m.model(), merged, test, 32, 0, sim);
                assertEquals(872, resultTest.examples());
                assertTrue(Double.isFinite(loss));
                System.out.printf("all-MiniLM-L6-v2 SST-2 16-shot seed 13, label similarity, D 500, r 4, lambda 20, "
                        + "%s, schedule layers, budget %d (%d evaluations, %d generations): training loss %.4f -> %.4f;"
                        + " dev accuracy %.4f -> %.4f (loss %.4f -> %.4f); test accuracy %.4f -> %.4f; search %.1f s "
                        + "(%.2f s per generation), total %.1f s%n", optimizer, budget, search.evaluations(),
                        search.position(), baseLoss, loss, baseDev.accuracy(), resultDev.accuracy(), baseDev.loss(),
                        resultDev.loss(), baseTest.accuracy(), resultTest.accuracy(), searchSeconds,
                        searchSeconds / search.position(), (System.nanoTime() - t0) / 1e9);
            }
        }
    }

    /** An LM-BFF SST-2 file: a header, then sentence TAB label (0 negative, 1 positive). */
    private static List<EncodedExample> read(HfTokenizer tok, Path tsv) throws IOException {
        List<String> lines = Files.readAllLines(tsv);
        List<EncodedExample> out = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            String[] f = lines.get(i).split("\t");
            out.add(new EncodedExample(tsv.getFileName() + ":" + (i + 1), new int[][] {tok.encode(f[0].strip())},
                    new int[] {0}, Integer.parseInt(f[1].strip())));
        }
        return out;
    }
}
