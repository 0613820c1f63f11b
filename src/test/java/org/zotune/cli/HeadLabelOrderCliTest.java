package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * Objective head's classifier rows belong to the labels config.json's id2label names, not to the data's label order:
 * {@code zotune train} from a head folder and {@code zotune eval} of one match them by name (a folder whose rows and
 * id2label list the labels in the other order scores exactly as the original), and refuse a folder that names other
 * labels, or none, in one line (exit 2). The control: swapping the rows without id2label changes the scores, so the
 * equalities below can fail.
 */
class HeadLabelOrderCliTest {
    @TempDir
    Path dir;

    private static final String ROWS = TrainEncoderObjectivesCliTest.ROWS;

    private Path data;
    /** A head run's model/: id2label {0: neg, 1: pos} (the jsonl reader's sorted order). */
    private Path trained;

    @BeforeEach
    void trainAHead() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        CliRun r = CliRun.of("train", "--config", config(model, "h").toString(), "--steps", "30", "--no-progress");
        assertEquals(0, r.code(), r.err());
        trained = dir.resolve("h/model");
    }

    private Path config(Path model, String out) throws IOException {
        return Files.writeString(dir.resolve(out + ".yaml"), String.join("\n", "model: '" + model + "'",
                "objective: head", "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "optimizer: {name: zo-adam, lr: 0.05}", "eps: 0.01", "batch_size: 6", "eval_every: 0",
                "device: cpu", "out: '" + dir.resolve(out) + "'", ""));
    }

    /**
     * A copy of the trained folder with its classifier rows swapped ({@code swapRows}) and config.json's id2label set
     * to {@code id2label} (null: removed).
     */
    private Path variant(String name, boolean swapRows, List<String> id2label) throws IOException {
        Path out = Files.createDirectories(dir.resolve(name));
        try (Stream<Path> s = Files.list(trained)) {
            for (Path p : s.toList()) {
                Files.copy(p, out.resolve(p.getFileName()));
            }
        }
        Map<String, HostTensor> t = SafetensorsFile.open(trained.resolve("model.safetensors")).tensors();
        List<HostTensor> all = new ArrayList<>();
        for (HostTensor x : t.values()) {
            float[] v = x.toFloats();
            if (swapRows && x.name().startsWith("classifier.")) {
                int row = v.length / 2;
                float[] w = new float[v.length];
                System.arraycopy(v, row, w, 0, row);
                System.arraycopy(v, 0, w, row, row);
                v = w;
            }
            all.add(HostTensor.ofFloats(x.name(), v, x.shape()));
        }
        Files.delete(out.resolve("model.safetensors"));
        SafetensorsWriter.write(out.resolve("model.safetensors"), all);
        ObjectMapper m = new ObjectMapper();
        ObjectNode c = (ObjectNode) m.readTree(out.resolve("config.json").toFile());
        c.remove("id2label");
        c.remove("label2id");
        if (id2label != null) {
            ObjectNode i2l = c.putObject("id2label");
            ObjectNode l2i = c.putObject("label2id");
            for (int i = 0; i < id2label.size(); i++) {
                i2l.put(Integer.toString(i), id2label.get(i));
                l2i.put(id2label.get(i), i);
            }
        }
        m.writeValue(out.resolve("config.json").toFile(), c);
        return out;
    }

    /** The initial dev loss of a one-step head run that starts from {@code folder}. */
    private double initialDevLoss(Path folder, String out) throws IOException {
        CliRun r = CliRun.of("train", "--config", config(folder, out).toString(), "--steps", "1", "--no-progress");
        assertEquals(0, r.code(), r.err());
        return new ObjectMapper().readTree(dir.resolve(out + "/summary.json").toFile()).get("initial_dev")
                .get("loss").asDouble();
    }

    @Test
    void trainStartsFromTheRowsId2labelNames() throws IOException {
        double original = initialDevLoss(trained, "a");
        assertTrue(Math.abs(original - Math.log(2)) > 0.05, "the head trained: " + original);
        double reordered = initialDevLoss(variant("reordered", true, List.of("pos", "neg")), "b");
        assertEquals(original, reordered, "rows and id2label in the other order: the same head");
        double swapped = initialDevLoss(variant("swapped", true, List.of("neg", "pos")), "c");
        assertTrue(Math.abs(swapped - original) > 0.05, "control: rows swapped alone change the loss, "
                + original + " vs " + swapped);
    }

    @Test
    void trainRefusesAFolderWithOtherLabelsOrNone() throws IOException {
        Path other = variant("other", false, List.of("neg", "good"));
        CliRun.of("train", "--config", config(other, "x").toString(), "--no-progress").assertUsageError(
                other.toString(), "[neg, good]", "the data's labels [neg, pos]");
        Path none = variant("none", false, null);
        CliRun.of("train", "--config", config(none, "y").toString(), "--no-progress").assertUsageError(
                none.toString(), "has no id2label", "[neg, pos]");
        assertFalse(Files.exists(dir.resolve("x")), "a refused run leaves no folder");
    }

    private CliRun eval(Path folder, String... extra) {
        List<String> a = new ArrayList<>(List.of("eval", "--model", folder.toString(), "--data", data.toString(),
                "--device", "cpu"));
        a.addAll(List.of(extra));
        return CliRun.of(a.toArray(String[]::new));
    }

    @Test
    void evalScoresTheRowsId2labelNames() throws IOException {
        Path p1 = dir.resolve("p1.jsonl");
        Path p2 = dir.resolve("p2.jsonl");
        JsonNode original = lastJson(eval(trained, "--predictions", p1.toString()));
        assertTrue(Math.abs(original.get("loss").asDouble() - Math.log(2)) > 0.05, "the head trained: " + original);
        JsonNode reordered = lastJson(eval(variant("reordered", true, List.of("pos", "neg")), "--predictions",
                p2.toString()));
        assertEquals(original, reordered, "rows and id2label in the other order: the same scores");
        assertEquals(Files.readString(p1), Files.readString(p2), "the same predictions, scores in the data's order");
        JsonNode swapped = lastJson(eval(variant("swapped", true, List.of("neg", "pos"))));
        assertTrue(Math.abs(swapped.get("loss").asDouble() - original.get("loss").asDouble()) > 0.05,
                "control: rows swapped alone change the loss, " + original + " vs " + swapped);
    }

    @Test
    void evalRefusesAFolderWithOtherLabelsOrNone() throws IOException {
        Path other = variant("other", false, List.of("neg", "good"));
        eval(other).assertUsageError(other.toString(), "[neg, good]", "the data's labels [neg, pos]");
        Path none = variant("none", false, null);
        eval(none, "--objective", "head").assertUsageError(none.toString(), "has no id2label", "[neg, pos]");
        // a data set with a label the head has no row for
        Path three = Files.writeString(dir.resolve("three.jsonl"), ROWS + "{\"text\": \"so so\", \"label\": \"meh\"}\n");
        CliRun.of("eval", "--model", trained.toString(), "--data", three.toString(), "--device", "cpu")
                .assertUsageError(trained.toString(), "[neg, pos]", "the data's labels [meh, neg, pos]");
    }

    /**
     * A file of the positive rows alone (its label set: [pos]) is scored over both of the head's rows, the one it
     * lacks after its own: each example's prediction and scores are those the full file gives it, and the accuracy
     * is the full file's on those rows. Before, eval refused the file.
     */
    @Test
    void evalOfAFileWithSomeOfTheHeadsLabelsScoresEveryRow() throws IOException {
        Path all = dir.resolve("all.jsonl");
        Path some = dir.resolve("some.jsonl");
        lastJson(eval(trained, "--predictions", all.toString()));
        Path pos = dir.resolve("pos.jsonl");
        List<Integer> positive = positiveRows(ROWS, pos);
        JsonNode r = lastJson(CliRun.of("eval", "--model", trained.toString(), "--data", pos.toString(), "--device",
                "cpu", "--predictions", some.toString()));
        ObjectMapper m = new ObjectMapper();
        List<JsonNode> full = Files.readAllLines(all).stream().map(l -> read(m, l)).toList();
        List<JsonNode> sub = Files.readAllLines(some).stream().map(l -> read(m, l)).toList();
        assertEquals(positive.size(), sub.size());
        int right = 0;
        for (int j = 0; j < sub.size(); j++) {
            JsonNode f = full.get(positive.get(j));
            JsonNode s = sub.get(j);
            assertEquals("pos", s.get("gold").asText(), s.toString());
            assertEquals(f.get("predicted"), s.get("predicted"), s.toString());
            assertEquals(2, s.get("scores").size(), "both rows scored: " + s);
            // scores in each file's label order, the labels it lacks after its own: the full file's [neg, pos], the
            // positive file's [pos, neg]; other batches, other padding: equal up to rounding
            for (int c = 0; c < 2; c++) {
                assertEquals(f.get("scores").get(1 - c).asDouble(), s.get("scores").get(c).asDouble(), 1e-6,
                        s.toString());
            }
            right += f.get("predicted").equals(f.get("gold")) ? 1 : 0;
        }
        assertEquals((double) right / sub.size(), r.get("accuracy").asDouble(), 1e-12, r.toString());
    }

    /** Writes the rows of jsonl {@code rows} labelled pos to {@code file}; returns their indices in {@code rows}. */
    static List<Integer> positiveRows(String rows, Path file) throws IOException {
        List<String> lines = rows.lines().toList();
        List<Integer> positive = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (new ObjectMapper().readTree(lines.get(i)).get("label").asText().equals("pos")) {
                positive.add(i);
            }
        }
        Files.writeString(file, String.join("\n", positive.stream().map(lines::get).toList()) + "\n");
        return positive;
    }

    private static JsonNode read(ObjectMapper m, String line) {
        try {
            return m.readTree(line);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static JsonNode lastJson(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.outLines();
        return new ObjectMapper().readTree(lines.get(lines.size() - 1));
    }
}
