package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * Resume and replay on real runs (bundled stories260K, Austen text): a run stopped after k steps and resumed
 * reports the same losses and projected gradients at every later step as a run that never stopped, and ends with
 * the same weights; replaying its trajectory without forward passes rebuilds those weights bit for bit.
 */
class ResumeAndReplayTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({
        "zo-adamu, 1e-4, shadow, 1, 1, f32",
        "zo-adam, 1e-4, in-place, 1, 2, f32",
        "zo-sgd-mmt, 1e-5, shadow, 2, 1, f32",
        "zo-sgd, 1e-4, shadow, 1, 1, bf16",
        "zo-sgd, 1e-4, in-place, 1, 1, f16",   // f16 in place: stochastic rounding to f16, MeZO's fp16 setting
    })
    void resumedRunEqualsUninterruptedAndReplayRebuildsTheWeights(String opt, double lr, String perturbation, int q,
            int accumulation, String dtype) throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        String[] extra = {"optimizer:", "  name: " + opt, "  lr: " + lr, "  schedule: linear", "steps: 10",
            "eval_every: 3", "perturbation: " + perturbation, "q: " + q, "grad_accumulation: " + accumulation,
            "dtype: " + dtype};
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, a, extra)), TrainRuns.quiet());
        TrainConfig cb = TrainRuns.config(TrainRuns.yaml(train, dev, b, extra));
        Trainer.Summary first = TrainRuns.train(cb, new Trainer.Options(false, false, 4, false));
        assertEquals(4, first.steps());
        assertEquals("stop-after", first.stopped());
        Trainer.Summary resumed = TrainRuns.train(cb, new Trainer.Options(true, false, 0, false));
        assertEquals(10, resumed.steps());

        List<String> la = stepRecords(a);
        List<String> lb = stepRecords(b);
        assertEquals(10 + 5, la.size()); // 10 steps, dev at 0, 3, 6, 9, 10
        assertEquals(la, lb);
        assertEquals(trajectorySteps(a), trajectorySteps(b));

        Map<String, HostTensor> wa = SafetensorsFile.open(a.resolve("model/model.safetensors")).tensors();
        Map<String, HostTensor> wb = SafetensorsFile.open(b.resolve("model/model.safetensors")).tensors();
        assertSameTensors(wa, wb);

        // the run changed the weights, so the replay below has something to reproduce
        LoadedModel base = ModelLoader.load(BundledModel.get().model());
        HostTensor trained = wa.get("model.layers.0.self_attn.q_proj.weight");
        assertFalse(bytes(trained).equals(bytes(base.parameters().get(2))), "training left q_proj unchanged");
        assertEquals("model.layers.0.self_attn.q_proj.weight", base.parameters().get(2).name());

        List<HostTensor> replayed = Replay.run(base, Trajectory.read(a.resolve("trajectory.jsonl")));
        assertEquals(base.parameters().size(), replayed.size());
        for (HostTensor r : replayed) {
            assertEquals(bytes(wa.get(r.name())), bytes(r), r.name());
        }
    }

    /** Every step's losses and projected gradients and every evaluation, as written (no timings). */
    static List<String> stepRecords(Path run) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.path("type").asText().equals("train")) {
                out.add(n.path("t") + " " + n.path("loss_plus") + " " + n.path("loss_minus") + " " + n.path("g") + " "
                        + n.path("lr") + " " + n.path("skipped"));
            } else if (n.path("split").asText().equals("dev")) {
                out.add("dev " + n.path("t") + " " + n.path("loss"));
            }
        }
        return out;
    }

    static List<String> trajectorySteps(Path run) throws IOException {
        List<String> lines = Files.readAllLines(run.resolve("trajectory.jsonl"));
        assertTrue(lines.get(0).contains("zotune-trajectory"));
        return lines.subList(1, lines.size());
    }

    static void assertSameTensors(Map<String, HostTensor> a, Map<String, HostTensor> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k).shape(), b.get(k).shape(), k);
            assertEquals(bytes(a.get(k)), bytes(b.get(k)), k);
        }
    }

    static ByteBuffer bytes(HostTensor t) {
        return t.bytes();
    }

    static void assertDifferent(HostTensor x, HostTensor y) {
        assertNotEquals(bytes(x), bytes(y));
    }
}
