package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.HfTokenizer;

/**
 * Hugging Face sequence classifiers (tiny random BertForSequenceClassification and RobertaForSequenceClassification
 * made by scripts/make_classifier_fixtures.py on the GPU host, under src/test/resources/classifier-fixtures; skipped
 * while absent) read by zotune: {@code zotune eval} of the folder picks objective head with pooling pooler (the
 * folder's architectures: both classes classify tanh(dense(·)) of the first token; RoBERTa's classifier.dense and
 * classifier.out_proj read as the pooler and the classifier), matches transformers' id2label to the data's labels
 * (BERT's by name; RoBERTa's default names LABEL_0..2 as the integer labels 0..2), and its per-row scores are
 * transformers' logits: CPU f32 within 1e-5 + 1e-5·|ref| per value, CUDA relative to the largest logit (f32 1e-3, bf16
 * 3e-2), the loss likewise. A ZO run from the folder with head pooling pooler exports under the class's own names
 * (RoBERTa's classifier.dense/out_proj, no pooler tensors) and its model/ scores as the run's final dev evaluation; a
 * run that asks another pooling of this classifier is refused in one line.
 */
class HfClassifierCliTest {
    static final String FORMAT = "zotune-classifier-fixture-v1";
    static final String MAKE = "python3 scripts/make_classifier_fixtures.py --out "
            + "src/test/resources/classifier-fixtures";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** The fixture folder, or the test is skipped naming the command that makes it. */
    static Path root() {
        return org.zotune.fixtures.HfFixtures.committed("classifier-fixtures", MAKE);
    }

    static List<String> models(Path root) throws IOException {
        JsonNode manifest = JSON.readTree(root.resolve("manifest.json").toFile());
        assertEquals(FORMAT, manifest.get("format").asText(), "manifest format");
        List<String> names = new ArrayList<>();
        manifest.get("models").forEach(m -> names.add(m.asText()));
        assertEquals(List.of("bert", "roberta"), names, "manifest models");
        return names;
    }

    /** zotune eval of the folder on its data, with --predictions; returns the predictions, checks the summary. */
    private List<JsonNode> eval(Path fixture, String device, String dtype) throws IOException {
        Path pred = dir.resolve(fixture.getFileName() + "-" + device + "-" + dtype + ".jsonl");
        CliRun r = CliRun.of("eval", "--model", fixture.resolve("model").toString(), "--format", "jsonl", "--data",
                fixture.resolve("data.jsonl").toString(), "--device", device, "--dtype", dtype, "--batch-size", "3",
                "--predictions", pred.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("objective: head (auto: the folder has a classifier"), r.err());
        assertTrue(r.err().contains("pooling pooler (config.json's architectures "), r.err());
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(pred)) {
            out.add(JSON.readTree(l));
        }
        List<String> lines = r.outLines();
        out.add(JSON.readTree(lines.get(lines.size() - 1)));
        return out;
    }

    /**
     * The predictions against expected.json: scores (in id2label's order: the data's first rows list the labels in
     * that order) within the tolerance, the predicted label transformers' argmax by name, the loss.
     */
    private void check(Path fixture, String device, String dtype, boolean perValue, double tol) throws IOException {
        JsonNode ex = JSON.readTree(fixture.resolve("expected.json").toFile());
        assertEquals(FORMAT, ex.get("format").asText());
        List<JsonNode> got = eval(fixture, device, dtype);
        JsonNode summary = got.remove(got.size() - 1);
        JsonNode rows = ex.get("rows");
        assertEquals(rows.size(), got.size(), "one prediction per row");
        double worst = 0;
        double largest = 0;
        for (int i = 0; i < rows.size(); i++) {
            JsonNode want = rows.get(i).get("logits");
            JsonNode have = got.get(i).get("scores");
            assertEquals(want.size(), have.size(), "row " + i + " scores");
            for (int c = 0; c < want.size(); c++) {
                double a = want.get(c).asDouble();
                double b = have.get(c).asDouble();
                largest = Math.max(largest, Math.abs(a));
                worst = Math.max(worst, Math.abs(a - b));
                if (perValue) {
                    assertEquals(a, b, tol + tol * Math.abs(a), ex.get("model").asText() + " row " + i + " label "
                            + c);
                }
            }
            String label = ex.get("id2label").get(Integer.toString(ex.get("predicted").get(i).asInt())).asText();
            String expectedName = label.startsWith("LABEL_") ? label.substring(6) : label;
            assertEquals(expectedName, got.get(i).get("predicted").asText(), "row " + i + " predicted label");
        }
        double loss = ex.get("loss").asDouble();
        System.out.printf("%s %s %s: logits max |zotune - transformers| %.3g (largest %.3g, relative %.3g); loss %s "
                + "vs %s%n", ex.get("model").asText(), device, dtype, worst, largest, worst / largest,
                summary.get("loss").asDouble(), loss);
        if (!perValue) {
            assertTrue(worst <= tol * largest, "relative error " + worst / largest);
        }
        assertEquals(loss, summary.get("loss").asDouble(), tol * Math.abs(loss));
    }

    @Test
    void cpuFloat32ScoresAsTransformers() throws IOException {
        Path root = root();
        for (String m : models(root)) {
            Path fixture = root.resolve(m);
            // the tokenizer folder gives transformers' ids (what the logits were computed on)
            JsonNode ex = JSON.readTree(fixture.resolve("expected.json").toFile());
            try (HfTokenizer tok = HfTokenizer.load(fixture.resolve("model/tokenizer.json"))) {
                for (JsonNode row : ex.get("rows")) {
                    List<Integer> want = new ArrayList<>();
                    row.get("input_ids").forEach(x -> want.add(x.asInt()));
                    List<Integer> have = new ArrayList<>();
                    for (int id : tok.encode(row.get("text").asText())) {
                        have.add(id);
                    }
                    assertEquals(want, have, m + ": " + row.get("text"));
                }
            }
            check(fixture, "cpu", "f32", true, 1e-5);
        }
    }

    @Test
    @Tag("gpu")
    void cudaScoresAsTransformers() throws IOException {
        Path root = root();
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        for (String m : models(root)) {
            check(root.resolve(m), "cuda", "f32", false, 1e-3);
            check(root.resolve(m), "cuda", "bf16", false, 3e-2);
        }
    }

    /** A short ZO run from the fixture: pooling pooler, the exported names, eval of model/ = the final dev loss. */
    @Test
    void aRunFromTheClassifierExportsUnderTheClassesNames() throws IOException {
        Path root = root();
        for (String m : models(root)) {
            Path fixture = root.resolve(m);
            Path out = dir.resolve("run-" + m);
            Path cfg = Files.writeString(dir.resolve(m + ".yaml"), String.join("\n",
                    "model: '" + fixture.resolve("model") + "'", "objective: head", "head: {pooling: pooler}",
                    "data:", "  format: jsonl", "  train: '" + fixture.resolve("data.jsonl") + "'",
                    "  dev: '" + fixture.resolve("data.jsonl") + "'", "optimizer: {name: zo-sgd, lr: 0.01}",
                    "eps: 0.001", "steps: 8", "batch_size: 4", "eval_every: 0", "device: cpu", "seed: 3",
                    "out: '" + out + "'", ""));
            CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
            assertEquals(0, r.code(), r.err());
            JsonNode s = JSON.readTree(out.resolve("summary.json").toFile());
            double initial = s.get("initial_dev").get("loss").asDouble();
            double expected = JSON.readTree(fixture.resolve("expected.json").toFile()).get("loss").asDouble();
            assertEquals(expected, initial, 1e-5 * expected, m + ": the run starts from transformers' classifier");
            Set<String> names = SafetensorsFile.open(out.resolve("model/model.safetensors")).tensors().keySet();
            JsonNode config = JSON.readTree(out.resolve("model/config.json").toFile());
            if (m.equals("roberta")) {
                assertTrue(names.containsAll(List.of("classifier.dense.weight", "classifier.dense.bias",
                        "classifier.out_proj.weight", "classifier.out_proj.bias")), names.toString());
                assertFalse(names.stream().anyMatch(n -> n.contains("pooler") || n.equals("classifier.weight")),
                        names.toString());
                assertEquals("RobertaForSequenceClassification", config.get("architectures").get(0).asText());
            } else {
                assertTrue(names.containsAll(List.of("bert.pooler.dense.weight", "classifier.weight",
                        "classifier.bias")), names.toString());
                assertEquals("BertForSequenceClassification", config.get("architectures").get(0).asText());
            }
            assertEquals("pooler", config.get("zotune_pooling").asText());
            CliRun e = CliRun.of("eval", "--model", out.resolve("model").toString(), "--format", "jsonl", "--data",
                    fixture.resolve("data.jsonl").toString(), "--device", "cpu", "--no-progress");
            assertEquals(0, e.code(), e.err());
            List<String> lines = e.outLines();
            double dev = s.get("final_dev").get("loss").asDouble();
            assertEquals(dev, JSON.readTree(lines.get(lines.size() - 1)).get("loss").asDouble(), 1e-6 * dev,
                    m + ": eval of model/ = the run's final dev loss");
            assertTrue(Math.abs(dev - initial) > 1e-7, m + ": the run moved the loss: " + initial + " -> " + dev);
        }
    }

    /**
     * Without the fixtures: a head run with pooling pooler on a tiny BertModel with its pooler exports a
     * BertForSequenceClassification folder; with zotune_pooling taken out of its config.json (a folder as transformers
     * saves it), eval still pools by the pooler (the class's own), so it scores the run's final dev loss; the same
     * folder marked a bare BertModel falls back to mean pooling and scores otherwise (zotune read every such folder
     * that way before, whatever its class).
     */
    @Test
    void aSequenceClassifierFolderWithoutZotunesKeyIsScoredOnItsPooler() throws IOException {
        Path bert = org.zotune.model.bert.TinyBertFolder.write(dir.resolve("bert"), 4, false, true);
        Path data = Files.writeString(dir.resolve("d.jsonl"), TrainEncoderObjectivesCliTest.ROWS);
        Path out = dir.resolve("run");
        Path cfg = Files.writeString(dir.resolve("p.yaml"), String.join("\n", "model: '" + bert + "'",
                "objective: head", "head: {pooling: pooler}", "data:", "  format: jsonl", "  train: '" + data + "'",
                "  dev: '" + data + "'", "optimizer: {name: zo-adam, lr: 0.05}", "eps: 0.01", "steps: 30",
                "batch_size: 6", "eval_every: 0", "device: cpu", "out: '" + out + "'", ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        double dev = JSON.readTree(out.resolve("summary.json").toFile()).get("final_dev").get("loss").asDouble();
        assertTrue(Math.abs(dev - Math.log(2)) > 1e-3, "the head moved from its zero start: " + dev);
        Path folder = out.resolve("model");
        com.fasterxml.jackson.databind.node.ObjectNode c = (com.fasterxml.jackson.databind.node.ObjectNode) JSON
                .readTree(folder.resolve("config.json").toFile());
        assertEquals("BertForSequenceClassification", c.get("architectures").get(0).asText());
        assertEquals("pooler", c.remove("zotune_pooling").asText());
        Files.writeString(folder.resolve("config.json"), c.toString());
        double[] loss = new double[2];
        String[] arch = {"BertForSequenceClassification", "BertModel"};
        for (int k = 0; k < 2; k++) {
            c.putArray("architectures").add(arch[k]);
            Files.writeString(folder.resolve("config.json"), c.toString());
            CliRun e = CliRun.of("eval", "--model", folder.toString(), "--format", "jsonl", "--data", data.toString(),
                    "--device", "cpu", "--no-progress");
            assertEquals(0, e.code(), e.err());
            assertTrue(e.err().contains(k == 0 ? "pooling pooler (config.json's architectures "
                    + "BertForSequenceClassification, which classifies the pooler's output)" : "pooling mean (the "
                    + "default)"), e.err());
            List<String> lines = e.outLines();
            loss[k] = JSON.readTree(lines.get(lines.size() - 1)).get("loss").asDouble();
        }
        System.out.println("head pooler run's final dev " + dev + "; eval as BertForSequenceClassification " + loss[0]
                + ", as BertModel (mean) " + loss[1]);
        assertEquals(dev, loss[0], 1e-6 * dev);
        assertTrue(Math.abs(loss[1] - dev) > 1e-4, "mean pooling scores otherwise: " + loss[1]);
    }

    @Test
    void anotherPoolingOfThisClassifierIsRefused() throws IOException {
        Path fixture = root().resolve("bert");
        Path cfg = Files.writeString(dir.resolve("mean.yaml"), String.join("\n",
                "model: '" + fixture.resolve("model") + "'", "objective: head", "data:", "  format: jsonl",
                "  train: '" + fixture.resolve("data.jsonl") + "'", "optimizer: {name: zo-sgd, lr: 0.01}",
                "steps: 2", "device: cpu", "out: '" + dir.resolve("mean") + "'", ""));
        CliRun.of("train", "--config", cfg.toString(), "--no-progress").assertUsageError(
                "its classifier pools by pooler (config.json's architectures BertForSequenceClassification",
                "key 'head.pooling' is mean", "set head.pooling: pooler");
        assertFalse(Files.exists(dir.resolve("mean/run.json")), "nothing of the run was written");
        CliRun e = CliRun.of("eval", "--model", fixture.resolve("model").toString(), "--format", "jsonl", "--data",
                fixture.resolve("data.jsonl").toString(), "--device", "cpu", "--objective", "head", "--pooling",
                "mean", "--no-progress");
        assertEquals(0, e.code(), e.err()); // asked explicitly, eval scores so (it changes nothing)
        assertTrue(e.err().contains("pooling mean"), e.err());
    }

    /**
     * Data whose labels are the classes' indices (0, 1, 2) against BERT's named id2label (negative, neutral,
     * positive): refused, naming key data.rename_labels; renamed (--rename-labels, data.rename_labels) the scores
     * are transformers' logits and a run starts from transformers' loss; renamed the other way round the loss differs
     * (the names decide the rows); bad renames, one line each.
     */
    @Test
    void renamedLabelsMeetTheClassifiersNames() throws IOException {
        Path fixture = root().resolve("bert");
        JsonNode ex = JSON.readTree(fixture.resolve("expected.json").toFile());
        List<String> names = List.of("negative", "neutral", "positive");
        StringBuilder rows = new StringBuilder();
        for (JsonNode r : ex.get("rows")) {
            rows.append(JSON.writeValueAsString(JSON.createObjectNode().put("text", r.get("text").asText())
                    .put("label", names.indexOf(r.get("label").asText())))).append('\n');
        }
        Path data = Files.writeString(dir.resolve("ids.jsonl"), rows.toString());
        String model = fixture.resolve("model").toString();
        CliRun.of("eval", "--model", model, "--format", "jsonl", "--data", data.toString(), "--device", "cpu",
                "--no-progress").assertUsageError("labels [negative, neutral, positive]",
                "are not the data's labels [0, 1, 2]", "data.rename_labels");
        Path pred = dir.resolve("renamed.jsonl");
        CliRun r = CliRun.of("eval", "--model", model, "--format", "jsonl", "--data", data.toString(), "--device",
                "cpu", "--rename-labels", "0=negative,1=neutral,2=positive", "--predictions", pred.toString(),
                "--no-progress");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(pred);
        for (int i = 0; i < lines.size(); i++) {
            JsonNode p = JSON.readTree(lines.get(i));
            JsonNode want = ex.get("rows").get(i).get("logits");
            for (int c = 0; c < 3; c++) {
                assertEquals(want.get(c).asDouble(), p.get("scores").get(c).asDouble(), 1e-5 + 1e-5
                        * Math.abs(want.get(c).asDouble()), "row " + i + " label " + c);
            }
            assertEquals(ex.get("id2label").get(ex.get("predicted").get(i).asText()).asText(),
                    p.get("predicted").asText(), "row " + i);
        }
        double loss = ex.get("loss").asDouble();
        List<String> out = r.outLines();
        double got = JSON.readTree(out.get(out.size() - 1)).get("loss").asDouble();
        CliRun swapped = CliRun.of("eval", "--model", model, "--format", "jsonl", "--data", data.toString(),
                "--device", "cpu", "--rename-labels", "0=positive,1=neutral,2=negative", "--no-progress");
        assertEquals(0, swapped.code(), swapped.err());
        List<String> sw = swapped.outLines();
        double other = JSON.readTree(sw.get(sw.size() - 1)).get("loss").asDouble();
        System.out.println("bert, labels 0/1/2 renamed to id2label's names: loss " + got + " (transformers " + loss
                + "); renamed the other way round " + other);
        assertEquals(loss, got, 1e-5 * loss);
        assertTrue(Math.abs(other - loss) > 1e-2, loss + " vs " + other);

        // a run with data.rename_labels starts from transformers' classifier
        Path run = dir.resolve("renamed-run");
        Path cfg = Files.writeString(dir.resolve("renamed.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: head", "head: {pooling: pooler}", "data:", "  format: jsonl", "  train: '" + data + "'",
                "  dev: '" + data + "'", "  rename_labels: {'0': negative, '1': neutral, '2': positive}",
                "optimizer: {name: zo-sgd, lr: 0.01}", "eps: 0.001", "steps: 2", "batch_size: 4", "eval_every: 0",
                "device: cpu", "seed: 3", "out: '" + run + "'", ""));
        CliRun t = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, t.code(), t.err());
        double initial = JSON.readTree(run.resolve("summary.json").toFile()).get("initial_dev").get("loss")
                .asDouble();
        assertEquals(loss, initial, 1e-5 * loss, "the run starts from transformers' classifier");
        assertEquals("negative", JSON.readTree(run.resolve("model/config.json").toFile()).get("id2label").get("0")
                .asText());

        // data.format tsv takes its labels from the verbalizer, keyed by the new names: the same scores as the old
        Path tsv = Files.writeString(dir.resolve("d.tsv"), "sentence\tlabel\nthe movie is fun\t1\n"
                + "the plot is dull\t0\nloved the acting\t1\n");
        List<String> common = List.of("eval", "--model", "bundled", "--format", "tsv", "--data", tsv.toString(),
                "--template", "{sentence} It was {label}", "--device", "cpu", "--no-progress");
        List<String> renamed = new ArrayList<>(common);
        renamed.addAll(List.of("--verbalizer", "neg=terrible,pos=great", "--rename-labels", "0=neg,1=pos"));
        List<String> plain = new ArrayList<>(common);
        plain.addAll(List.of("--verbalizer", "0=terrible,1=great"));
        CliRun tr = CliRun.of(renamed.toArray(String[]::new));
        CliRun tp = CliRun.of(plain.toArray(String[]::new));
        assertEquals(0, tr.code(), tr.err());
        assertEquals(0, tp.code(), tp.err());
        List<String> lr = tr.outLines();
        List<String> lp = tp.outLines();
        assertEquals(JSON.readTree(lp.get(lp.size() - 1)).get("loss").asDouble(),
                JSON.readTree(lr.get(lr.size() - 1)).get("loss").asDouble(), 0.0, "tsv renamed vs not");

        // bad renames
        CliRun.of("eval", "--model", model, "--format", "jsonl", "--data", data.toString(), "--device", "cpu",
                "--rename-labels", "5=negative", "--no-progress").assertUsageError("--rename-labels",
                "label '5' is not one of", "labels [0, 1, 2]");
        CliRun.of("eval", "--model", model, "--format", "jsonl", "--data", data.toString(), "--device", "cpu",
                "--rename-labels", "0=x,1=x", "--no-progress").assertUsageError("--rename-labels",
                "would be named 'x'");
        Path text = Files.writeString(dir.resolve("t.txt"), "some text\n");
        CliRun.of("eval", "--model", model, "--format", "text", "--data", text.toString(), "--device", "cpu",
                "--rename-labels", "0=x", "--no-progress").assertUsageError("--rename-labels renames the labels of "
                + "classification data", "data.format text has none");
    }

    /**
     * eval's per_label metrics against the --predictions file's gold and predicted labels, counted here: support,
     * predictions, precision, recall, F1 per class; with 3 classes the reported F1 is the macro mean of the classes
     * present; on a file of two of the classes the third, still scored, is listed with support 0.
     */
    @Test
    void perLabelMetricsCountThePredictions() throws IOException {
        Path fixture = root().resolve("bert");
        List<String> all = Files.readAllLines(fixture.resolve("data.jsonl"));
        Path two = Files.writeString(dir.resolve("two.jsonl"), String.join("\n", all.stream()
                .filter(l -> !l.contains("\"neutral\"")).toList()) + "\n");
        for (Path data : List.of(fixture.resolve("data.jsonl"), two)) {
            Path pred = dir.resolve("per-label.jsonl");
            Files.deleteIfExists(pred);
            CliRun r = CliRun.of("eval", "--model", fixture.resolve("model").toString(), "--format", "jsonl",
                    "--data", data.toString(), "--device", "cpu", "--predictions", pred.toString(), "--no-progress");
            assertEquals(0, r.code(), r.err());
            List<String> out = r.outLines();
            JsonNode summary = JSON.readTree(out.get(out.size() - 1));
            JsonNode per = summary.get("per_label");
            List<JsonNode> rows = new ArrayList<>();
            for (String l : Files.readAllLines(pred)) {
                rows.add(JSON.readTree(l));
            }
            double sumF1 = 0;
            int present = 0;
            for (String label : List.of("negative", "neutral", "positive")) {
                long support = rows.stream().filter(x -> x.get("gold").asText().equals(label)).count();
                long predicted = rows.stream().filter(x -> x.get("predicted").asText().equals(label)).count();
                long tp = rows.stream().filter(x -> x.get("gold").asText().equals(label)
                        && x.get("predicted").asText().equals(label)).count();
                JsonNode m = per.get(label);
                assertEquals(support, m.get("support").asLong(), label);
                assertEquals(predicted, m.get("predicted").asLong(), label);
                assertEquals(predicted == 0 ? 0 : (double) tp / predicted, m.get("precision").asDouble(), 1e-12);
                assertEquals(support == 0 ? 0 : (double) tp / support, m.get("recall").asDouble(), 1e-12);
                double f1 = support + predicted == 0 ? 0 : 2.0 * tp / (support + predicted);
                assertEquals(f1, m.get("f1").asDouble(), 1e-12, label);
                if (support + predicted > 0) {
                    sumF1 += f1;
                    present++;
                }
            }
            System.out.println(data.getFileName() + ": per_label " + per + ", f1 " + summary.get("f1"));
            assertEquals(sumF1 / present, summary.get("f1").asDouble(), 1e-12, "macro F1 of the present classes");
        }
    }
}
