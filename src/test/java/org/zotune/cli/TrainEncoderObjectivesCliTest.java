package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.SequenceClassifier;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.HeadClassification;

/**
 * zotune train with objective similarity and head on a tiny random BertModel (no MLM head): ZO steps lower the loss of
 * a toy sentiment task, the head starts at ln(labels), is exported as BertForSequenceClassification-style weights
 * that reproduce the run's final dev loss when read back, a stopped and resumed run equals an uninterrupted one, a
 * linear probe leaves the encoder as it was; bad input is one line and exit 2.
 */
class TrainEncoderObjectivesCliTest {
    @TempDir
    Path dir;

    /** Six sentiment rows, pos and neg alternating (also the data of the other encoder CLI tests here). */
    static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    private Path config(Path model, String objective, String out, String... extra) throws IOException {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        return Files.writeString(dir.resolve(out + ".yaml"), String.join("\n", "model: '" + model + "'",
                "objective: " + objective, "data:", "  format: jsonl", "  train: '" + data + "'",
                "  dev: '" + data + "'", String.join("\n", extra),
                "optimizer: {name: zo-adam, lr: " + (objective.equals("head") ? "0.05" : "0.003")
                + "}",
                "eps: 0.01", "steps: 60", "batch_size: 6", "eval_every: 0", "device: cpu",
                "out: '" + dir.resolve(out) + "'", ""));
    }

    private static JsonNode summary(Path run) throws IOException {
        return new ObjectMapper().readTree(run.resolve("summary.json").toFile());
    }

    @Test
    void zoStepsLowerTheLabelSimilarityLoss() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path cfg = config(model, "similarity", "sim",
                "similarity: {labels: {pos: it was great, neg: it was terrible}}");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        JsonNode s = summary(dir.resolve("sim"));
        double before = s.get("initial_dev").get("loss").asDouble();
        double after = s.get("final_dev").get("loss").asDouble();
        assertTrue(after < before - 0.05, "dev loss " + before + " -> " + after);
        assertTrue(Files.isRegularFile(dir.resolve("sim/model/model.safetensors")));
    }

    /**
     * Objective head reads an example's sentence alone, so a GLUE-style sst2 file needs no data.template, in train
     * and in eval; eval of the run's model/ reproduces its final dev loss.
     */
    @Test
    void theHeadOnAnSst2FileNeedsNoTemplate() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        StringBuilder tsv = new StringBuilder("sentence\tlabel\n");
        for (String row : ROWS.lines().toList()) {
            JsonNode n = new ObjectMapper().readTree(row);
            tsv.append(n.get("text").asText()).append('\t').append(n.get("label").asText().equals("pos") ? 1 : 0)
                    .append('\n');
        }
        Path data = Files.writeString(dir.resolve("train.tsv"), tsv);
        Path cfg = Files.writeString(dir.resolve("sst2.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: head", "data:", "  format: sst2", "  train: '" + data + "'", "  dev: '" + data + "'",
                "optimizer: {name: zo-adam, lr: 0.05}", "eps: 0.01", "steps: 20", "batch_size: 6", "eval_every: 0",
                "device: cpu", "out: '" + dir.resolve("sst2") + "'", ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        double dev = summary(dir.resolve("sst2")).get("final_dev").get("loss").asDouble();
        CliRun e = CliRun.of("eval", "--model", dir.resolve("sst2/model").toString(), "--data", data.toString(),
                "--format", "sst2", "--device", "cpu");
        assertEquals(0, e.code(), e.err());
        List<String> out = e.outLines();
        JsonNode last = new ObjectMapper().readTree(out.get(out.size() - 1));
        assertEquals(dev, last.get("loss").asDouble(), 1e-6, "eval of model/ = the run's final dev loss");
    }

    @Test
    void theHeadStartsUniformTrainsAndIsExportedAsASequenceClassifier() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path cfg = config(model, "head", "head", "head: {pooling: mean}");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        JsonNode s = summary(dir.resolve("head"));
        double before = s.get("initial_dev").get("loss").asDouble();
        double after = s.get("final_dev").get("loss").asDouble();
        assertEquals(Math.log(2), before, 1e-7, "a zero head predicts uniformly");
        assertTrue(after < before - 0.1, "dev loss " + before + " -> " + after);

        Path out = dir.resolve("head/model");
        JsonNode c = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("BertForSequenceClassification", c.get("architectures").get(0).asText());
        assertEquals(2, c.get("num_labels").asInt());
        // the jsonl reader's label order: neg, pos (sorted)
        assertEquals("neg", c.get("id2label").get("0").asText());
        assertEquals(1, c.get("label2id").get("pos").asInt());
        assertEquals("mean", c.get("zotune_pooling").asText());
        Map<String, HostTensor> stored = SafetensorsFile.open(out.resolve("model.safetensors")).tensors();
        assertArrayEquals(new long[] {2, TinyBertFolder.HIDDEN}, stored.get("classifier.weight").shape());
        assertArrayEquals(new long[] {2}, stored.get("classifier.bias").shape());

        // read back: the exported body and head give the run's final dev loss
        LoadedEncoder back = ModelLoader.loadEncoder(out);
        SequenceClassifier m = new SequenceClassifier(back.model(), 2);
        List<HostTensor> params = new ArrayList<>(back.parameters());
        params.add(stored.get("classifier.weight"));
        params.add(stored.get("classifier.bias"));
        try (HfTokenizer tok = HfTokenizer.load(out.resolve("tokenizer.json")); CpuOps ops = new CpuOps();
                Parameters p = ops.createParameters(params, DType.F32)) {
            TextRowEncoder enc = new TextRowEncoder(tok, 128);
            List<EncodedExample> dev = new ArrayList<>();
            String[] texts = {"the movie is fun", "the plot is dull", "loved the acting", "hated the film",
                "a good film", "a boring movie"};
            for (int i = 0; i < texts.length; i++) {
                dev.add(enc.encode("d:" + i, List.of(texts[i]), i % 2 == 0 ? 1 : 0));
            }
            Evaluator.Result e = Evaluator.evaluate(ops, m, p, dev, 6, 0,
                    new HeadClassification(HeadClassification.Pooling.MEAN));
            assertEquals(after, e.loss(), 1e-6 * (1 + after));
            assertEquals(s.get("final_dev").get("accuracy").asDouble(), e.accuracy());
        }
        // a run from the exported folder starts from its head (zotune embed reads the folder too)
        Path again = config(out, "head", "again");
        assertEquals(0, CliRun.of("train", "--config", again.toString(), "--steps", "1", "--no-progress").code());
        assertEquals(after, summary(dir.resolve("again")).get("initial_dev").get("loss").asDouble(),
                1e-6 * (1 + after));
        Path three = Files.writeString(dir.resolve("three.jsonl"),
                ROWS + "{\"text\": \"so so\", \"label\": \"meh\"}\n");
        CliRun.of("train", "--config", again.toString(), "--set", "data.train=" + three, "--set", "data.dev=" + three,
                "--overwrite").assertUsageError(out.toString(), "labels [neg, pos] (config.json id2label) are not "
                        + "the data's labels [meh, neg, pos]");
    }

    @Test
    void aStoppedAndResumedHeadRunEqualsAnUninterruptedOne() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        for (String probe : new String[] {"false", "true"}) {
            Path whole = config(model, "head", "whole" + probe, "head: {linear_probe: " + probe + "}");
            Path split = config(model, "head", "split" + probe, "head: {linear_probe: " + probe + "}");
            assertEquals(0, CliRun.of("train", "--config", whole.toString(), "--steps", "6", "--no-progress").code());
            CliRun a = CliRun.of("train", "--config", split.toString(), "--steps", "6", "--stop-after", "3",
                    "--no-progress");
            assertEquals(0, a.code(), a.err());
            CliRun b = CliRun.of("train", "--config", split.toString(), "--steps", "6", "--resume", "--no-progress");
            assertEquals(0, b.code(), b.err());
            assertArrayEquals(Files.readAllBytes(dir.resolve("whole" + probe + "/model/model.safetensors")),
                    Files.readAllBytes(dir.resolve("split" + probe + "/model/model.safetensors")), "probe " + probe);
        }
    }

    @Test
    void aLinearProbeTrainsTheHeadAlone() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path cfg = config(model, "head", "probe", "head: {linear_probe: true}");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        JsonNode s = summary(dir.resolve("probe"));
        assertTrue(s.get("final_dev").get("loss").asDouble() < Math.log(2) - 0.05, s.toString());
        Map<String, HostTensor> in = SafetensorsFile.open(model.resolve("model.safetensors")).tensors();
        Map<String, HostTensor> out = SafetensorsFile.open(dir.resolve("probe/model/model.safetensors")).tensors();
        assertEquals(in.size() + 2, out.size());
        for (Map.Entry<String, HostTensor> e : in.entrySet()) {
            assertArrayEquals(e.getValue().toFloats(), out.get(e.getKey()).toFloats(), e.getKey());
        }
        boolean moved = false;
        for (float v : out.get("classifier.weight").toFloats()) {
            moved |= v != 0;
        }
        assertTrue(moved, "the head trained");
    }

    @Test
    void badEncoderObjectiveInputIsOneLine() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path sim = config(model, "similarity", "bad", "  template: '{text} It was <mask>.'",
                "similarity: {labels: {pos: great, neg: terrible}}");
        CliRun.of("train", "--config", sim.toString()).assertUsageError("has no mask", "objective mlm");
        Path cfg = config(model, "similarity", "bad", "similarity: {labels: {pos: great, neg: terrible}}");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.labels={pos: great}")
                .assertUsageError("similarity.labels", "no description for label 'neg'");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.labels={pos: a, neg: b, meh: c}")
                .assertUsageError("similarity.labels", "label 'meh' is not one of the data set's labels");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.labels=null")
                .assertUsageError("objective similarity needs label descriptions", "similarity.labels");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.labels=null", "--set",
                "data.template=nosuchtask").assertUsageError("no built-in label descriptions for template "
                        + "'nosuchtask'");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.pooling=max")
                .assertUsageError("similarity.pooling", "mean");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.temperature=0")
                .assertUsageError("similarity.temperature");
        CliRun.of("train", "--config", cfg.toString(), "--set", "similarity.pooling=pooler")
                .assertUsageError("similarity.pooling", "has no pooler");
        CliRun.of("train", "--config", cfg.toString(), "--set", "data.template='{nofield}'")
                .assertUsageError("no field 'nofield'");
        CliRun.of("train", "--config", config(Path.of("bundled"), "similarity", "bad", "similarity: {labels: "
                + "{pos: great, neg: terrible}}").toString()).assertUsageError("objective 'similarity' pools an "
                        + "encoder's hidden states");
        Path head = config(model, "head", "bad");
        // LoRA and a prefix train with the head (LoraEncoderRunTest, PrefixHeadRunTest); a linear probe is neither
        CliRun.of("train", "--config", head.toString(), "--set", "peft.method=lora", "--set",
                "head.linear_probe=true").assertUsageError("head.linear_probe trains the head alone",
                        "beside LoRA adapters");
        CliRun.of("train", "--config", head.toString(), "--set", "peft.method=prefix", "--set",
                "head.linear_probe=true").assertUsageError("head.linear_probe trains the head alone",
                        "beside a prefix");
        CliRun.of("train", "--config", head.toString(), "--set", "head.pooling=pooler")
                .assertUsageError("head.pooling");
        assertFalse(Files.exists(dir.resolve("bad")), "a refused run leaves no folder");

        // a head run replays (ReplayEncoderCliTest covers every objective and peft method): the run's model/ tensors
        Path ok = config(model, "head", "ok");
        assertEquals(0, CliRun.of("train", "--config", ok.toString(), "--steps", "2", "--no-progress").code());
        CliRun rp = CliRun.of("replay", "--base", model.toString(), "--trajectory",
                dir.resolve("ok/trajectory.jsonl").toString(), "--out", dir.resolve("replayed").toString());
        assertEquals(0, rp.code(), rp.err());
        ReplayRuns.assertSameTensors("head", dir.resolve("ok/model/model.safetensors"),
                dir.resolve("replayed/model.safetensors"));
    }
}
