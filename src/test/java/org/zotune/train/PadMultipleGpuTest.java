package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.data.split.BatchSampler;
import org.zotune.model.BundledModel;
import org.zotune.model.tokenizer.Tokenizers;

/**
 * Key pad_multiple through real CUDA runs (classification on the bundled model, rows of very different lengths, so
 * that the batches' longest rows differ from step to step): auto records 16 in run.json and captures one graph per
 * bucket the batches met (computed here from the trainer's sampler), pad_multiple 1 at least one per distinct
 * longest row; the two runs' losses agree
 * within 1e-4 relative (the same rows, only padded further: on the GPU the products of another shape may round
 * differently); a run with auto resumes bit for bit.
 */
@Tag("gpu")
class PadMultipleGpuTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private TrainConfig config(Path out, String... extra) throws IOException {
        Path rows = dir.resolve("rows.jsonl");
        String[] words = {"the", "cat", "sat", "on", "a", "mat", "and", "was", "happy", "sad", "in", "park"};
        StringBuilder s = new StringBuilder();
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 24; i++) {
            int n = 1 + (i * 7) % 23; // 1 .. 23 words: longest rows from a few tokens to max_length
            List<String> t = new ArrayList<>();
            for (int w = 0; w < n; w++) {
                t.add(words[r.nextInt(words.length)]);
            }
            s.append("{\"text\": \"").append(String.join(" ", t)).append("\", \"label\": \"")
                    .append(i % 2 == 0 ? "pos" : "neg").append("\"}\n");
        }
        Files.writeString(rows, s.toString());
        BundledModel b = BundledModel.get();
        return TrainRuns.config(String.join("\n", "model: '" + b.model() + "'", "tokenizer: '" + b.tokenizer() + "'",
                "data:", "  format: jsonl", "  train: '" + rows + "'", "  dev: '" + rows + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: terrible}",
                "objective: classification", "optimizer: {name: zo-sgd, lr: 1e-4}", "batch_size: 3",
                "max_length: 48", "device: cuda", "dtype: f32", "steps: 12", "eval_every: 6", "seed: 7",
                "out: '" + out + "'", String.join("\n", extra), ""));
    }

    private static List<float[]> losses(Path run) throws IOException {
        List<float[]> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.path("type").asText().equals("train")) {
                out.add(new float[] {(float) n.path("loss_plus").get(0).asDouble(),
                    (float) n.path("loss_minus").get(0).asDouble()});
            }
        }
        return out;
    }

    /**
     * The distinct padded lengths of the run's 12 training batches, formed as the trainer forms them (its sampler,
     * examples, padding): to the longest row ({@code multiple} 1), or to it rounded up to the multiple, at most 48.
     */
    static int distinctLengths(TrainConfig c, int multiple) {
        BundledModel b = BundledModel.get();
        TrainData data = TrainData.load(c.data(), Tokenizers.forModel(b.model(), b.tokenizer()), c.maxLength(),
                c.seed());
        BatchSampler sampler = new BatchSampler(data.train().size(), c.batchSize(), c.seed());
        java.util.Set<Integer> lengths = new java.util.TreeSet<>();
        for (int t = 1; t <= c.steps(); t++) {
            int longest = 0;
            for (int i : sampler.batch(t - 1)) {
                for (int[] row : data.train().get(i).rows()) {
                    longest = Math.max(longest, row.length);
                }
            }
            lengths.add(Math.min(c.maxLength(), (longest + multiple - 1) / multiple * multiple));
        }
        return lengths.size();
    }

    @Test
    void autoBucketsCaptureOneGraphPerBucketAndChangeTheLossesByRoundingOnly() throws IOException {
        Path auto = dir.resolve("auto");
        Path one = dir.resolve("one");
        TrainRuns.train(config(auto), TrainRuns.quiet());
        TrainRuns.train(config(one, "pad_multiple: 1"), TrainRuns.quiet());
        assertEquals(16, JSON.readTree(auto.resolve("run.json").toFile()).path("pad_multiple").asInt());
        long capturesAuto = JSON.readTree(auto.resolve("summary.json").toFile()).path("graph_captures").asLong(-1);
        long capturesOne = JSON.readTree(one.resolve("summary.json").toFile()).path("graph_captures").asLong(-1);
        List<float[]> la = losses(auto);
        List<float[]> lo = losses(one);
        double worst = 0;
        for (int t = 0; t < la.size(); t++) {
            for (int i = 0; i < 2; i++) {
                worst = Math.max(worst, Math.abs(la.get(t)[i] - lo.get(t)[i]) / Math.abs(lo.get(t)[i]));
            }
        }
        System.out.printf("pad_multiple auto (16): %d graph captures in 12 steps; pad_multiple 1: %d; l+- max "
                + "relative difference %.2e%n", capturesAuto, capturesOne, worst);
        int bucketed = distinctLengths(config(auto), 16);
        int longest = distinctLengths(config(one), 1);
        System.out.printf("distinct padded lengths of the 12 batches: %d in buckets of 16, %d longest rows%n",
                bucketed, longest);
        assertEquals(bucketed, capturesAuto, "auto: one capture per bucket the batches met");
        // more lengths than the 8 graphs held: a length met again after its graph was dropped is captured again
        assertTrue(capturesOne >= longest, "pad_multiple 1: a capture per longest row the batches met, at least: "
                + capturesOne + " vs " + longest);
        assertTrue(bucketed <= 3 && longest > bucketed, "the data's longest rows vary more than their buckets");
        assertEquals(12, la.size());
        assertTrue(worst < 1e-4, "losses padded to buckets vs to the longest row: " + worst);

        Path c = dir.resolve("c");
        TrainRuns.train(config(c), new Trainer.Options(false, false, 5, false));
        TrainRuns.train(config(c), new Trainer.Options(true, false, 0, false));
        assertEquals(ResumeAndReplayTest.stepRecords(auto), ResumeAndReplayTest.stepRecords(c),
                "auto resumed at step 5: the same steps bit for bit");
    }
}
