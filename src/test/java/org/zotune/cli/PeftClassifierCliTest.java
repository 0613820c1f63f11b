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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * PEFT's SEQ_CLS adapters on RobertaForSequenceClassification, whose classifier module is {@code dense} (zotune's
 * pooler) + {@code out_proj} (zotune's classifier), so that PEFT's modules_to_save holds both, and on
 * BertForSequenceClassification (the linear layer alone), over the classifier fixtures
 * (scripts/make_classifier_fixtures.py):
 * <ul>
 * <li>peft's own adapters (scripts/make_peft_classifier_fixtures.py on the GPU host; skipped while absent):
 * {@code zotune eval --adapter} scores peft's logits, CPU f32 within 1e-5 + 1e-5·|ref| per value, CUDA relative to the
 * largest logit (f32 1e-3, bf16 3e-2);</li>
 * <li>without them: a RoBERTa head run with pooling pooler writes its LoRA and prefix adapters under that class's
 * names (classifier.dense = the base's frozen classifier.dense bit for bit, classifier.out_proj = the trained head),
 * each scores its run's final dev evaluation and replays to the same bytes; a mean-pooling head (no Hugging Face class
 * classifies so) keeps zotune's classifier.weight; an adapter in that form whose classifier.dense and out_proj are
 * other weights (lora_B zero, zotune's metadata removed: as PEFT saves one) scores as the base folder with those
 * weights in place, read the way HfClassifierCliTest checks against transformers; bad adapters, one line each.</li>
 * </ul>
 */
class PeftClassifierCliTest {
    static final String FORMAT = "zotune-peft-classifier-fixture-v1";
    static final String MAKE = "python3 scripts/make_peft_classifier_fixtures.py --fixtures "
            + "src/test/resources/classifier-fixtures";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String P = "base_model.model.";

    @TempDir
    Path dir;

    /** The classifier fixtures with peft's adapters, or the test is skipped naming the commands that make them. */
    private static Path peftFixtures() {
        Path root = HfClassifierCliTest.root();
        Assumptions.assumeTrue(Files.isRegularFile(root.resolve("peft-manifest.json")),
                "no peft adapters in classifier-fixtures: run `" + MAKE + "` on the GPU host (torch, transformers, "
                        + "peft)");
        return root;
    }

    private static JsonNode last(CliRun r) throws IOException {
        List<String> lines = r.outLines();
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    private CliRun eval(Path model, Path adapter, Path data, String device, String dtype, Path predictions) {
        List<String> args = new ArrayList<>(List.of("eval", "--model", model.toString(), "--format", "jsonl",
                "--data", data.toString(), "--device", device, "--dtype", dtype, "--batch-size", "3",
                "--max-length", "32", "--no-progress"));
        if (adapter != null) {
            args.addAll(List.of("--adapter", adapter.toString()));
        }
        if (predictions != null) {
            args.addAll(List.of("--predictions", predictions.toString()));
        }
        return CliRun.of(args.toArray(String[]::new));
    }

    /** peft's adapter on each fixture: zotune's scores against peft's logits (id2label's order = the data's). */
    private void checkPeftMade(String device, String dtype, boolean perValue, double tol) throws IOException {
        Path root = peftFixtures();
        for (String m : HfClassifierCliTest.models(root)) {
            Path f = root.resolve(m);
            JsonNode ex = JSON.readTree(f.resolve("peft-lora/expected.json").toFile());
            assertEquals(FORMAT, ex.get("format").asText());
            Path adapter = f.resolve("peft-lora/adapter");
            Set<String> names = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors().keySet();
            // the case under test: RoBERTa's classifier module is dense + out_proj
            assertEquals(m.equals("roberta"), names.contains(P + "classifier.dense.weight"), names.toString());
            Path pred = dir.resolve(m + "-" + device + "-" + dtype + ".jsonl");
            CliRun r = eval(f.resolve("model"), adapter, f.resolve("data.jsonl"), device, dtype, pred);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("pooling pooler (PEFT's SEQ_CLS classifier"), r.err());
            List<String> lines = Files.readAllLines(pred);
            JsonNode rows = ex.get("rows");
            assertEquals(rows.size(), lines.size());
            double worst = 0;
            double largest = 0;
            for (int i = 0; i < rows.size(); i++) {
                JsonNode want = rows.get(i).get("logits");
                JsonNode have = JSON.readTree(lines.get(i)).get("scores");
                for (int c = 0; c < want.size(); c++) {
                    double a = want.get(c).asDouble();
                    double b = have.get(c).asDouble();
                    worst = Math.max(worst, Math.abs(a - b));
                    largest = Math.max(largest, Math.abs(a));
                    if (perValue) {
                        assertEquals(a, b, tol + tol * Math.abs(a), m + " row " + i + " label " + c);
                    }
                }
                String label = ex.get("id2label").get(Integer.toString(ex.get("predicted").get(i).asInt())).asText();
                assertEquals(label.startsWith("LABEL_") ? label.substring(6) : label,
                        JSON.readTree(lines.get(i)).get("predicted").asText(), m + " row " + i + " predicted label");
            }
            System.out.printf("%s + peft %s LoRA SEQ_CLS adapter, %s %s: logits max |zotune - peft| %.3g (largest "
                    + "%.3g, relative %.3g)%n", m, ex.get("peft").asText(), device, dtype, worst, largest,
                    worst / largest);
            assertTrue(worst <= tol * largest || perValue, "relative error " + worst / largest);
        }
    }

    @Test
    void peftsOwnAdaptersScoreAsPeftOnTheCpu() throws IOException {
        checkPeftMade("cpu", "f32", true, 1e-5);
    }

    @Test
    @Tag("gpu")
    void peftsOwnAdaptersScoreAsPeftOnCuda() throws IOException {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        checkPeftMade("cuda", "f32", false, 1e-3);
        checkPeftMade("cuda", "bf16", false, 3e-2);
    }

    /**
     * peft's adapter on a RoBERTa saved without its classifier module (no pooler, no classifier: as a
     * RobertaForMaskedLM is saved): transformers builds the module afresh and PEFT's copy replaces it whole, so zotune
     * takes the pooler from the adapter too. Scores = peft's logits over the full base (CPU f32, per value 1e-5);
     * zotune merge writes a folder that scores so without the adapter; half the dense or a misshapen one is refused
     * in one line.
     */
    @Test
    void peftsOwnAdapterOnARobertaWithoutItsClassifierModule() throws IOException {
        Path root = peftFixtures();
        Path fixture = root.resolve("roberta");
        Path adapter = fixture.resolve("peft-lora/adapter");
        Path bare = robertaWithoutClassifier(fixture, "bare");
        Path data = fixture.resolve("data.jsonl");
        Path pred = dir.resolve("bare.jsonl");
        CliRun r = eval(bare, adapter, data, "cpu", "f32", pred);
        assertEquals(0, r.code(), r.err());
        JsonNode rows = JSON.readTree(fixture.resolve("peft-lora/expected.json").toFile()).get("rows");
        List<String> lines = Files.readAllLines(pred);
        assertEquals(rows.size(), lines.size());
        double worst = 0;
        for (int i = 0; i < rows.size(); i++) {
            JsonNode want = rows.get(i).get("logits");
            JsonNode have = JSON.readTree(lines.get(i)).get("scores");
            assertEquals(want.size(), have.size());
            for (int c = 0; c < want.size(); c++) {
                double a = want.get(c).asDouble();
                worst = Math.max(worst, Math.abs(a - have.get(c).asDouble()));
                assertEquals(a, have.get(c).asDouble(), 1e-5 + 1e-5 * Math.abs(a), "row " + i + " label " + c);
            }
        }
        System.out.printf("roberta without its classifier module + peft's adapter, cpu f32: logits max |zotune - "
                + "peft| %.3g%n", worst);
        Path merged = dir.resolve("bare-merged");
        CliRun m = CliRun.of("merge", "--model", bare.toString(), "--adapter", adapter.toString(), "--out",
                merged.toString());
        assertEquals(0, m.code(), m.err());
        CliRun em = eval(merged, null, data, "cpu", "f32", null);
        assertEquals(0, em.code(), em.err());
        assertEquals(last(r).get("loss").asDouble(), last(em).get("loss").asDouble(), 1e-6);
        eval(bare, peftCopy(adapter, "bare-half", t -> t.remove(P + "classifier.dense.bias"), Map.of()), data,
                "cpu", "f32", null).assertUsageError("has " + P + "classifier.dense.weight without tensor " + P
                + "classifier.dense.bias");
        eval(bare, peftCopy(adapter, "bare-shape", t -> t.put(P + "classifier.dense.weight", HostTensor.ofFloats(
                P + "classifier.dense.weight", new float[32 * 16], 32, 16)), Map.of()), data, "cpu", "f32", null)
                .assertUsageError("tensor " + P + "classifier.dense.weight has shape [32, 16]",
                        "it becomes roberta.pooler.dense.weight, [32, 32]");
    }

    /** The RoBERTa fixture's folder without its classifier module (no pooler, no classifier), in {@code dir}. */
    private Path robertaWithoutClassifier(Path fixture, String name) throws IOException {
        Path bare = Files.createDirectories(dir.resolve(name));
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(fixture.resolve("model").resolve(f), bare.resolve(f));
        }
        Map<String, HostTensor> kept = new LinkedHashMap<>(
                SafetensorsFile.open(fixture.resolve("model/model.safetensors")).tensors());
        assertTrue(kept.keySet().removeIf(n -> n.startsWith("classifier.")));
        SafetensorsWriter.write(bare.resolve("model.safetensors"), new ArrayList<>(kept.values()),
                Map.of("format", "pt"));
        return bare;
    }

    /**
     * A RoBERTa head run's LoRA and prefix adapters (classifier.dense = the frozen pooler) in PEFT's form (zotune's
     * metadata removed) on the fixture without its classifier module: the pooler comes from the adapter, so each
     * scores as on the full fixture (loss within 1e-12, every score bit for bit); so does the run's own adapter, whose
     * recorded fingerprint (body and pooler) the base with the lent pooler has; with another dense it is refused.
     */
    @Test
    void headAdaptersOnARobertaWithoutItsClassifierModule() throws IOException {
        Path fixture = HfClassifierCliTest.root().resolve("roberta");
        Path data = fixture.resolve("data.jsonl");
        Path bare = robertaWithoutClassifier(fixture, "bare-heads");
        for (String[] k : new String[][] {{"lora", "peft: {method: lora, r: 2, alpha: 4, targets: [q, v]}"},
            {"prefix", "peft: {method: prefix, tokens: 2}"}}) {
            Path adapter = run(fixture, "bare-" + k[0], "pooler", k[1]).resolve("adapter");
            Path peftForm = peftCopy(adapter, "bare-" + k[0] + "-peft", t -> { }, Map.of("format", "pt"));
            Path full = dir.resolve("full-" + k[0] + ".jsonl");
            Path none = dir.resolve("bare-" + k[0] + ".jsonl");
            CliRun onFull = eval(fixture.resolve("model"), peftForm, data, "cpu", "f32", full);
            assertEquals(0, onFull.code(), onFull.err());
            CliRun onBare = eval(bare, peftForm, data, "cpu", "f32", none);
            assertEquals(0, onBare.code(), onBare.err());
            double a = last(onFull).get("loss").asDouble();
            double b = last(onBare).get("loss").asDouble();
            System.out.println("roberta " + k[0] + " head adapter in PEFT's form: eval loss on the fixture " + a
                    + ", on the fixture without its classifier module " + b);
            assertEquals(a, b, 1e-12);
            List<String> fl = Files.readAllLines(full);
            List<String> bl = Files.readAllLines(none);
            assertEquals(fl.size(), bl.size());
            for (int i = 0; i < fl.size(); i++) {
                assertEquals(JSON.readTree(fl.get(i)).get("scores"), JSON.readTree(bl.get(i)).get("scores"),
                        k[0] + " row " + i);
            }
            // the run's own adapter records the base's fingerprint, which covers the body and the pooler: the
            // pooler lent from the adapter is the base's (frozen in the run), so it is that base and scores so
            CliRun own = eval(bare, adapter, data, "cpu", "f32", null);
            assertEquals(0, own.code(), own.err());
            assertEquals(last(eval(fixture.resolve("model"), adapter, data, "cpu", "f32", null)).get("loss")
                    .asDouble(), last(own).get("loss").asDouble(), 1e-12);
            // a dense other than the base's pooler, under the run's fingerprint, is another base: refused
            Path moved = peftCopy(adapter, "bare-" + k[0] + "-moved", t -> t.compute(t.keySet().stream()
                    .filter(n -> n.endsWith("classifier.dense.bias")).findFirst().orElseThrow(), (n, x) ->
                    scaled(x, 1.5f, 0.01f)), SafetensorsFile.open(adapter.resolve("adapter_model.safetensors"))
                    .metadata());
            eval(bare, moved, data, "cpu", "f32", null).assertUsageError("was trained on other base weights");
        }
    }

    /** A head run on the RoBERTa fixture (CPU, 6 ZO-SGD steps) with {@code pooling} and {@code peft}. */
    private Path run(Path fixture, String name, String pooling, String peft) throws IOException {
        Path out = dir.resolve(name);
        Path cfg = Files.writeString(dir.resolve(name + ".yaml"), String.join("\n",
                "model: '" + fixture.resolve("model") + "'", "objective: head", "head: {pooling: " + pooling + "}",
                "data:", "  format: jsonl", "  train: '" + fixture.resolve("data.jsonl") + "'",
                "  dev: '" + fixture.resolve("data.jsonl") + "'", "optimizer: {name: zo-sgd, lr: 0.05}",
                "eps: 0.001", "steps: 6", "batch_size: 4", "eval_every: 0", "max_length: 32", "device: cpu",
                "seed: 3",
                "out: '" + out + "'", peft, ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        return out;
    }

    @Test
    void aRobertaHeadRunsAdaptersHoldThatClassesClassifier() throws IOException {
        Path fixture = HfClassifierCliTest.root().resolve("roberta");
        Map<String, HostTensor> base = SafetensorsFile.open(fixture.resolve("model/model.safetensors")).tensors();
        String[][] runs = {{"lora", "peft: {method: lora, r: 2, alpha: 4, targets: [q, v]}", P},
            {"prefix", "peft: {method: prefix, tokens: 2}", "base_model."}};
        for (String[] k : runs) {
            Path run = run(fixture, "pooler-" + k[0], "pooler", k[1]);
            Path adapter = run.resolve("adapter");
            Map<String, HostTensor> t = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors();
            String saved = k[2] + "classifier.";
            assertTrue(t.keySet().containsAll(List.of(saved + "dense.weight", saved + "dense.bias",
                    saved + "out_proj.weight", saved + "out_proj.bias")), t.keySet().toString());
            assertFalse(t.containsKey(saved + "weight") || t.containsKey(saved + "bias"), t.keySet().toString());
            for (String w : List.of("weight", "bias")) { // the frozen dense is the base's, bit for bit
                assertArrayEquals(base.get("classifier.dense." + w).toFloats(), t.get(saved + "dense." + w)
                        .toFloats(), k[0] + " dense." + w);
            }
            assertFalse(java.util.Arrays.equals(base.get("classifier.out_proj.weight").toFloats(),
                    t.get(saved + "out_proj.weight").toFloats()), k[0] + ": the run trained the classifier");
            JsonNode config = JSON.readTree(adapter.resolve("adapter_config.json").toFile());
            assertEquals("[\"classifier\"]", config.get("modules_to_save").toString());
            assertEquals("SEQ_CLS", config.get("task_type").asText());
            JsonNode dev = JSON.readTree(run.resolve("summary.json").toFile()).get("final_dev");
            CliRun e = eval(fixture.resolve("model"), adapter, fixture.resolve("data.jsonl"), "cpu", "f32", null);
            assertEquals(0, e.code(), e.err());
            System.out.println("roberta " + k[0] + " + head pooler adapter, zotune eval: " + last(e)
                    + "; the run's final dev: " + dev);
            assertEquals(dev.get("loss").asDouble(), last(e).get("loss").asDouble(), 1e-12);
            // replay rebuilds the same adapter file
            Path replayed = dir.resolve("replayed-" + k[0]);
            CliRun rp = CliRun.of("replay", "--base", fixture.resolve("model").toString(), "--trajectory",
                    run.resolve("trajectory.jsonl").toString(), "--out", replayed.toString(), "--device", "cpu");
            assertEquals(0, rp.code(), rp.err());
            assertEquals(-1L, Files.mismatch(adapter.resolve("adapter_model.safetensors"),
                    replayed.resolve("adapter_model.safetensors")), k[0] + ": replayed adapter differs");
        }
        // pooling mean (on the fixture's body and pooler, its classifier taken out, so that the head starts at
        // zero): RobertaForSequenceClassification does not classify so; zotune's names stay
        Path body = Files.createDirectories(dir.resolve("mean-base/model"));
        Files.copy(fixture.resolve("data.jsonl"), dir.resolve("mean-base/data.jsonl"));
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(fixture.resolve("model").resolve(f), body.resolve(f));
        }
        Map<String, HostTensor> kept = new LinkedHashMap<>(base);
        kept.keySet().removeIf(n -> n.startsWith("classifier.out_proj."));
        SafetensorsWriter.write(body.resolve("model.safetensors"), new ArrayList<>(kept.values()),
                Map.of("format", "pt"));
        Path mean = run(dir.resolve("mean-base"), "mean-lora", "mean", runs[0][1]);
        Set<String> names = SafetensorsFile.open(mean.resolve("adapter/adapter_model.safetensors")).tensors()
                .keySet();
        assertTrue(names.contains(P + "classifier.weight"), names.toString());
        assertFalse(names.stream().anyMatch(n -> n.contains("dense") || n.contains("out_proj")), names.toString());
    }

    /**
     * PEFT's class over the base reads row i as the base config's label i (transformers' default LABEL_i: the integer
     * label i), and so do a run's adapters: on a bare BERT with integer labels that first appear as 1, 0 the rows are
     * 0, 1; from the classifier fixtures, id2label's order (BERT's names, RoBERTa's LABEL_i). Each adapter row is the
     * row of the same label in the run's merged model/ (whose config.json lists the run's order), and the adapter
     * scores as the run's final dev evaluation.
     */
    @Test
    void anAdaptersRowsAreInTheOrderPeftReadsThem() throws IOException {
        Path root = HfClassifierCliTest.root();
        Path bare = org.zotune.model.bert.TinyBertFolder.write(dir.resolve("bare"), 6, false, true);
        Path ints = Files.writeString(dir.resolve("ints.jsonl"), TrainEncoderObjectivesCliTest.ROWS
                .replace("\"pos\"", "1").replace("\"neg\"", "0"));
        List<String[]> cases = List.of(new String[] {"bare", bare.toString(), ints.toString(), "0,1"},
                new String[] {"bert", root.resolve("bert/model").toString(), root.resolve("bert/data.jsonl")
                        .toString(), "negative,neutral,positive"},
                new String[] {"roberta", root.resolve("roberta/model").toString(),
                        root.resolve("roberta/data.jsonl").toString(), "0,1,2"});
        for (String[] c : cases) {
            String m = c[0];
            Path data = Path.of(c[2]);
            List<String> peftOrder = List.of(c[3].split(","));
            Path out = dir.resolve("order-" + m);
            Path cfg = Files.writeString(dir.resolve("order-" + m + ".yaml"), String.join("\n",
                    "model: '" + c[1] + "'", "objective: head", "head: {pooling: pooler}",
                    "data: {format: jsonl, train: '" + data + "', dev: '" + data + "'}",
                    "optimizer: {name: zo-sgd, lr: 0.05}", "eps: 0.001", "steps: 4", "batch_size: 4",
                    "eval_every: 0", "device: cpu", "seed: 5", "out: '" + out + "'",
                    "peft: {method: lora, r: 2, alpha: 4, targets: [q, v], merge: true}", ""));
            CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
            assertEquals(0, r.code(), r.err());
            JsonNode id2label = JSON.readTree(out.resolve("model/config.json").toFile()).get("id2label");
            List<String> runOrder = new ArrayList<>();
            for (int i = 0; i < id2label.size(); i++) {
                runOrder.add(id2label.get(Integer.toString(i)).asText());
            }
            System.out.println(m + ": the run's label order " + runOrder + " (its merged model/'s id2label), the "
                    + "adapter's rows " + peftOrder);
            SafetensorsFile a = SafetensorsFile.open(out.resolve("adapter/adapter_model.safetensors"));
            assertEquals(JSON.writeValueAsString(peftOrder), a.metadata().get("zotune_id2label"), m);
            String w = m.equals("roberta") ? "classifier.out_proj.weight" : "classifier.weight";
            String b = m.equals("roberta") ? "classifier.out_proj.bias" : "classifier.bias";
            Map<String, HostTensor> merged = SafetensorsFile.open(out.resolve("model/model.safetensors")).tensors();
            float[] aw = a.tensors().get(P + w).toFloats();
            float[] mw = merged.get(w).toFloats();
            float[] ab = a.tensors().get(P + b).toFloats();
            float[] mb = merged.get(b).toFloats();
            int n = peftOrder.size();
            int width = aw.length / n;
            for (int i = 0; i < n; i++) {
                int j = runOrder.indexOf(peftOrder.get(i));
                assertArrayEquals(java.util.Arrays.copyOfRange(mw, j * width, (j + 1) * width),
                        java.util.Arrays.copyOfRange(aw, i * width, (i + 1) * width), m + " row " + i);
                assertEquals(mb[j], ab[i], m + " bias " + i);
            }
            JsonNode dev = JSON.readTree(out.resolve("summary.json").toFile()).get("final_dev");
            CliRun e = eval(Path.of(c[1]), out.resolve("adapter"), data, "cpu", "f32", null);
            assertEquals(0, e.code(), e.err());
            assertEquals(dev.get("loss").asDouble(), last(e).get("loss").asDouble(), 1e-12, m);
        }
    }

    /**
     * zotune merge of a RoBERTa head adapter whose classifier.dense is not the base's pooler (zotune's metadata kept,
     * the base's fingerprint with it): the merged folder holds the adapter's dense and scores as eval --adapter does
     * (the adapter is checked against the base it was opened on, not against the weights with the dense replaced).
     */
    @Test
    void mergingAnAdapterWhoseDenseDiffersKeepsIt() throws IOException {
        Path fixture = HfClassifierCliTest.root().resolve("roberta");
        Path data = fixture.resolve("data.jsonl");
        Path adapter = run(fixture, "merge-run", "pooler", "peft: {method: lora, r: 2, alpha: 4, targets: [q, v]}")
                .resolve("adapter");
        SafetensorsFile f = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors"));
        Path changed = peftCopy(adapter, "dense-changed", t -> t.put(P + "classifier.dense.weight",
                scaled(t.get(P + "classifier.dense.weight"), 0.5f, 0.01f)), f.metadata());
        CliRun e = eval(fixture.resolve("model"), changed, data, "cpu", "f32", null);
        assertEquals(0, e.code(), e.err());
        Path merged = dir.resolve("merged");
        CliRun m = CliRun.of("merge", "--model", fixture.resolve("model").toString(), "--adapter",
                changed.toString(), "--out", merged.toString());
        assertEquals(0, m.code(), m.err());
        assertArrayEquals(SafetensorsFile.open(changed.resolve("adapter_model.safetensors")).tensors()
                .get(P + "classifier.dense.weight").toFloats(), SafetensorsFile.open(merged.resolve(
                "model.safetensors")).tensors().get("classifier.dense.weight").toFloats());
        CliRun em = eval(merged, null, data, "cpu", "f32", null);
        assertEquals(0, em.code(), em.err());
        assertEquals(last(e).get("loss").asDouble(), last(em).get("loss").asDouble(), 1e-6);
    }

    /** A copy of {@code adapter} with its tensors changed and {@code metadata} (none of zotune's: as PEFT saves it). */
    private Path peftCopy(Path adapter, String name, java.util.function.Consumer<Map<String, HostTensor>> change,
            Map<String, String> metadata) throws IOException {
        Path out = Files.createDirectories(dir.resolve(name));
        Files.copy(adapter.resolve("adapter_config.json"), out.resolve("adapter_config.json"));
        Map<String, HostTensor> t = new LinkedHashMap<>(
                SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors());
        change.accept(t);
        SafetensorsWriter.write(out.resolve("adapter_model.safetensors"), new ArrayList<>(t.values()), metadata);
        return out;
    }

    private static HostTensor scaled(HostTensor t, float by, float plus) {
        float[] v = t.toFloats();
        for (int i = 0; i < v.length; i++) {
            v[i] = v[i] * by + plus * ((i % 7) - 3);
        }
        return HostTensor.ofFloats(t.name(), v, t.shape());
    }

    @Test
    void aPeftFormRobertaClassifierReplacesThePoolerAsTheFolderWould() throws IOException {
        Path fixture = HfClassifierCliTest.root().resolve("roberta");
        Path data = fixture.resolve("data.jsonl");
        Path adapter = run(fixture, "pooler", "pooler", "peft: {method: lora, r: 2, alpha: 4, targets: [q, v]}")
                .resolve("adapter");
        // lora_B zero (no body update), other dense and out_proj weights, no zotune metadata
        Map<String, HostTensor> changed = new LinkedHashMap<>();
        Path other = peftCopy(adapter, "other-head", t -> {
            for (String n : List.copyOf(t.keySet())) {
                HostTensor x = t.get(n);
                if (n.contains("lora_B")) {
                    t.put(n, HostTensor.ofFloats(n, new float[(int) x.numel()], x.shape()));
                } else if (n.contains("classifier.")) {
                    t.put(n, scaled(x, n.contains("dense") ? -0.7f : 1.3f, 0.02f));
                    changed.put(n.substring(P.length()), t.get(n));
                }
            }
        }, Map.of("format", "pt"));
        assertEquals(4, changed.size(), changed.keySet().toString());
        // the same weights in the base folder, which zotune reads as transformers does (HfClassifierCliTest)
        Path folder = Files.createDirectories(dir.resolve("folder"));
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(fixture.resolve("model").resolve(f), folder.resolve(f));
        }
        Map<String, HostTensor> weights = new LinkedHashMap<>(
                SafetensorsFile.open(fixture.resolve("model/model.safetensors")).tensors());
        changed.forEach((n, x) -> weights.put(n, HostTensor.ofFloats(n, x.toFloats(), x.shape())));
        SafetensorsWriter.write(folder.resolve("model.safetensors"), new ArrayList<>(weights.values()),
                Map.of("format", "pt"));
        CliRun viaAdapter = eval(fixture.resolve("model"), other, data, "cpu", "f32", null);
        assertEquals(0, viaAdapter.code(), viaAdapter.err());
        CliRun viaFolder = eval(folder, null, data, "cpu", "f32", null);
        assertEquals(0, viaFolder.code(), viaFolder.err());
        CliRun unchanged = eval(fixture.resolve("model"), null, data, "cpu", "f32", null);
        double a = last(viaAdapter).get("loss").asDouble();
        double f = last(viaFolder).get("loss").asDouble();
        double u = last(unchanged).get("loss").asDouble();
        System.out.println("PEFT-form roberta classifier (dense and out_proj changed): eval --adapter loss " + a
                + ", the base folder with those weights " + f + ", the base " + u);
        assertEquals(f, a, 1e-12 * Math.max(1, Math.abs(f)));
        assertTrue(Math.abs(u - a) > 1e-3, "the changed weights change the scores: " + u + " vs " + a);
        // control: out_proj alone changed (dense left the base's) scores otherwise, so dense counted
        Path outOnly = peftCopy(other, "out-only", t -> t.put(P + "classifier.dense.weight",
                SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).tensors()
                        .get(P + "classifier.dense.weight")), Map.of("format", "pt"));
        double o = last(eval(fixture.resolve("model"), outOnly, data, "cpu", "f32", null)).get("loss").asDouble();
        assertTrue(Math.abs(o - a) > 1e-3, "dense changed the scores: " + o + " vs " + a);

        // bad adapters: one line each
        HostTensor dense = SafetensorsFile.open(other.resolve("adapter_model.safetensors")).tensors()
                .get(P + "classifier.dense.weight");
        eval(fixture.resolve("model"), peftCopy(other, "bad-shape", t -> t.put(P + "classifier.dense.weight",
                HostTensor.ofFloats(P + "classifier.dense.weight", new float[32 * 16], 32, 16)), Map.of()), data,
                "cpu", "f32", null).assertUsageError("tensor " + P + "classifier.dense.weight has shape [32, 16]",
                "it replaces roberta.pooler.dense.weight, [32, 32]");
        eval(fixture.resolve("model"), peftCopy(other, "no-out", t -> t.remove(P + "classifier.out_proj.bias"),
                Map.of()), data, "cpu", "f32", null).assertUsageError(
                "without tensor " + P + "classifier.out_proj.bias");
        eval(fixture.resolve("model"), peftCopy(other, "stray", t -> t.put(P + "classifier.extra.weight",
                HostTensor.ofFloats(P + "classifier.extra.weight", new float[4], 2, 2)), Map.of()), data, "cpu",
                "f32", null).assertUsageError("tensor " + P + "classifier.extra.weight is not part of a roberta "
                + "sequence classifier's head");
        eval(fixture.resolve("model"), peftCopy(other, "half-dense", t -> t.remove(P + "classifier.dense.bias"),
                Map.of()), data, "cpu", "f32", null).assertUsageError("has " + P + "classifier.dense.weight without "
                + "tensor " + P + "classifier.dense.bias");
        eval(fixture.resolve("model"), peftCopy(other, "both-names", t -> t.put(P + "classifier.weight",
                HostTensor.ofFloats(P + "classifier.weight", t.get(P + "classifier.out_proj.weight").toFloats(),
                t.get(P + "classifier.out_proj.weight").shape())), Map.of()), data, "cpu", "f32", null)
                .assertUsageError("are both classifier.weight here");
        eval(fixture.resolve("model"), peftCopy(other, "mean", t -> { }, Map.of("zotune_id2label",
                "[\"0\",\"1\",\"2\"]", "zotune_pooling", "mean")), data, "cpu", "f32", null).assertUsageError(
                "the classifier module holds roberta.pooler.dense", "zotune_pooling is mean");
        // BERT's classifier module is the linear layer alone: a dense in it is no part of its head
        Path bert = HfClassifierCliTest.root().resolve("bert");
        Path bertRun = dir.resolve("bert-run");
        Path cfg = Files.writeString(dir.resolve("bert.yaml"), String.join("\n",
                "model: '" + bert.resolve("model") + "'", "objective: head", "head: {pooling: pooler}",
                "data: {format: jsonl, train: '" + bert.resolve("data.jsonl") + "'}",
                "optimizer: {name: zo-sgd, lr: 0.05}", "steps: 2", "batch_size: 4", "eval_every: 0",
                "device: cpu", "out: '" + bertRun + "'", "peft: {method: lora, r: 2, alpha: 4, targets: [q, v]}",
                ""));
        CliRun br = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, br.code(), br.err());
        Set<String> bertNames = SafetensorsFile.open(bertRun.resolve("adapter/adapter_model.safetensors"))
                .tensors().keySet();
        assertTrue(bertNames.contains(P + "classifier.weight") && bertNames.stream().noneMatch(n -> n.contains(
                "dense")), bertNames.toString());
        eval(bert.resolve("model"), peftCopy(bertRun.resolve("adapter"), "bert-dense", t -> t.put(
                P + "classifier.dense.weight", dense), Map.of()), bert.resolve("data.jsonl"), "cpu", "f32", null)
                .assertUsageError("tensor " + P + "classifier.dense.weight is not part of a bert sequence "
                        + "classifier's head");
    }
}
