package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/** Issue 16 on real runs (bundled stories260K): no silent wrong results, nothing left that blocks a rerun. */
class ReliabilityTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** The bundled model on Austen text; {@code overrides} as on the command line. */
    private TrainConfig config(Path out, String... overrides) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 6_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        return TrainRuns.config(TrainRuns.yaml(train, dev, out), overrides);
    }

    @Test
    void anAbsurdBatchSizeIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path out = dir.resolve("run");
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(config(out, "steps=2", "batch_size=2147483647"), TrainRuns.quiet()));
        assertTrue(e.getMessage().startsWith("key 'batch_size': 2147483647 is more than the "), e.getMessage());
        assertFalse(Files.exists(out));
        TrainRuns.train(config(out, "steps=1"), TrainRuns.quiet()); // the corrected rerun needs no --overwrite
    }

    @Test
    void resumeRefusesChangedTrainingData() throws IOException {
        Path out = dir.resolve("run");
        TrainConfig c = config(out, "steps=3", "data.max_examples=20");
        TrainRuns.train(c, new Trainer.Options(false, false, 1, false));
        String text = Files.readString(dir.resolve("train.txt"));
        Files.writeString(dir.resolve("train.txt"), text.replace('e', 'a')); // same path, other contents
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> TrainRuns.train(c, new Trainer.Options(true, false, 0, false)));
        assertTrue(e.getMessage().startsWith("training data changed since the run started ("), e.getMessage());
    }

    @Test
    void replayRefusesOtherBaseWeightsAndTheFineTunedOutput() throws IOException {
        Path out = dir.resolve("run");
        TrainRuns.train(config(out, "steps=2", "eval_every=0"), TrainRuns.quiet());
        Trajectory.Read tr = Trajectory.read(out.resolve("trajectory.jsonl"));
        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        assertEquals(base.parameters().size(), Replay.run(base, tr).size()); // the right base replays

        // the run's own fine-tuned output: same names and shapes, other values
        LoadedModel tuned = ModelLoader.load(out.resolve("model"));
        String m = assertThrows(ZotuneException.class, () -> Replay.run(tuned, tr)).getMessage();
        assertTrue(m.startsWith("the base model's weights are not those the run started from (the trajectory "
                + "records sha256:"), m);
        // one value of one tensor changed
        HostTensor first = base.parameters().get(0);
        float[] v = first.toFloats();
        v[0] += 1;
        java.util.List<HostTensor> changed = new java.util.ArrayList<>(base.parameters());
        changed.set(0, HostTensors.of(first.name(), v, first.shape(), first.dtype()));
        LoadedModel other = new LoadedModel(base.checkpoint(), base.model(), changed);
        assertThrows(ZotuneException.class, () -> Replay.run(other, tr, "cpu"));
    }

    @Test
    void resumingAnEndedRunReportsItAsItEnded() throws IOException {
        Path out = dir.resolve("run");
        TrainConfig c = config(out, "steps=3", "eval_every=2");
        TrainRuns.train(c, TrainRuns.quiet());
        ObjectNode summary = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        byte[] weights = Files.readAllBytes(out.resolve("model/model.safetensors"));

        // --resume on the completed run, and after a kill between the final checkpoint and summary.json
        for (boolean killed : new boolean[] {false, true}) {
            if (killed) {
                Files.delete(out.resolve("summary.json"));
            }
            TrainRuns.train(c, new Trainer.Options(true, false, 0, false));
            ObjectNode again = (ObjectNode) JSON.readTree(out.resolve("summary.json").toFile());
            again.remove("seconds");
            ObjectNode expected = summary.deepCopy();
            expected.remove("seconds");
            assertEquals(expected, again);
            assertEquals(metrics, Files.readString(out.resolve("metrics.jsonl")));
            assertArrayEquals(weights, Files.readAllBytes(out.resolve("model/model.safetensors")));
        }
    }

    @Test
    void identicalRunsWriteIdenticalModelBytes() throws IOException {
        TrainRuns.train(config(dir.resolve("a"), "steps=1"), TrainRuns.quiet());
        TrainRuns.train(config(dir.resolve("b"), "steps=1"), TrainRuns.quiet());
        assertArrayEquals(Files.readAllBytes(dir.resolve("a/model/model.safetensors")),
                Files.readAllBytes(dir.resolve("b/model/model.safetensors")));
        // the metadata's order no longer depends on the map: a reordered map writes the same bytes
        HostTensor t = HostTensor.ofFloats("x", new float[] {1}, 1);
        Path p = dir.resolve("p.safetensors");
        Path q = dir.resolve("q.safetensors");
        SafetensorsWriter.write(p, java.util.List.of(t), new java.util.LinkedHashMap<>(Map.of("a", "1", "b", "2")));
        java.util.LinkedHashMap<String, String> reversed = new java.util.LinkedHashMap<>();
        reversed.put("b", "2");
        reversed.put("a", "1");
        SafetensorsWriter.write(q, java.util.List.of(t), reversed);
        assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(q));
    }
}
