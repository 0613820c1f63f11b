package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.data.batch.LengthBuckets;
import org.zotune.model.BundledModel;

/**
 * Key pad_multiple through real CPU runs: a classification run whose batches are padded to buckets of 16 takes the
 * same steps bit for bit and ends at the same weights as one padded to each batch's longest row; the resolved value
 * is recorded in run.json (auto on the CPU: 1; absent in a recorded config: 1); --resume with an explicit other value
 * is refused in one line naming both, and with auto takes the recorded one.
 */
class PadMultipleRunTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private TrainConfig config(Path out, String... extra) throws IOException {
        Path rows = dir.resolve("rows.jsonl");
        String[][] r = {{"the cat sat on the mat and was very happy all day long", "pos"},
            {"the dog ran away", "neg"}, {"a lovely sunny day in the park", "pos"},
            {"the toy broke and she was sad", "neg"}, {"they laughed", "pos"},
            {"he lost his ball in the rain and the wind and then he cried for a long time", "neg"},
            {"mom baked a big sweet cake", "pos"}, {"the bird was hurt", "neg"}};
        StringBuilder s = new StringBuilder();
        for (String[] x : r) {
            s.append("{\"text\": \"").append(x[0]).append("\", \"label\": \"").append(x[1]).append("\"}\n");
        }
        Files.writeString(rows, s.toString());
        BundledModel b = BundledModel.get();
        String yaml = String.join("\n", "model: '" + b.model() + "'", "tokenizer: '" + b.tokenizer() + "'", "data:",
                "  format: jsonl", "  train: '" + rows + "'", "  dev: '" + rows + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: terrible}",
                "objective: classification", "optimizer: {name: zo-sgd, lr: 1e-3}", "batch_size: 3",
                "max_length: 48", "device: cpu", "steps: 6", "eval_every: 3", "seed: 7", "out: '" + out + "'",
                String.join("\n", extra), "");
        return TrainRuns.config(yaml);
    }

    @Test
    void bucketsChangeNoStepOnTheCpuAndARunResumesOnlyWithItsOwn() throws IOException {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        TrainRuns.train(config(a), TrainRuns.quiet());
        TrainRuns.train(config(b, "pad_multiple: 16"), TrainRuns.quiet());
        assertEquals(1, JSON.readTree(a.resolve("run.json").toFile()).path("pad_multiple").asInt(),
                "auto on the CPU engine: each batch padded to its longest row");
        assertEquals(16, JSON.readTree(b.resolve("run.json").toFile()).path("pad_multiple").asInt());
        List<String> la = ResumeAndReplayTest.stepRecords(a);
        System.out.printf("pad_multiple 1:  %s%npad_multiple 16: %s%n", la, ResumeAndReplayTest.stepRecords(b));
        assertEquals(6 + 3, la.size());
        assertEquals(la, ResumeAndReplayTest.stepRecords(b), "the steps padded to buckets of 16");
        assertArrayEquals(Files.readAllBytes(a.resolve("model/model.safetensors")),
                Files.readAllBytes(b.resolve("model/model.safetensors")), "the final weights");
        assertEquals(0, JSON.readTree(a.resolve("summary.json").toFile()).path("graph_captures").asInt(-1),
                "the CPU engine captures no graph");

        Path c = dir.resolve("c");
        TrainRuns.train(config(c, "pad_multiple: 16"), new Trainer.Options(false, false, 3, false));
        String metrics = Files.readString(c.resolve("metrics.jsonl"));
        // an explicit other value is refused; left at auto, --resume takes the recorded one (below)
        ZotuneException x = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(config(c, "pad_multiple: 1"), new Trainer.Options(true, false, 0, false)));
        assertEquals("--resume: " + c.resolve("run.json") + " has pad_multiple 16 (the length buckets the run trained "
                + "with), this start resolves pad_multiple to 1; resume with --set pad_multiple=16", x.getMessage());
        assertEquals(metrics, Files.readString(c.resolve("metrics.jsonl")), "nothing rewritten");
        assertEquals(6, TrainRuns.train(config(c), new Trainer.Options(true, false, 0, false)).steps());
        assertEquals(16, JSON.readTree(c.resolve("run.json").toFile()).path("pad_multiple").asInt(),
                "auto on --resume: the recorded buckets");
        assertEquals(la, ResumeAndReplayTest.stepRecords(c), "resumed at step 3 with its own buckets");
    }

    @Test
    void autoIsBucketsOnCudaAndARecordedConfigWithoutTheKeyRanWithout() throws IOException {
        TrainConfig c = config(dir.resolve("o"));
        assertEquals(0, c.padMultiple());
        assertEquals(1, c.padMultiple(false));
        assertEquals(LengthBuckets.autoMultiple(48), c.padMultiple(true));
        assertEquals(new LengthBuckets(16, 48), c.lengthBuckets(true, 1024));
        assertEquals(new LengthBuckets(16, 40), c.lengthBuckets(true, 40), "never beyond the model's positions");
        assertEquals(5, config(dir.resolve("o"), "pad_multiple: 5").padMultiple(true));
        ZotuneException neg = assertThrows(ZotuneException.class, () -> config(dir.resolve("o"), "pad_multiple: -1"));
        System.out.println("pad_multiple -1: " + neg.getMessage());
        com.fasterxml.jackson.databind.node.ObjectNode json = (com.fasterxml.jackson.databind.node.ObjectNode)
                c.withPadMultiple(16).toJson();
        assertEquals(16, TrainConfig.fromJson("run.json", json.toString()).padMultiple());
        json.remove("pad_multiple");
        assertEquals(TrainConfig.RECORDED_PAD_MULTIPLE_DEFAULT, TrainConfig.fromJson("run.json", json.toString())
                .padMultiple(), "a run recorded before the key padded to the longest row");
        assertEquals(1, TrainConfig.RECORDED_PAD_MULTIPLE_DEFAULT);
    }
}
