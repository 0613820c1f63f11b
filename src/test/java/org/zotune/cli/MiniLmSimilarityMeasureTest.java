package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;

/**
 * A measurement on the real all-MiniLM-L6-v2 (CPU, minutes): a few ZO steps of objective similarity on LM-BFF's SST-2
 * 16-shot training set (seed 13, 32 sentences, one full batch per step) lower the loss on that training set: step
 * t's logged loss ½(ℓ+ + ℓ−) is taken on the whole training set at θ_{t-1} ± εu, so the last step's is compared with
 * the first's; the dev split's (32 other sentences) loss and accuracy before and after are printed too. Runs with
 * -Dzotune.measure=true only.
 */
class MiniLmSimilarityMeasureTest {
    @TempDir
    Path dir;

    @Test
    void zoStepsWithLabelSimilarityLowerTheTrainingLoss() throws IOException {
        Assumptions.assumeTrue(Boolean.getBoolean("zotune.measure"), "a measurement: -Dzotune.measure=true");
        Path model = TestData.file("models/all-MiniLM-L6-v2");
        Path root = TestData.file("datasets/lm-bff-k-shot");
        int steps = Integer.getInteger("zotune.measure.steps", 20);
        Path cfg = Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: similarity", "data:", "  format: kshot", "  task: SST-2", "  k_shot: 16", "  seed: 13",
                "  train: '" + root + "'", "  template: sst2", "optimizer: {name: zo-adamu, lr: 1e-4}",
                "eps: 1e-3", "steps: " + steps, "batch_size: 32", "eval_every: 0", "device: cpu", "seed: 1",
                "out: '" + dir.resolve("out") + "'", ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--set", "data.dev=" + root, "--no-progress");
        assertEquals(0, r.code(), r.err());
        ObjectMapper json = new ObjectMapper();
        JsonNode s = json.readTree(dir.resolve("out/summary.json").toFile());
        double first = Double.NaN;
        double last = Double.NaN;
        for (String line : Files.readAllLines(dir.resolve("out/metrics.jsonl"))) {
            JsonNode m = json.readTree(line);
            if (m.get("type").asText().equals("train")) {
                last = m.get("loss").asDouble();
                first = Double.isNaN(first) ? last : first;
            }
        }
        System.out.printf("MiniLM label similarity, SST-2 16-shot seed 13 (32 train sentences), zo-adamu lr 1e-4, "
                + "%d steps: training loss (step 1 -> %d) %.4f -> %.4f; dev loss %.4f -> %.4f, dev accuracy %.4f -> "
                + "%.4f; %.0f s%n", steps, steps, first, last, s.get("initial_dev").get("loss").asDouble(),
                s.get("final_dev").get("loss").asDouble(), s.get("initial_dev").get("accuracy").asDouble(),
                s.get("final_dev").get("accuracy").asDouble(), s.get("seconds").asDouble());
        assertTrue(last < first, "training loss " + first + " -> " + last);
    }
}
