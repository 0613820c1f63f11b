package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.model.bert.TinyBertFolder;

/**
 * {@code zotune classify}: Hugging Face sequence classifiers (the classifier fixtures, scripts/make_classifier_fixtures.py)
 * classify their rows as transformers does (logits within 1e-5 + 1e-5·|ref|, the argmax named by id2label, RoBERTa's
 * default LABEL_i kept); similarity, mlm, a head run's adapter and a decoder's template score each text as
 * {@code zotune eval --predictions}
 * scores the same text as an example (by label name); bad input, one line each.
 */
class ClassifyCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static List<JsonNode> lines(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<JsonNode> out = new ArrayList<>();
        for (String l : r.outLines()) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    @Test
    void aHuggingFaceClassifierClassifiesAsTransformers() throws IOException {
        classifiesAsTransformers("cpu", true, 1e-5);
        // --text, repeatable, as the file's lines
        Path bert = HfClassifierCliTest.root().resolve("bert/model");
        List<JsonNode> two = lines(CliRun.of("classify", "--model", bert.toString(), "--text", "this film is bad.",
                "--text", "the movie was great!", "--device", "cpu"));
        assertEquals(2, two.size());
        assertEquals("this film is bad.", two.get(0).get("text").asText());
    }

    @Test
    @Tag("gpu")
    void aHuggingFaceClassifierClassifiesAsTransformersOnCuda() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        classifiesAsTransformers("cuda", false, 1e-3);
    }

    /** Per value within tol + tol·|ref| ({@code perValue}), else within tol of the largest |logit|. */
    private void classifiesAsTransformers(String device, boolean perValue, double tol) throws IOException {
        Path root = HfClassifierCliTest.root();
        for (String m : HfClassifierCliTest.models(root)) {
            JsonNode ex = JSON.readTree(root.resolve(m).resolve("expected.json").toFile());
            StringBuilder texts = new StringBuilder();
            ex.get("rows").forEach(r -> texts.append(r.get("text").asText()).append('\n'));
            Path file = Files.writeString(dir.resolve(m + ".txt"), texts.toString());
            List<JsonNode> got = lines(CliRun.of("classify", "--model", root.resolve(m).resolve("model").toString(),
                    "--text-file", file.toString(), "--device", device, "--batch-size", "3", "--no-progress"));
            assertEquals(ex.get("rows").size(), got.size());
            double worst = 0;
            double largest = 0;
            double crossEntropy = 0;
            for (int i = 0; i < got.size(); i++) {
                JsonNode row = ex.get("rows").get(i);
                assertEquals(row.get("text").asText(), got.get(i).get("text").asText());
                List<String> names = new ArrayList<>();
                got.get(i).get("scores").fieldNames().forEachRemaining(names::add);
                for (int c = 0; c < names.size(); c++) {
                    // the classes in id2label's order, under its names
                    assertEquals(ex.get("id2label").get(Integer.toString(c)).asText(), names.get(c), m);
                    double want = row.get("logits").get(c).asDouble();
                    double have = got.get(i).get("scores").get(names.get(c)).asDouble();
                    worst = Math.max(worst, Math.abs(want - have));
                    largest = Math.max(largest, Math.abs(want));
                    if (perValue) {
                        assertEquals(want, have, tol + tol * Math.abs(want), m + " row " + i + " class " + c);
                    }
                }
                assertEquals(ex.get("id2label").get(ex.get("predicted").get(i).asText()).asText(),
                        got.get(i).get("label").asText(), m + " row " + i);
                // the probabilities: transformers' cross-entropy of the row's gold label is -log p[gold]
                String gold = row.get("label").asText();
                String goldName = m.equals("roberta") ? "LABEL_" + gold : gold;
                crossEntropy -= Math.log(got.get(i).get("probabilities").get(goldName).asDouble());
                double sum = 0;
                for (String n : names) {
                    sum += got.get(i).get("probabilities").get(n).asDouble();
                }
                assertEquals(1.0, sum, 1e-12, m + " row " + i);
            }
            double loss = ex.get("loss").asDouble();
            assertEquals(loss, crossEntropy / got.size(), (perValue ? 1e-5 : tol) * loss,
                    m + ": mean -log p[gold] = transformers' loss");
            System.out.printf("classify %s on %s: logits max |zotune - transformers| %.3g (relative %.3g) over %d "
                    + "texts%n", m, device, worst, worst / largest, got.size());
            org.junit.jupiter.api.Assertions.assertTrue(perValue || worst <= tol * largest, m + ": " + worst);
        }
    }

    /** eval --predictions of {@code rows} with {@code options}: each row's scores by label name. */
    private List<JsonNode> evalScores(String model, String rows, List<String> options) throws IOException {
        Path data = Files.writeString(dir.resolve("rows.jsonl"), rows);
        Path pred = dir.resolve("pred.jsonl");
        Files.deleteIfExists(pred);
        List<String> a = new ArrayList<>(List.of("eval", "--model", model, "--data", data.toString(),
                "--device", "cpu", "--predictions", pred.toString(), "--no-progress"));
        a.addAll(options);
        CliRun r = CliRun.of(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(pred)) {
            out.add(JSON.readTree(l));
        }
        return out;
    }

    /** classify's scores of each row's text equal eval's (eval's class order: the data's labels, pos and neg). */
    private void sameAsEval(Object model, List<String> evalOptions, List<String> classifyOptions, String... adapter)
            throws IOException {
        String rows = TrainEncoderObjectivesCliTest.ROWS;
        List<JsonNode> eval = evalScores(model.toString(), rows, evalOptions);
        List<String> order = List.of("neg", "pos"); // eval's: the data's labels sorted
        List<String> a = new ArrayList<>(List.of("classify", "--model", model.toString(), "--device", "cpu",
                "--no-progress"));
        a.addAll(classifyOptions);
        a.addAll(List.of(adapter));
        for (String l : rows.split("\n")) {
            a.add("--text");
            a.add(JSON.readTree(l).get("text").asText());
        }
        List<JsonNode> got = lines(CliRun.of(a.toArray(String[]::new)));
        assertEquals(eval.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            for (int c = 0; c < order.size(); c++) {
                assertEquals(eval.get(i).get("scores").get(c).asDouble(),
                        got.get(i).get("scores").get(order.get(c)).asDouble(), 1e-12, "row " + i + " " + order.get(c));
            }
            assertEquals(eval.get(i).get("predicted").asText(), got.get(i).get("label").asText(), "row " + i);
        }
    }

    @Test
    void similarityMlmAndAnAdaptersHeadScoreAsEval() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        sameAsEval(bare, List.of("--objective", "similarity", "--labels", "pos=it was great,neg=it was terrible"),
                List.of("--objective", "similarity", "--labels", "pos=it was great,neg=it was terrible"));
        Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 7, true);
        sameAsEval(mlm, List.of("--objective", "mlm", "--template", "{text} It was [MASK].", "--verbalizer",
                "pos=great,neg=terrible"), List.of("--template", "{text} It was [MASK].", "--verbalizer",
                "pos=great,neg=terrible"));
        Path run = new ReplayRuns(dir).train(bare, "head-lora", ReplayRuns.HEAD, ReplayRuns.LORA);
        sameAsEval(bare, List.of("--adapter", run.resolve("adapter").toString()), List.of(), "--adapter",
                run.resolve("adapter").toString());
        // a decoder (the bundled stories260K): the candidates' mean log-likelihood under the template
        List<String> prompt = List.of("--template", "{text} It was {label}", "--verbalizer", "pos=great,neg=terrible");
        sameAsEval("bundled", prompt, prompt);
    }

    /**
     * Sentence pairs (--jsonl rows of premise and hypothesis) score as eval scores an nli-json file of the same pairs:
     * similarity over the pair encoding (tiny BERT) and a decoder's template of two fields (stories260K).
     */
    @Test
    void pairsScoreAsEvalScoresThem() throws IOException {
        String[][] pairs = {{"the movie is fun", "the film is good", "entailment"},
            {"the plot is dull", "the plot is exciting", "contradiction"},
            {"loved the acting", "the actor is tall", "neutral"}};
        StringBuilder nli = new StringBuilder("{");
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < pairs.length; i++) {
            nli.append(i == 0 ? "" : ", ").append('"').append(i).append("\": ").append(JSON.writeValueAsString(
                    JSON.createObjectNode().put("text_a", pairs[i][0]).put("text_b", pairs[i][1])
                            .put("label", pairs[i][2])));
            rows.append(JSON.writeValueAsString(JSON.createObjectNode().put("premise", pairs[i][0])
                    .put("hypothesis", pairs[i][1]))).append('\n');
        }
        Path data = Files.writeString(dir.resolve("pairs.json"), nli.append("}").toString());
        Path jsonl = Files.writeString(dir.resolve("pairs.jsonl"), rows.toString());
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        List<String> order = List.of("contradiction", "entailment", "neutral"); // nli-json's labels
        List<List<String>> cases = List.of(
                List.of(bare.toString(), "--objective", "similarity", "--labels",
                        "contradiction=it is false,entailment=it is true,neutral=it may be"),
                List.of("bundled", "--template", "{premise} Question: {hypothesis} Answer: {label}", "--verbalizer",
                        "contradiction=no,entailment=yes,neutral=maybe"));
        for (List<String> c : cases) {
            Path pred = dir.resolve("pred-pairs.jsonl");
            Files.deleteIfExists(pred);
            List<String> e = new ArrayList<>(List.of("eval", "--model", c.get(0), "--format", "nli-json", "--data",
                    data.toString(), "--device", "cpu", "--predictions", pred.toString(), "--no-progress"));
            e.addAll(c.subList(1, c.size()));
            CliRun er = CliRun.of(e.toArray(String[]::new));
            assertEquals(0, er.code(), er.err());
            List<String> k = new ArrayList<>(List.of("classify", "--model", c.get(0), "--jsonl", jsonl.toString(),
                    "--device", "cpu"));
            k.addAll(c.subList(1, c.size()));
            List<JsonNode> got = lines(CliRun.of(k.toArray(String[]::new)));
            List<String> want = Files.readAllLines(pred);
            assertEquals(pairs.length, got.size());
            for (int i = 0; i < pairs.length; i++) {
                JsonNode w = JSON.readTree(want.get(i));
                assertEquals(pairs[i][1], got.get(i).get("input").get("hypothesis").asText());
                for (int j = 0; j < order.size(); j++) {
                    assertEquals(w.get("scores").get(j).asDouble(), got.get(i).get("scores").get(order.get(j))
                            .asDouble(), 1e-12, c.get(0) + " pair " + i + " " + order.get(j));
                }
                assertEquals(w.get("predicted").asText(), got.get(i).get("label").asText());
            }
        }
        // bad input, one line each
        String m = bare.toString();
        CliRun.of("classify", "--model", m, "--jsonl", jsonl.toString(), "--text", "x", "--device", "cpu")
                .assertUsageError("--jsonl", "not with --text");
        Path mixed = Files.writeString(dir.resolve("mixed.jsonl"), "{\"premise\": \"a\", \"hypothesis\": \"b\"}\n"
                + "{\"premise\": \"a\"}\n");
        CliRun.of("classify", "--model", m, "--jsonl", mixed.toString(), "--labels", "a=x,b=y", "--device", "cpu")
                .assertUsageError("example 2 has the fields [premise]", "every example the same");
        Path number = Files.writeString(dir.resolve("number.jsonl"), "{\"premise\": 3}\n");
        CliRun.of("classify", "--model", m, "--jsonl", number.toString(), "--device", "cpu").assertUsageError(
                "number.jsonl:1", "field 'premise' is number, not a text");
        Path broken = Files.writeString(dir.resolve("broken.jsonl"), "{\"premise\": \n");
        CliRun.of("classify", "--model", m, "--jsonl", broken.toString(), "--device", "cpu").assertUsageError(
                "broken.jsonl:1", "not valid JSON");
        CliRun.of("classify", "--model", "bundled", "--text", "a", "--template",
                "{premise} Question: {hypothesis} Answer: {label}", "--verbalizer", "x=no,y=yes", "--device", "cpu")
                .assertUsageError("fills the fields [premise, hypothesis]", "--jsonl");
    }

    /** More texts than a chunk: every one written, in order, each scored as it is alone; progress on stderr. */
    @Test
    void aLongInputStreamsInChunks() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        String[] words = {"the movie is fun", "the plot is dull", "loved the acting", "hated the film"};
        StringBuilder b = new StringBuilder();
        int n = ClassifyCommand.CHUNK + 7;
        for (int i = 0; i < n; i++) {
            b.append(words[i % 4]).append(i % 3 == 0 ? " again" : "").append('\n');
        }
        Path file = Files.writeString(dir.resolve("many.txt"), b.toString());
        List<String> common = List.of("classify", "--model", bare.toString(), "--labels",
                "pos=it was great,neg=it was terrible", "--device", "cpu");
        List<String> a = new ArrayList<>(common);
        a.addAll(List.of("--text-file", file.toString()));
        CliRun r = CliRun.of(a.toArray(String[]::new));
        List<JsonNode> all = lines(r);
        assertEquals(n, all.size());
        org.junit.jupiter.api.Assertions.assertTrue(r.err().contains("classify: 1024 of " + n + " texts"), r.err());
        org.junit.jupiter.api.Assertions.assertTrue(r.err().contains("classify: " + n + " examples, classes [pos, "
                + "neg]"), r.err());
        String last = b.toString().split("\n")[n - 1];
        List<String> one = new ArrayList<>(common);
        one.addAll(List.of("--text", last));
        JsonNode alone = lines(CliRun.of(one.toArray(String[]::new))).get(0);
        assertEquals(last, all.get(n - 1).get("text").asText());
        assertEquals(alone.get("scores").toString(), all.get(n - 1).get("scores").toString());
    }

    @Test
    void badInputIsOneLine() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        String m = bare.toString();
        CliRun.of("classify", "--model", m, "--device", "cpu").assertUsageError("no text", "--text", "--text-file");
        Path empty = Files.writeString(dir.resolve("empty.txt"), "");
        CliRun.of("classify", "--model", m, "--text-file", empty.toString(), "--device", "cpu")
                .assertUsageError("empty");
        String noTask = CliRun.of("classify", "--model", m, "--text", "a good film", "--device", "cpu")
                .assertUsageError("objective similarity needs label descriptions", "--labels", "--template");
        org.junit.jupiter.api.Assertions.assertFalse(noTask.contains("--task"), noTask); // classify has none
        CliRun.of("classify", "--model", m, "--text", "a good film", "--objective", "head", "--device", "cpu")
                .assertUsageError("objective head scores the folder's classifier");
        CliRun.of("classify", "--model", m, "--text", "a good film", "--objective", "mlm", "--device", "cpu")
                .assertUsageError("objective mlm scores the masked-LM head");
        CliRun.of("classify", "--model", m, "--text", "a good film", "--labels", "pos=it was great,neg=bad",
                "--template", "{a} and {b}", "--device", "cpu").assertUsageError("fills the fields [a, b]",
                "--jsonl");
        CliRun.of("classify", "--model", m, "--text", "a good film", "--labels", "pos=it was great,neg=bad",
                "--max-length", "1", "--device", "cpu").assertUsageError("--max-length 1");
        CliRun.of("classify", "--model", "bundled", "--text", "hello", "--device", "cpu").assertUsageError(
                "--template is required to classify with a decoder", "with --verbalizer");
        CliRun.of("classify", "--model", "bundled", "--text", "hello", "--template", "{text} It was {label}",
                "--verbalizer", "pos=great,neg=terrible", "--objective", "head", "--device", "cpu")
                .assertUsageError("decoder", "classifies by its candidates' log-likelihood");
        CliRun.of("classify", "--model", "bundled", "--text", "hello", "--template", "copa", "--device", "cpu")
                .assertUsageError("multiple-choice template");
        Path out = Files.writeString(dir.resolve("out.jsonl"), "keep");
        CliRun.of("classify", "--model", m, "--text", "a good film", "--device", "cpu", "--out", out.toString())
                .assertUsageError("label descriptions");
        assertEquals("keep", Files.readString(out), "a refused classify leaves --out as it was");
        CliRun r = CliRun.of("classify", "--model", m, "--text", "a good film", "--labels",
                "pos=it was great,neg=bad", "--device", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(1, Files.readAllLines(out).size(), "--out replaces the file with one line per text");
    }
}
