package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * zotune train with method dfo over a bf16 or f16 base on the CPU (the CPU backend rounding every op's output to the
 * run's dtype), on the bundled stories260K with prompt classification: the run searches to the end, lowers its loss
 * and exports its adapter; its losses stay within bf16's precision of the float32 run's (printed); the exported
 * adapter scores, through {@code zotune eval --adapter} in float32, as the bf16 run's result did within that precision;
 * stopped and resumed it gives the uninterrupted run's files bit for bit, and {@code --resume} with another dtype is
 * one line naming the key; a weight f16 cannot hold is one line.
 */
class DfoDtypeCliTest {
    /** bf16 keeps 8 bits: PopulationPrecisionTest's bound for a member's loss against float32. */
    private static final double BF16_REL = 5e-2;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ROWS = DfoTrainCliTest.ROWS;

    @TempDir
    Path dir;

    /** DfoTrainCliTest's decoder run (population 4, subspace 8, 15 generations) in {@code dtype}. */
    private Path decoder(Path out, String dtype) throws IOException {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        return Files.writeString(dir.resolve(out.getFileName() + ".yaml"), String.join("\n", "model: bundled",
                "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  template: '{text} It was {label}'", "  verbalizer: {pos: great, neg: bad}", "method: dfo",
                "device: cpu", "seed: 3", "dtype: " + dtype, "out: '" + out + "'", "dfo:", "  population: 4",
                "  subspace: 8", "  budget: 60", ""));
    }

    private static CliRun train(Path cfg, String... more) {
        return DfoTrainCliTest.train(cfg, more);
    }

    private static JsonNode json(Path f) throws IOException {
        return JSON.readTree(f.toFile());
    }

    /** The best loss of every generation, from metrics.jsonl. */
    private static double[] generationLosses(Path out) throws IOException {
        List<Double> v = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode o = JSON.readTree(line);
            if (o.path("type").asText().equals("dfo")) {
                v.add(o.path("loss").asDouble());
            }
        }
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static double rel(double got, double want) {
        return Math.abs(got - want) / Math.max(1, Math.abs(want));
    }

    private static JsonNode lastJson(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.outLines();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    @Test
    void aBf16RunLowersTheLossExportsItsAdapterAndStaysCloseToTheFloat32Run() throws IOException {
        Path f32 = dir.resolve("f32");
        Path bf16 = dir.resolve("bf16");
        CliRun a = train(decoder(f32, "f32"));
        assertEquals(0, a.code(), a.err());
        CliRun r = train(decoder(bf16, "bf16"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dfo: device cpu (bf16)"), r.err());
        assertTrue(a.err().contains("dfo: device cpu (f32)"), a.err());
        assertTrue(r.err().contains("dfo: generation 15/15 layer 4"), r.err());
        assertEquals("bf16", json(bf16.resolve("run.json")).path("dtype").asText(), "run.json records the dtype");

        JsonNode s = json(bf16.resolve("summary.json"));
        assertEquals("completed", s.path("stopped").asText());
        assertEquals(15, s.path("steps").asLong());
        double before = s.path("initial_dev").path("loss").asDouble();
        double after = s.path("final_dev").path("loss").asDouble();
        assertTrue(after < before, "the bf16 search lowered nothing: " + before + " -> " + after);
        assertEquals(after, s.path("last_train_loss").asDouble(), 1e-5 * after,
                "the result's training loss and its dev loss (dev is the training set) are the same quantity");
        JsonNode ac = json(bf16.resolve("adapter/adapter_config.json"));
        assertEquals("LORA", ac.path("peft_type").asText());
        assertEquals(4, ac.path("r").asInt());
        assertTrue(SafetensorsFile.open(bf16.resolve("adapter/adapter_model.safetensors")).metadata()
                .containsKey("zotune_base_weights"));

        // against the float32 run: z = 0 differs by the rounding only; the first generation's candidates are the
        // same points (the same seed), so its best loss differs by the rounding too; later generations may follow
        // another path, so they are printed, not bounded
        JsonNode t = json(f32.resolve("summary.json"));
        double before32 = t.path("initial_dev").path("loss").asDouble();
        double after32 = t.path("final_dev").path("loss").asDouble();
        double[] g16 = generationLosses(bf16);
        double[] g32 = generationLosses(f32);
        assertEquals(15, g16.length);
        assertEquals(15, g32.length);
        double most = 0;
        for (int i = 0; i < g16.length; i++) {
            most = Math.max(most, rel(g16[i], g32[i]));
        }
        System.out.printf(Locale.ROOT, "dfo bf16 vs f32 on stories260K: loss at z = 0 %.6f vs %.6f (rel %.3g), "
                + "generation 1 %.6f vs %.6f (rel %.3g), every generation max rel %.3g, result %.6f vs %.6f "
                + "(rel %.3g)%n", before, before32, rel(before, before32), g16[0], g32[0], rel(g16[0], g32[0]), most,
                after, after32, rel(after, after32));
        assertNotEquals(before32, before, "the bf16 run computed in float32");
        assertTrue(rel(before, before32) <= BF16_REL, "z = 0: " + before + " vs float32 " + before32);
        assertTrue(rel(g16[0], g32[0]) <= BF16_REL, "generation 1: " + g16[0] + " vs float32 " + g32[0]);

        // the exported adapter (float32 A and B) on the float32 base scores as the bf16 run's result within bf16's
        // precision
        String[] eval = {"eval", "--model", "bundled", "--data", dir.resolve("d.jsonl").toString(), "--template",
            "{text} It was {label}", "--verbalizer", "pos=great,neg=bad", "--device", "cpu", "--adapter",
            bf16.resolve("adapter").toString()};
        double scored = lastJson(CliRun.of(eval)).path("loss").asDouble();
        System.out.printf(Locale.ROOT, "dfo bf16 result %.6f, its adapter scored in float32 %.6f (rel %.3g)%n", after,
                scored, rel(scored, after));
        assertTrue(rel(scored, after) <= BF16_REL, "adapter in float32 " + scored + " vs the bf16 result " + after);
    }

    @Test
    void aBf16RunStoppedAndResumedGivesTheUninterruptedRunsFilesBitForBit() throws IOException {
        Path whole = dir.resolve("whole");
        Path parts = dir.resolve("parts");
        assertEquals(0, train(decoder(whole, "bf16")).code());
        Path cfg = decoder(parts, "bf16");
        assertEquals(0, train(cfg, "--stop-after", "3").code());
        String latest = Files.readString(parts.resolve("checkpoint/latest.json"));
        train(cfg, "--resume", "--set", "dtype=f32").assertUsageError("--resume", "key 'dtype'");
        train(cfg, "--resume", "--set", "dtype=f16").assertUsageError("--resume", "key 'dtype'");
        assertEquals(latest, Files.readString(parts.resolve("checkpoint/latest.json")), "the refusal wrote nothing");
        assertEquals(0, train(cfg, "--resume", "--stop-after", "7").code());
        CliRun last = train(cfg, "--resume");
        assertEquals(0, last.code(), last.err());
        assertTrue(last.err().contains("resuming"), last.err());
        for (String f : new String[] {"metrics.jsonl", "subspace.json", "adapter/adapter_config.json"}) {
            assertEquals(Files.readString(whole.resolve(f)), Files.readString(parts.resolve(f)), f);
        }
        for (String f : new String[] {"adapter/adapter_model.safetensors", "checkpoint/step-15/search.bin"}) {
            assertArrayEquals(Files.readAllBytes(whole.resolve(f)), Files.readAllBytes(parts.resolve(f)), f);
        }
        JsonNode a = json(whole.resolve("summary.json"));
        JsonNode b = json(parts.resolve("summary.json"));
        for (String k : new String[] {"initial_dev", "final_dev", "last_train_loss"}) {
            assertEquals(a.path(k), b.path(k), k);
        }
    }

    @Test
    void anF16RunSearchesToTheEndAndExportsItsAdapter() throws IOException {
        Path out = dir.resolve("f16");
        CliRun r = train(decoder(out, "f16"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dfo: device cpu (f16)"), r.err());
        JsonNode s = json(out.resolve("summary.json"));
        assertEquals("completed", s.path("stopped").asText());
        assertEquals(15, s.path("steps").asLong());
        double before = s.path("initial_dev").path("loss").asDouble();
        double after = s.path("final_dev").path("loss").asDouble();
        assertTrue(after < before, "the f16 search lowered nothing: " + before + " -> " + after);
        assertTrue(Files.isRegularFile(out.resolve("adapter/adapter_model.safetensors")));
    }

    /**
     * What f16 cannot hold: a weight past its largest finite value (65504) is refused in one line naming the tensor
     * before anything of the run is written (bf16 keeps float32's range and loads it).
     */
    @Test
    void aWeightBeyondF16sRangeIsOneLineBeforeAnythingIsWritten() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Path st = model.resolve("model.safetensors");
        List<HostTensor> tensors = new ArrayList<>();
        String big = null;
        for (HostTensor t : SafetensorsFile.open(st).tensors().values()) {
            if (big == null && t.name().endsWith("attention.self.query.weight")) {
                big = t.name();
                float[] v = t.toFloats();
                v[3] = 1e5f;
                t = HostTensor.ofFloats(t.name(), v, t.shape());
            }
            tensors.add(t);
        }
        SafetensorsWriter.write(st, tensors);
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        Path out = dir.resolve("big");
        Path cfg = Files.writeString(dir.resolve("big.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: mlm", "data:", "  format: jsonl", "  train: '" + data + "'",
                "  template: '{text} It was [MASK].'", "  verbalizer: {pos: great, neg: terrible}", "method: dfo",
                "device: cpu", "dtype: f16", "out: '" + out + "'", "dfo:", "  population: 4", "  subspace: 8",
                "  budget: 40", "  schedule: rounds", ""));
        train(cfg).assertUsageError("tensor " + big, "element 3", "overflows f16", "65504");
        assertTrue(Files.notExists(out.resolve("run.json")), "nothing of the run is written");
    }
}
