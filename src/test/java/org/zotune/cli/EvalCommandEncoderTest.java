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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.train.objective.Evaluator;
import org.zotune.train.objective.LabelSimilarity;

/**
 * {@code zotune eval} on encoders: each objective (head, similarity, mlm) scores a tiny run's best/ on its test set
 * exactly as the run's own test evaluation did (loss and accuracy as metrics.jsonl logged them), and similarity as
 * {@link Evaluator} with a {@link LabelSimilarity} built here; {@code --predictions} writes one line per example whose
 * gold labels are the data's and whose predictions give the reported accuracy; and each refusal is one line, exit 2.
 */
class EvalCommandEncoderTest {
    @TempDir
    Path dir;

    /** Labels in file order: pos, neg, pos, neg, pos, neg, neg. */
    private static final String ROWS = TrainEncoderObjectivesCliTest.ROWS
            + "{\"text\": \"the acting is bad\", \"label\": \"neg\"}\n";
    private static final List<String> GOLD = List.of("pos", "neg", "pos", "neg", "pos", "neg", "neg");

    private Path data() throws IOException {
        return Files.writeString(dir.resolve("d.jsonl"), ROWS);
    }

    /** A short run with dev and test = the data: best/ is exported with its test evaluation logged at best_step. */
    private Path train(Path model, String out, String... extra) throws IOException {
        Path data = data();
        // indented lines of extra are keys of data
        String dataKeys = String.join("\n", java.util.Arrays.stream(extra).filter(l -> l.startsWith(" ")).toList());
        String topKeys = String.join("\n", java.util.Arrays.stream(extra).filter(l -> !l.startsWith(" ")).toList());
        Path cfg = Files.writeString(dir.resolve(out + ".yaml"), String.join("\n", "model: '" + model + "'",
                "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  test: '" + data + "'", dataKeys, topKeys, "optimizer: {name: zo-adam, lr: 0.02}",
                "eps: 0.01", "steps: 12", "batch_size: 4", "eval_batch_size: 3", "eval_every: 4", "device: cpu",
                "out: '" + dir.resolve(out) + "'", ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        return dir.resolve(out);
    }

    /** The test evaluation in metrics.jsonl of the weights in best/ (those of summary.json's best_step). */
    private static JsonNode bestTest(Path run) throws IOException {
        long best = new ObjectMapper().readTree(run.resolve("summary.json").toFile()).get("best_step").asLong();
        JsonNode found = null;
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(l);
            if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("test")
                    && n.path("t").asLong() == best) {
                found = n;
            }
        }
        assertTrue(found != null, "a test evaluation at step " + best + " in " + run);
        return found;
    }

    private CliRun eval(Path model, String... extra) throws IOException {
        List<String> a = new ArrayList<>(List.of("eval", "--model", model.toString(), "--data", data().toString(),
                "--batch-size", "3", "--device", "cpu"));
        a.addAll(List.of(extra));
        return CliRun.of(a.toArray(String[]::new));
    }

    private static JsonNode lastJson(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.outLines();
        return new ObjectMapper().readTree(lines.get(lines.size() - 1));
    }

    /** Eval of best/ with {@code extra} options equals the run's last test evaluation; the objective is named. */
    private JsonNode assertReproducesTheRun(Path run, String objective, String... extra) throws IOException {
        JsonNode logged = bestTest(run);
        CliRun r = eval(run.resolve("best"), extra);
        JsonNode e = lastJson(r);
        assertEquals(objective, e.path("objective").asText());
        assertTrue(r.err().contains("objective: " + objective + " ("), r.err());
        assertEquals(logged.path("examples").asInt(), e.path("examples").asInt());
        assertEquals(logged.path("loss").asDouble(), e.path("loss").asDouble(), objective + ": " + r.err());
        assertEquals(logged.path("accuracy").asDouble(), e.path("accuracy").asDouble(), objective);
        assertEquals(logged.path("f1").asDouble(), e.path("f1").asDouble(), objective);
        return e;
    }

    @Test
    void eachObjectiveReproducesTheRunsTestEvaluation() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 6, true);
        // head: auto picks it from the classifier, the pooling from config.json's zotune_pooling (cls here)
        Path head = train(bare, "head", "objective: head", "head: {pooling: cls}");
        JsonNode h = assertReproducesTheRun(head, "head");
        assertTrue(Math.abs(h.path("loss").asDouble() - Math.log(2)) > 1e-3, "the head trained: " + h);
        CliRun meanPooled = eval(head.resolve("best"), "--pooling", "mean");
        assertTrue(lastJson(meanPooled).path("loss").asDouble() != h.path("loss").asDouble(),
                "control: another pooling scores otherwise");
        // similarity: auto on a bare encoder; the run's label descriptions
        Path sim = train(bare, "sim", "objective: similarity",
                "similarity: {labels: {pos: it was great, neg: it was terrible}, temperature: 0.1}");
        assertReproducesTheRun(sim, "similarity", "--labels", "pos=it was great,neg=it was terrible",
                "--temperature", "0.1");
        // mlm: auto on a masked LM; the run's template and verbalizer
        Path masked = train(mlm, "masked", "objective: mlm", "  template: '{text} It was [MASK].'",
                "  verbalizer: {pos: great, neg: terrible}");
        assertReproducesTheRun(masked, "mlm", "--template", "{text} It was [MASK].", "--verbalizer",
                "pos=great,neg=terrible");
    }

    @Test
    void aHeadTrainedOnAMaskedLmReloadsWithItsMlmHead() throws IOException {
        // the export keeps BertForMaskedLM's class (its cls.predictions tensors stay): before, it was marked
        // BertForSequenceClassification and refused on loading ("tensor(s) that the config does not account for")
        Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 9, true);
        Path head = train(mlm, "head-on-mlm", "objective: head");
        JsonNode config = new ObjectMapper().readTree(head.resolve("best").resolve("config.json").toFile());
        assertEquals("BertForMaskedLM", config.path("architectures").get(0).asText(), config.toString());
        assertEquals(2, config.path("num_labels").asInt());
        assertReproducesTheRun(head, "head");
        assertEquals("mlm", lastJson(eval(head.resolve("best"), "--objective", "mlm", "--template",
                "{text} It was [MASK].", "--verbalizer", "pos=great,neg=terrible")).path("objective").asText());
    }

    @Test
    void similarityIsEvaluatorsScoreOfTheTrainingObjective() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 8, false);
        JsonNode e = lastJson(eval(bare, "--objective", "similarity", "--labels",
                "pos=it was great,neg=it was terrible", "--pooling", "cls"));
        LoadedEncoder m = ModelLoader.loadEncoder(bare);
        try (HfTokenizer tok = HfTokenizer.load(bare.resolve("tokenizer.json")); CpuOps ops = new CpuOps();
                var p = ops.createParameters(m.parameters(), org.zotune.tensor.DType.F32)) {
            TextRowEncoder enc = new TextRowEncoder(tok, 128);
            List<EncodedExample> rows = new ArrayList<>();
            String[] texts = {"the movie is fun", "the plot is dull", "loved the acting", "hated the film",
                "a good film", "a boring movie", "the acting is bad"};
            for (int i = 0; i < texts.length; i++) {
                rows.add(enc.encode("d:" + i, List.of(texts[i]), GOLD.get(i).equals("neg") ? 0 : 1));
            }
            // labels in the jsonl reader's order: neg, pos
            LabelSimilarity objective = new LabelSimilarity(new int[][] {enc.description("neg", "it was terrible"),
                enc.description("pos", "it was great")}, LabelSimilarity.Pooling.CLS, 0.05, 0);
            Evaluator.Result want = Evaluator.evaluate(ops, m.model(), p, rows, 3, 0, objective);
            assertEquals(want.loss(), e.path("loss").asDouble());
            assertEquals(want.accuracy(), e.path("accuracy").asDouble());
        }
    }

    @Test
    void predictionsAreOneLinePerExampleInDataOrder() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        Path head = train(bare, "head", "objective: head");
        Path file = dir.resolve("pred.jsonl");
        Files.writeString(file, "an old file is replaced, as embed's --out is\n".repeat(20));
        JsonNode e = lastJson(eval(head.resolve("best"), "--predictions", file.toString()));
        assertPredictions(file, e, 2);

        // a decoder's candidates too (the bundled stories260K), with the candidates' log-likelihoods
        Path fromDecoder = dir.resolve("decoder.jsonl");
        JsonNode d = lastJson(CliRun.of("eval", "--model", "bundled", "--data", data().toString(), "--template",
                "{text} It was {label}", "--verbalizer", "pos=great,neg=bad", "--device", "cpu", "--predictions",
                fromDecoder.toString()));
        assertFalse(d.has("objective"), "a decoder's output is as before");
        assertPredictions(fromDecoder, d, 2);
        for (String l : Files.readAllLines(fromDecoder)) {
            for (JsonNode s : new ObjectMapper().readTree(l).get("scores")) {
                assertTrue(s.asDouble() < 0, "a mean log-likelihood: " + l);
            }
        }
    }

    /**
     * A file of the positive rows alone is scored by similarity over every described label, and by mlm over every
     * verbalizer label (before, both were refused: "label 'neg' is not one of the data set's labels [pos]",
     * "verbalizer label 'neg' is not a label of the data set"): each row's scores and prediction are those the whole
     * file gives it, so a row can still be predicted neg.
     */
    @ParameterizedTest
    @ValueSource(strings = {"similarity", "mlm"})
    void aFileOfOneClassIsScoredOverEveryLabel(String objective) throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("m"), 8, objective.equals("mlm"));
        Path pos = dir.resolve("pos.jsonl");
        List<Integer> positive = HeadLabelOrderCliTest.positiveRows(ROWS, pos);
        List<String> options = objective.equals("mlm")
                ? List.of("--objective", "mlm", "--template", "{text} It was [MASK].", "--verbalizer",
                        "pos=great,neg=terrible")
                : List.of("--objective", "similarity", "--labels", "pos=it was great,neg=it was terrible");
        Path all = dir.resolve("all.jsonl");
        Path some = dir.resolve("some.jsonl");
        List<String> a = new ArrayList<>(options);
        a.addAll(List.of("--predictions", all.toString()));
        lastJson(eval(model, a.toArray(String[]::new)));
        List<String> b = new ArrayList<>(List.of("eval", "--model", model.toString(), "--data", pos.toString(),
                "--batch-size", "3", "--device", "cpu", "--predictions", some.toString()));
        b.addAll(options);
        JsonNode r = lastJson(CliRun.of(b.toArray(String[]::new)));
        assertEquals(objective, r.path("objective").asText());
        List<String> full = Files.readAllLines(all);
        List<String> sub = Files.readAllLines(some);
        assertEquals(positive.size(), sub.size());
        int right = 0;
        for (int j = 0; j < sub.size(); j++) {
            JsonNode f = new ObjectMapper().readTree(full.get(positive.get(j)));
            JsonNode g = new ObjectMapper().readTree(sub.get(j));
            assertEquals("pos", g.get("gold").asText());
            assertEquals(2, g.get("scores").size(), "both labels scored: " + sub.get(j));
            assertEquals(f.get("predicted"), g.get("predicted"), sub.get(j));
            // scores in each file's label order: the full file's [neg, pos], the positive file's [pos, neg]
            assertEquals(f.get("scores").get(1).asDouble(), g.get("scores").get(0).asDouble(), 1e-6, sub.get(j));
            assertEquals(f.get("scores").get(0).asDouble(), g.get("scores").get(1).asDouble(), 1e-6, sub.get(j));
            right += g.get("predicted").asText().equals("pos") ? 1 : 0;
        }
        assertEquals((double) right / sub.size(), r.get("accuracy").asDouble(), 1e-12, r.toString());
    }

    /**
     * {@code --format kshot --split dev|test} scores that file of the LM-BFF folder: the same examples, loss and
     * predictions as the file itself read as GLUE SST-2 (the layout of LM-BFF's SST-2 files); default train.
     */
    @Test
    void kshotSplitScoresThatFileOfTheFolder() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        Path folder = Files.createDirectories(dir.resolve("k/SST-2/4-13"));
        Files.writeString(folder.resolve("train.tsv"), "sentence\tlabel\nloved it\t1\nhated it\t0\n");
        Files.writeString(folder.resolve("dev.tsv"), "sentence\tlabel\na good film\t1\n");
        Files.writeString(folder.resolve("test.tsv"), "sentence\tlabel\nthe movie is fun\t1\nthe plot is dull\t0\n"
                + "a boring movie\t0\n");
        List<String> kshot = List.of("eval", "--model", bare.toString(), "--data", dir.resolve("k").toString(),
                "--format", "kshot", "--task", "SST-2", "--k-shot", "4", "--seed", "13", "--template", "sst2",
                "--batch-size", "2", "--device", "cpu");
        for (String split : List.of("train", "dev", "test")) {
            List<String> a = new ArrayList<>(kshot);
            a.addAll(List.of("--split", split, "--predictions", dir.resolve("k-" + split + ".jsonl").toString()));
            CliRun r = CliRun.of(a.toArray(String[]::new));
            JsonNode k = lastJson(r);
            CliRun one = CliRun.of("eval", "--model", bare.toString(), "--data",
                    folder.resolve(split + ".tsv").toString(), "--format", "sst2", "--template", "sst2",
                    "--batch-size", "2", "--device", "cpu", "--predictions", dir.resolve("f-" + split + ".jsonl")
                    .toString());
            JsonNode file = lastJson(one);
            assertEquals(List.of(2, 1, 3).get(List.of("train", "dev", "test").indexOf(split)),
                    k.path("examples").asInt(), split);
            assertEquals(file.path("loss").asDouble(), k.path("loss").asDouble(), 1e-9, split);
            assertEquals(Files.readString(dir.resolve("f-" + split + ".jsonl")),
                    Files.readString(dir.resolve("k-" + split + ".jsonl")), split + ": the same predictions");
            // the data line counts the scored split alone (it said "2 train, 1 dev, 3 test examples")
            int n = List.of(2, 1, 3).get(List.of("train", "dev", "test").indexOf(split));
            assertTrue(r.err().contains("data: classification: " + n + " examples"
                    + (split.equals("train") ? "," : " (split " + split + ")")), r.err());
            assertFalse(r.err().contains(" test examples"), r.err());
            assertTrue(one.err().contains("data: classification: " + n + " examples, text sst2"), one.err());
        }
        assertEquals(2, lastJson(CliRun.of(kshot.toArray(String[]::new))).path("examples").asInt(),
                "without --split: the train file");
        CliRun.of("eval", "--model", bare.toString(), "--data", data().toString(), "--split", "test", "--device",
                "cpu").assertUsageError("--split", "--format kshot", "--data");
    }

    private static void assertPredictions(Path file, JsonNode result, int classes) throws IOException {
        List<String> lines = Files.readAllLines(file);
        assertEquals(GOLD.size(), lines.size());
        assertEquals(GOLD.size(), result.path("examples").asInt());
        int right = 0;
        for (int i = 0; i < lines.size(); i++) {
            JsonNode p = new ObjectMapper().readTree(lines.get(i));
            assertEquals(i, p.get("index").asInt());
            assertEquals(GOLD.get(i), p.get("gold").asText(), "gold label of line " + i);
            JsonNode s = p.get("scores");
            assertEquals(classes, s.size());
            // labels in the jsonl reader's order (neg, pos): the predicted label is the argmax's
            String argmax = s.get(1).asDouble() > s.get(0).asDouble() ? "pos" : "neg";
            assertEquals(argmax, p.get("predicted").asText(), lines.get(i));
            right += p.get("predicted").asText().equals(p.get("gold").asText()) ? 1 : 0;
        }
        assertEquals(result.path("accuracy").asDouble(), right / (double) lines.size());
    }

    @Test
    void optionsThatDoNotFitAreOneLine() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 6, true);
        eval(bare, "--objective", "head").assertUsageError(bare.toString(), "objective head",
                "has none, nor an adapter given", "use objective similarity");
        eval(bare, "--objective", "mlm", "--template", "{text} It was [MASK].", "--verbalizer",
                "pos=great,neg=terrible").assertUsageError(bare.toString(), "objective mlm", "has none");
        eval(mlm, "--objective", "mlm", "--template", "{text} It was [MASK].", "--verbalizer",
                "pos=great,neg=terrible", "--pooling", "cls").assertUsageError("--pooling is an option of objectives "
                        + "head and similarity", "the objective here is mlm (as asked)");
        eval(mlm, "--template", "{text} It was [MASK].", "--verbalizer", "pos=great,neg=terrible", "--temperature",
                "0.1").assertUsageError("--temperature is an option of objective similarity",
                        "mlm (auto: no classifier, a masked-LM head)");
        eval(bare, "--objective", "similarity", "--labels", "pos=great,neg=bad", "--pooling", "max")
                .assertUsageError("--pooling", "max", "pooler");
        eval(bare, "--objective", "similarity", "--labels", "pos=great,neg=bad", "--pooling", "pooler")
                .assertUsageError("--pooling", "no pooler");
        eval(bare, "--objective", "similarity", "--labels", "pos=great").assertUsageError("--labels",
                "no description for label 'neg'");
        eval(bare, "--objective", "similarity").assertUsageError("needs label descriptions", "--labels");
        eval(bare, "--objective", "nosuch").assertUsageError("--objective");
        String[] decoder = {"eval", "--model", "bundled", "--data", data().toString(), "--template",
            "{text} It was {label}", "--verbalizer", "pos=great,neg=bad", "--device", "cpu"};
        for (String[] o : new String[][] {{"--objective", "head"}, {"--pooling", "mean"}, {"--temperature", "1"},
            {"--labels", "pos=a,neg=b"}}) {
            List<String> a = new ArrayList<>(List.of(decoder));
            a.addAll(List.of(o));
            CliRun.of(a.toArray(String[]::new)).assertUsageError(o[0], "decoder", "for encoders");
        }
        // --predictions: language-model data, a missing folder, a folder
        Path text = Files.writeString(dir.resolve("t.txt"), "one two three four five six seven eight\n");
        CliRun.of("eval", "--model", "bundled", "--format", "text", "--data", text.toString(), "--max-length", "8",
                "--device", "cpu", "--predictions", dir.resolve("p.jsonl").toString())
                .assertUsageError("--predictions", "language-model data");
        Path lm = Files.writeString(dir.resolve("lm.jsonl"), "{\"prompt\": \"once\", \"completion\": \" upon\"}\n");
        CliRun.of("eval", "--model", "bundled", "--data", lm.toString(), "--device", "cpu", "--predictions",
                dir.resolve("p.jsonl").toString()).assertUsageError("predictions", "language-model data");
        eval(bare, "--objective", "similarity", "--labels", "pos=a,neg=b", "--predictions",
                dir.resolve("no/such/p.jsonl").toString()).assertUsageError("--predictions", "does not exist");
        eval(bare, "--objective", "similarity", "--labels", "pos=a,neg=b", "--predictions", dir.toString())
                .assertUsageError("--predictions", "is a folder");
        assertFalse(Files.exists(dir.resolve("p.jsonl")), "a refused eval writes no predictions");
    }
}
