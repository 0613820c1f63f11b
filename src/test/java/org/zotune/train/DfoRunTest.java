package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.dfo.SearchFixtures;
import org.zotune.model.BundledModel;

/**
 * A dfo run through its run folder on the bundled model, with the synthetic quadratic as its population loss and the
 * test-local random search as its optimisers: progress, metrics, subspace.json, checkpoints, and a resumed run equal
 * to an uninterrupted one bit for bit.
 */
class DfoRunTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    static String yaml(Path dir, Path out, String... dfo) throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"text\": \"the cat was happy\", \"label\": \"pos\"}\n"
                + "{\"text\": \"the dog was sad\", \"label\": \"neg\"}\n"
                + "{\"text\": \"a good day\", \"label\": \"pos\"}\n");
        return String.join("\n", "model: bundled", "data:", "  format: jsonl", "  train: '" + f + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: bad}", "method: dfo",
                "device: cpu", "out: '" + out + "'", "seed: 5", "dfo:", String.join("\n", dfo), "");
    }

    private static Trainer.Summary run(TrainConfig c, Trainer.Options o, StringWriter log) {
        BundledModel b = BundledModel.get();
        int population = c.dfo().population();
        return new DfoTrainer(c, b.model(), b.tokenizer(), o, new PrintWriter(log, true),
                in -> new SearchFixtures.Quadratic(in.loaded().config().numLayers(), in.config().dfo().subspace()),
                new SearchFixtures.Factory(population)).run();
    }

    private static Trainer.Options options(boolean resume, long stopAfter) {
        return new Trainer.Options(resume, false, stopAfter, false);
    }

    private static String[] section(String schedule) {
        return new String[] {"  optimizer: alternate", "  subspace: 8", "  population: 4", "  budget: 83",
            "  schedule: " + schedule};
    }

    @Test
    void aRunLogsEachGenerationAndWritesItsBestPointsAndACheckpoint() throws IOException {
        Path out = dir.resolve("run");
        TrainConfig c = TrainConfig.parse("t.yaml", yaml(dir, out, section("rounds")), java.util.List.of());
        StringWriter log = new StringWriter();
        Trainer.Summary s = run(c, options(false, 0), log);
        assertEquals(20, s.steps()); // ⌊83 / 4⌋ generations
        assertEquals("completed", s.stopped());
        assertEquals(20, log.toString().lines().filter(l -> l.startsWith("dfo: generation ")).count(), log.toString());
        assertTrue(log.toString().contains("dfo: generation 20/20 layer"), log.toString());
        assertTrue(log.toString().contains("evals 80/83"), log.toString());
        long dfoLines = Files.readAllLines(out.resolve("metrics.jsonl")).stream().filter(l -> l.contains("\"dfo\""))
                .count();
        assertEquals(20, dfoLines);
        JsonNode sub = JSON.readTree(out.resolve(DfoTrainer.SUBSPACE).toFile());
        int layers = sub.path("layers").asInt();
        assertEquals(org.zotune.model.ModelLoader.loadAny(BundledModel.get().model()).config().numLayers(), layers);
        assertEquals(80, sub.path("evaluations").asLong());
        assertEquals(5, sub.path("projection_seed").asLong());
        assertEquals(layers, sub.path("z").size());
        assertEquals(8, sub.path("z").path(0).size());
        for (int l = 0; l < layers; l++) { // every layer was searched: its best is a finite loss
            assertTrue(Double.isFinite(sub.path("best_loss").path(l).asDouble()));
        }
        JsonNode st = JSON.readTree(out.resolve("checkpoint/step-20/state.json").toFile());
        assertEquals(80, st.path("evaluations").asLong());
        assertEquals(83, st.path("budget").asLong());
        assertTrue(Files.isRegularFile(out.resolve("summary.json")));
    }

    @Test
    void aResumedRunEqualsAnUninterruptedOneBitForBit() throws IOException {
        for (String schedule : new String[] {"rounds", "layers"}) {
            Path whole = dir.resolve("whole-" + schedule);
            Path parts = dir.resolve("parts-" + schedule);
            String[] dfo = section(schedule); // layers: ⌊83 / (4·L)⌋ generations per layer
            run(TrainConfig.parse("t.yaml", yaml(dir, whole, dfo), java.util.List.of()), options(false, 0),
                    new StringWriter());
            TrainConfig c = TrainConfig.parse("t.yaml", yaml(dir, parts, dfo), java.util.List.of());
            Trainer.Summary first = run(c, options(false, 3), new StringWriter());
            assertEquals("stop-after", first.stopped());
            assertEquals(3, first.steps());
            JsonNode st = JSON.readTree(parts.resolve("checkpoint/step-3/state.json").toFile());
            assertEquals(12, st.path("evaluations").asLong(), "the budget counter is in the checkpoint");
            run(c, options(true, 7), new StringWriter());
            StringWriter log = new StringWriter();
            Trainer.Summary last = run(c, options(true, 0), log);
            assertTrue(log.toString().contains("resuming " + parts + " at generation 7 (28 of 83 evaluations)"),
                    log.toString());
            assertEquals("completed", last.stopped());
            for (String f : new String[] {"metrics.jsonl", DfoTrainer.SUBSPACE}) {
                assertEquals(Files.readString(whole.resolve(f)), Files.readString(parts.resolve(f)), schedule + " " + f);
            }
            String ck = "checkpoint/step-" + last.steps() + "/search.bin";
            assertArrayEquals(Files.readAllBytes(whole.resolve(ck)), Files.readAllBytes(parts.resolve(ck)),
                    schedule + " " + ck);
            assertFalse(Files.exists(parts.resolve("checkpoint/step-7")), "older checkpoints are removed");
        }
    }

    @Test
    void resumeWithAChangedDfoSectionOrADamagedCheckpointIsOneLine() throws IOException {
        Path out = dir.resolve("run");
        TrainConfig c = TrainConfig.parse("t.yaml", yaml(dir, out, section("rounds")), java.util.List.of());
        run(c, options(false, 2), new StringWriter());
        TrainConfig changed = TrainConfig.parse("t.yaml", yaml(dir, out, section("rounds")),
                java.util.List.of("dfo.sigma0=2"));
        ZotuneException e = assertThrows(ZotuneException.class, () -> run(changed, options(true, 0),
                new StringWriter()));
        assertTrue(e.getMessage().contains("key 'dfo.sigma0'"), e.getMessage());
        Path bin = out.resolve("checkpoint/step-2/search.bin");
        byte[] b = Files.readAllBytes(bin);
        Files.write(bin, java.util.Arrays.copyOf(b, b.length - 5));
        e = assertThrows(ZotuneException.class, () -> run(c, options(true, 0), new StringWriter()));
        assertTrue(e.getMessage().contains("search.bin") && e.getMessage().contains("cut short"), e.getMessage());
    }
}
