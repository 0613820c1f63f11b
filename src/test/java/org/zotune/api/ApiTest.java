package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;

/** The public API on the bundled stories260K, CPU. */
class ApiTest {
    @TempDir
    Path dir;

    private Path austen(String name, int chars) throws IOException {
        try (InputStream in = ApiTest.class.getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            Path p = dir.resolve(name);
            Files.writeString(p, s.substring(0, Math.min(chars, s.length())), StandardCharsets.UTF_8);
            return p;
        }
    }

    @Test
    void builderBindsTheSameRecordAsTheYaml() throws IOException {
        Path train = austen("train.txt", 5_000);
        Path out = dir.resolve("run");
        FineTuneConfig built = FineTuneConfig.builder().model(ModelSource.bundled()).textData(train, null)
                .optimizer("zo-adam").lr(1e-3).steps(7).device(Device.CPU).out(out).build();
        FineTuneConfig yaml = FineTuneConfig.parse("t", String.join("\n", "model: bundled", "data:",
                "  format: text", "  train: ['" + train + "']", "optimizer: {name: zo-adam, lr: 1.0e-3}", "steps: 7",
                "device: cpu", "out: '" + out + "'"), List.of());
        assertEquals(yaml, built);
        assertEquals(built, built.toBuilder().build());
        assertEquals("0.9", built.get("optimizer.beta1")); // the YAML's default, not a second copy
        assertNotEquals(built, built.toBuilder().steps(8).build());
    }

    @Test
    void builderErrorsAreTheConfigsOneLineMessages() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> FineTuneConfig.builder()
                .model(ModelSource.bundled()).set("optimizer.lrr", 1).build());
        assertTrue(e.getMessage().startsWith("fine-tune config: "), e.getMessage());
        assertTrue(e.getMessage().contains("optimizer.lrr"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void listenerSeesStepsAndEvaluationsAndStopsTheRunOnABackgroundThread() throws IOException {
        Path train = austen("train.txt", 8_000);
        Path dev = austen("heldout.txt", 800);
        FineTuneConfig c = FineTuneConfig.builder().model(ModelSource.bundled()).textData(train, dev)
                .optimizer("zo-sgd").lr(1e-4).steps(6).batchSize(2).maxLength(32).evalEvery(2)
                .device(Device.CPU).out(dir.resolve("run")).build();
        List<Long> steps = new ArrayList<>();
        List<Long> evals = new ArrayList<>();
        List<String> threads = new ArrayList<>();
        FineTuneListener l = new FineTuneListener() {
            @Override
            public Decision onStep(StepMetrics s) {
                steps.add(s.step());
                threads.add(Thread.currentThread().getName());
                return s.step() == 3 ? Decision.STOP : Decision.CONTINUE;
            }

            @Override
            public Decision onEvaluation(Evaluation e) {
                evals.add(e.step());
                return Decision.CONTINUE;
            }
        };
        FineTuneResult r = FineTune.await(FineTune.of(c).withListener(l).start());
        assertEquals(List.of(1L, 2L, 3L), steps);
        assertEquals(List.of(0L, 2L), evals);
        assertEquals(List.of("zotune-fine-tune"), threads.stream().distinct().toList());
        assertEquals(3, r.steps());
        assertEquals("listener", r.stopped());
        assertEquals(0, r.initialDev().step());
        assertTrue(Files.isRegularFile(r.modelDir().resolve("model.safetensors")));
        // stopped with a checkpoint: resuming finishes the run
        FineTuneResult resumed = FineTune.of(c).withResume().run();
        assertEquals(6, resumed.steps());
        assertEquals("completed", resumed.stopped());
        try (Model m = Model.open(ModelSource.of(resumed.modelDir()), Device.CPU, Precision.F32)) {
            assertEquals(512, m.info().vocabSize());
        }
    }

    @Test
    void modelScoresGeneratesAndRefusesEncoderOnlyCalls() {
        try (Model m = Model.open(ModelSource.bundled(), Device.CPU, Precision.F32)) {
            String text = m.generate("", Generation.greedy(30));
            assertTrue(("Once upon a time, there was a little girl named Lily.").startsWith(text.substring(0, 20)),
                    text);
            int[] ids = m.tokenize("Once upon a time, there was a little girl");
            Score s = m.score("Once upon a time, there was a little girl");
            assertEquals(ids.length, s.tokens());
            assertTrue(s.loss() > 0 && s.loss() < Math.log(512), "loss " + s.loss());
            Logits l = m.logits(ids, 0, ids.length - 1);
            assertEquals(s, l.score());
            assertEquals(512, l.rows()[1].length);
            assertEquals(m.tokenize("Once")[1], argmax(l.rows()[0]), "after BOS the model says 'Once'");
            ZotuneException e = assertThrows(ZotuneException.class, () -> m.fillMask("a [MASK] b", 3));
            assertTrue(e.getMessage().contains("is a decoder"), e.getMessage());
        }
    }

    @Test
    void aBatchOfPromptsGeneratesWhatEachPromptGeneratesAlone() {
        try (Model m = Model.open(ModelSource.bundled(), Device.CPU, Precision.F32)) {
            int[][] prompts = {m.tokenize("Once upon a time"), new int[] {m.bosId()},
                m.tokenize("The little dog ran to the")};
            for (Generation g : new Generation[] {Generation.greedy(20), Generation.sampled(20, 0.8f, 9)}) {
                int[][] batched = m.generate(prompts, g);
                for (int i = 0; i < prompts.length; i++) {
                    assertArrayEquals(m.generate(prompts[i], g, null), batched[i], "prompt " + i + " " + g);
                }
            }
            ZotuneException e = assertThrows(ZotuneException.class,
                    () -> m.generate(new int[][] {{m.bosId()}, {}}, Generation.greedy(3)));
            assertTrue(e.getMessage().startsWith("prompt 1: "), e.getMessage());
            assertThrows(ZotuneException.class, () -> m.generate(new int[0][], Generation.greedy(3)));
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
