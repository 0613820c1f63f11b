package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/** zotune train / eval / replay / demo through the command line: bad input is one line and exit 2. */
class TrainCliTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    private Path austen(String name, int chars) throws IOException {
        try (InputStream in = getClass().getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return write(name, s.substring(0, Math.min(chars, s.length())));
        }
    }

    /**
     * A classification run on the bundled model over {@code data}; extra lines indented by two spaces belong to the
     * data section, the others are top-level keys.
     */
    private Path classificationConfig(Path data, String... extra) throws IOException {
        List<String> dataKeys = java.util.Arrays.stream(extra).filter(l -> l.startsWith("  ")).toList();
        List<String> top = java.util.Arrays.stream(extra).filter(l -> !l.startsWith("  ")).toList();
        return write("run.yaml", String.join("\n", "model: bundled", "data:", "  format: jsonl",
                "  train: '" + data + "'", String.join("\n", dataKeys), "steps: 2", "batch_size: 2",
                "max_length: 48", "device: cpu", "out: '" + dir.resolve("out") + "'", String.join("\n", top), ""));
    }

    private static final String ROWS = "{\"text\": \"the cat sat on the mat\", \"label\": \"pos\"}\n"
            + "{\"text\": \"the dog ran away\", \"label\": \"neg\"}\n";

    @Test
    void unknownKeyIsOneLineNamingTheValidKeys() throws IOException {
        Path cfg = write("run.yaml", "model: bundled\nbatchsize: 4\n");
        CliRun r = CliRun.of("train", "--config", cfg.toString());
        r.assertUsageError("run.yaml", "unknown key 'batchsize'", "batch_size");
    }

    @Test
    void wrongTypeAndBadOptimizerName() throws IOException {
        Path data = write("d.jsonl", ROWS);
        Path cfg = classificationConfig(data, "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: terrible}");
        CliRun.of("train", "--config", cfg.toString(), "--set", "steps=two").assertUsageError("key 'steps'",
                "integer");
        CliRun.of("train", "--config", cfg.toString(), "--optimizer", "sgd").assertUsageError("optimizer.name",
                "'sgd'", "zo-sgd, zo-sgd-mmt, zo-adam, zo-adamu");
    }

    @Test
    void missingDataFile() throws IOException {
        Path cfg = classificationConfig(dir.resolve("nope.jsonl"));
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("nope.jsonl");
    }

    @Test
    void emptyDataSet() throws IOException {
        Path data = write("empty.jsonl", "\n\n");
        Path cfg = classificationConfig(data);
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("empty.jsonl", "empty");
    }

    /** A decoder scores a prompt, so an sst2 file without data.template is refused before the run folder exists. */
    @Test
    void decoderOnSst2WithoutTemplate() throws IOException {
        Path data = write("train.tsv", "sentence\tlabel\na fine film\t1\na dull film\t0\n");
        Path cfg = write("run.yaml", String.join("\n", "model: bundled", "data:", "  format: sst2",
                "  train: '" + data + "'", "steps: 2", "batch_size: 2", "device: cpu",
                "out: '" + dir.resolve("out") + "'", ""));
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("key 'data.template' is required",
                "train.tsv", "sst2");
        assertFalse(Files.exists(dir.resolve("out")), "a refused run leaves no folder");
    }

    @Test
    void labelWithoutVerbalizerWord() throws IOException {
        Path data = write("d.jsonl", ROWS);
        Path cfg = classificationConfig(data, "  template: '{text} It was {label}'", "  verbalizer: {pos: great}");
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("label 'neg'", "verbalizer");
    }

    @Test
    void templateWithoutItsPlaceholder() throws IOException {
        Path data = write("d.jsonl", ROWS);
        Path cfg = classificationConfig(data, "  template: 'It was {label}'",
                "  verbalizer: {pos: great, neg: terrible}");
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("template", "placeholder");
        Path cfg2 = classificationConfig(data, "  template: '{text} It was'");
        CliRun.of("train", "--config", cfg2.toString()).assertUsageError("template", "{label}");
    }

    @Test
    void classificationRunThenRefusesTheOutFolderUnlessResumeOrOverwrite() throws IOException {
        Path data = write("d.jsonl", ROWS);
        Path cfg = classificationConfig(data, "  template: '{text} It was {label}'",
                "  verbalizer: {pos: great, neg: terrible}", "  dev: '" + data + "'",
                "optimizer: {name: zo-sgd, lr: 1e-5}");
        CliRun ok = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, ok.code(), ok.err());
        JsonNode summary = new ObjectMapper().readTree(ok.outLines().get(ok.outLines().size() - 1));
        assertEquals(2, summary.path("steps").asInt());
        assertTrue(summary.has("dev_accuracy"), ok.out());
        assertTrue(Files.isRegularFile(dir.resolve("out/plots/metric.png")));

        CliRun.of("train", "--config", cfg.toString(), "--no-progress").assertUsageError("already holds a run",
                "--resume", "--overwrite");
        CliRun.of("train", "--config", cfg.toString(), "--no-progress", "--resume", "--steps", "3")
                .assertUsageError("different config", "'steps'");
        CliRun again = CliRun.of("train", "--config", cfg.toString(), "--no-progress", "--overwrite");
        assertEquals(0, again.code(), again.err());

        Files.createDirectories(dir.resolve("other"));
        Files.writeString(dir.resolve("other/file.txt"), "not a run");
        CliRun.of("train", "--config", cfg.toString(), "--no-progress", "--overwrite", "--out",
                dir.resolve("other").toString()).assertUsageError("not a zotune run", "refusing");
    }

    @Test
    void evalAndReplayCommands() throws IOException {
        Path train = austen("train.txt", 8_000);
        Path dev = austen("heldout.txt", 1_500);
        Path cfg = write("lm.yaml", String.join("\n", "model: bundled", "data:", "  format: text",
                "  train: '" + train + "'", "  dev: '" + dev + "'", "optimizer: {name: zo-adamu, lr: 3e-4}",
                "steps: 3", "batch_size: 2", "max_length: 32", "device: cpu", "out: '" + dir.resolve("run") + "'",
                ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        double after = new ObjectMapper().readTree(r.outLines().get(r.outLines().size() - 1))
                .path("dev_loss_after").asDouble();

        CliRun e = CliRun.of("eval", "--model", dir.resolve("run/model").toString(), "--format", "text",
                "--data", dev.toString(), "--max-length", "32", "--batch-size", "2", "--device", "cpu");
        assertEquals(0, e.code(), e.err());
        assertEquals(after, new ObjectMapper().readTree(e.outLines().get(e.outLines().size() - 1)).path("loss")
                .asDouble(), 0.0);

        CliRun rp = CliRun.of("replay", "--base", "bundled", "--trajectory",
                dir.resolve("run/trajectory.jsonl").toString(), "--out", dir.resolve("replayed").toString());
        assertEquals(0, rp.code(), rp.err());
        var a = SafetensorsFile.open(dir.resolve("run/model/model.safetensors")).tensors();
        var b = SafetensorsFile.open(dir.resolve("replayed/model.safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            HostTensor x = a.get(k);
            assertEquals(x.bytes(), b.get(k).bytes(), k);
        }
        CliRun.of("replay", "--base", "bundled", "--trajectory", dir.resolve("run/trajectory.jsonl").toString(),
                "--out", dir.resolve("replayed").toString()).assertUsageError("not empty");
        Path bad = write("bad.jsonl", "{\"type\": \"something\"}\n");
        CliRun.of("replay", "--base", "bundled", "--trajectory", bad.toString(), "--out",
                dir.resolve("r2").toString()).assertUsageError("bad.jsonl", "not a zotune trajectory");
    }

    @Test
    void cudaRequestedWithoutADeviceIsOneLine() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeFalse(org.zotune.cuda.Cuda.availability().usable(),
                "a CUDA device is usable here");
        Path cfg = classificationConfig(write("d.jsonl", ROWS), "  verbalizer: {pos: great, neg: terrible}");
        String line = CliRun.of("train", "--config", cfg.toString(), "--device", "cuda", "--no-progress")
                .assertUsageError("device cuda", "no usable CUDA device", "--device cpu");
        assertTrue(!Files.exists(dir.resolve("out")), "the run folder was created before the device check: " + line);
        Path traj = write("t.jsonl", "");
        CliRun.of("replay", "--base", "bundled", "--trajectory", traj.toString(), "--out",
                dir.resolve("r").toString(), "--device", "gpu").assertUsageError("--device", "cpu or cuda");
        CliRun.of("demo", "--steps", "1", "--no-progress", "--device", "cuda").assertUsageError("device cuda",
                "no usable CUDA device");
    }

    @Test
    void demoSmoke() {
        CliRun r = CliRun.of("demo", "--steps", "3", "--no-progress");
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("before (\\d+\\.\\d+), after (\\d+\\.\\d+) \\(3 steps").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertTrue(Double.parseDouble(m.group(1)) > 1 && Double.parseDouble(m.group(2)) > 1, r.out());
    }

    @Test
    void helpEverywhere() {
        for (String c : List.of("train", "eval", "replay", "demo")) {
            CliRun r = CliRun.of(c, "--help");
            assertEquals(0, r.code(), c);
            assertTrue(r.out().contains("Usage: zotune " + c), r.out());
        }
    }
}
