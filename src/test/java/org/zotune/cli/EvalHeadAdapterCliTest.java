package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * zotune eval --adapter with a head run's adapter (LoRA or a prefix beside the classifier, PEFT's SEQ_CLS
 * modules_to_save): objective auto scores the adapter's classifier over the adapted body, its loss and accuracy those
 * of the run's final dev evaluation (printed by the run's summary.json); a copy whose metadata lists the labels in
 * the other order with the rows swapped scores the same; the adapter's problems are one line, exit 2: no label
 * metadata, modules other than the classifier, labels other than the data's, a misshapen classifier.
 */
class EvalHeadAdapterCliTest {
    @TempDir
    Path dir;

    private static JsonNode lastJson(CliRun r) throws IOException {
        List<String> lines = r.outLines();
        return new ObjectMapper().readTree(lines.get(lines.size() - 1));
    }

    private Path data() throws IOException {
        Path d = dir.resolve("d.jsonl");
        if (!Files.exists(d)) {
            Files.writeString(d, TrainEncoderObjectivesCliTest.ROWS);
        }
        return d;
    }

    /** A copy of {@code adapter} with its config and weights file changed. */
    private Path copy(Path adapter, String name, java.util.function.Consumer<ObjectNode> config,
            java.util.function.Consumer<Map<String, HostTensor>> tensors,
            java.util.function.Consumer<Map<String, String>> metadata) throws IOException {
        Path out = Files.createDirectories(dir.resolve(name));
        ObjectNode c = (ObjectNode) new ObjectMapper().readTree(adapter.resolve("adapter_config.json").toFile());
        config.accept(c);
        Files.writeString(out.resolve("adapter_config.json"), c.toPrettyString());
        SafetensorsFile f = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors"));
        Map<String, HostTensor> t = new LinkedHashMap<>(f.tensors());
        tensors.accept(t);
        Map<String, String> m = new LinkedHashMap<>(f.metadata());
        metadata.accept(m);
        SafetensorsWriter.write(out.resolve("adapter_model.safetensors"), new ArrayList<>(t.values()), m);
        return out;
    }

    private CliRun eval(Path model, Path adapter, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("eval", "--model", model.toString(), "--adapter",
                adapter.toString(), "--format", "jsonl", "--data", data().toString(), "--max-length", "16",
                "--batch-size", "6", "--device", "cpu"));
        args.addAll(List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    @Test
    void aHeadRunsAdapterScoresAsTheRunsFinalDevEvaluation() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        ReplayRuns runs = new ReplayRuns(dir);
        for (String peft : new String[] {ReplayRuns.PREFIX, ReplayRuns.LORA}) {
            String name = peft.contains("prefix") ? "prefix" : "lora";
            String[] withDev = {"objective: head", "head: {pooling: mean}", "data:", "  dev: '" + data() + "'"};
            Path run = runs.train(model, "head-" + name, withDev, peft);
            JsonNode dev = new ObjectMapper().readTree(run.resolve("summary.json").toFile()).get("final_dev");
            CliRun r = eval(model, run.resolve("adapter"));
            assertEquals(0, r.code(), r.err());
            JsonNode got = lastJson(r);
            System.out.println(name + " + head adapter, zotune eval: " + got + "; the run's final dev: " + dev);
            assertEquals("head", got.get("objective").asText());
            assertTrue(r.err().contains("the adapter has a classifier (modules_to_save)"), r.err());
            assertEquals(dev.get("loss").asDouble(), got.get("loss").asDouble(), 1e-12);
            assertEquals(dev.get("accuracy").asDouble(), got.get("accuracy").asDouble(), 1e-12);
        }
        Path adapter = dir.resolve("head-prefix/adapter");
        double loss = lastJson(eval(model, adapter)).get("loss").asDouble();

        // the labels listed the other way round with the rows swapped: the same classifier, the same scores
        Path swapped = copy(adapter, "swapped", c -> { }, t -> {
            HostTensor w = t.get("base_model.classifier.weight");
            HostTensor b = t.get("base_model.classifier.bias");
            float[] wv = w.toFloats();
            int h = wv.length / 2;
            float[] ws = new float[wv.length];
            System.arraycopy(wv, h, ws, 0, h);
            System.arraycopy(wv, 0, ws, h, h);
            float[] bv = b.toFloats();
            t.put(w.name(), HostTensor.ofFloats(w.name(), ws, w.shape()));
            t.put(b.name(), HostTensor.ofFloats(b.name(), new float[] {bv[1], bv[0]}, b.shape()));
        }, m -> m.put("zotune_id2label", "[\"pos\",\"neg\"]"));
        CliRun sw = eval(model, swapped);
        assertEquals(0, sw.code(), sw.err());
        assertEquals(loss, lastJson(sw).get("loss").asDouble(), 1e-12);
        // control: the labels swapped without the rows is another classifier
        Path relabelled = copy(adapter, "relabelled", c -> { }, t -> { },
                m -> m.put("zotune_id2label", "[\"pos\",\"neg\"]"));
        double other = lastJson(eval(model, relabelled)).get("loss").asDouble();
        assertTrue(Math.abs(other - loss) > 1e-4, loss + " vs " + other);

        // bad adapters: one line each
        eval(model, copy(adapter, "no-labels", c -> { }, t -> { }, m -> m.remove("zotune_id2label")))
                .assertUsageError("adapter_model.safetensors", "zotune_id2label", "which label each row is");
        eval(model, copy(adapter, "other-labels", c -> { }, t -> { }, m -> m.put("zotune_id2label",
                "[\"good\",\"bad\"]"))).assertUsageError("labels [good, bad]", "are not the data's labels [neg, pos]");
        eval(model, copy(adapter, "twice", c -> { }, t -> { }, m -> m.put("zotune_id2label", "[\"neg\",\"neg\"]")))
                .assertUsageError("zotune_id2label", "each once");
        eval(model, copy(adapter, "more-modules", c -> c.putArray("modules_to_save").add("classifier").add("pooler"),
                t -> { }, m -> { })).assertUsageError("adapter_config.json", "modules_to_save", "[\"classifier\"]");
        eval(model, copy(adapter, "no-bias", c -> { }, t -> t.remove("base_model.classifier.bias"), m -> { }))
                .assertUsageError("without tensor base_model.classifier.bias");
        eval(model, copy(adapter, "narrow", c -> { }, t -> t.put("base_model.classifier.weight",
                HostTensor.ofFloats("base_model.classifier.weight", new float[2 * 3], 2, 3)), m -> { }))
                .assertUsageError("the classifier's tensors have shapes [2, 3] and [2]", "[labels, 16]");
        eval(model, copy(adapter, "pooling", c -> { }, t -> { }, m -> m.put("zotune_pooling", "max")))
                .assertUsageError("zotune_pooling 'max' is not mean, cls or pooler");
    }

    /**
     * An adapter as PEFT makes it on BertForSequenceClassification (a head run's LoRA adapter, pooling pooler, with
     * zotune's metadata taken out): its rows are the base's config.json id2label, its pooling the pooler, so it scores
     * as the run's final dev evaluation; over a base without id2label its rows are LABEL_0, LABEL_1, refused on data
     * labelled pos/neg (before, every such adapter was refused: no zotune_id2label).
     */
    @Test
    void aPeftMadeAdapterTakesItsBasesLabelsAndThePooler() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("pooled"), 6, false, true);
        String[] withDev = {"objective: head", "head: {pooling: pooler}", "data:", "  dev: '" + data() + "'"};
        Path run = new ReplayRuns(dir).train(model, "head-pooler", withDev, ReplayRuns.LORA);
        JsonNode dev = new ObjectMapper().readTree(run.resolve("summary.json").toFile()).get("final_dev");
        Path adapter = run.resolve("adapter");
        Map<String, String> meta = SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).metadata();
        JsonNode rowLabels = new ObjectMapper().readTree(meta.get("zotune_id2label"));
        // PEFT's SEQ_CLS lists "score" beside "classifier" whatever the model
        Path peftMade = copy(adapter, "peft-made", c -> c.putArray("modules_to_save").add("classifier").add("score"),
                t -> { }, m -> {
            m.remove("zotune_id2label");
            m.remove("zotune_pooling");
            m.remove("zotune_base_weights");
        });
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree(model.resolve("config.json").toFile());
        Files.writeString(model.resolve("config.json"), config.toString()); // no id2label yet
        eval(model, peftMade).assertUsageError("labels [LABEL_0, LABEL_1] (transformers' default names",
                "are not the data's labels");
        ObjectNode id2label = config.putObject("id2label");
        for (int i = 0; i < rowLabels.size(); i++) {
            id2label.put(Integer.toString(i), rowLabels.get(i).asText());
        }
        Files.writeString(model.resolve("config.json"), config.toString());
        CliRun r = eval(model, peftMade);
        assertEquals(0, r.code(), r.err());
        JsonNode got = lastJson(r);
        System.out.println("PEFT-made head adapter (zotune's metadata removed), labels " + rowLabels + " from the base: "
                + got + "; the run's final dev: " + dev);
        assertTrue(r.err().contains("pooling pooler (PEFT's SEQ_CLS classifier, which classifies the pooler's "
                + "output"), r.err());
        assertEquals(dev.get("loss").asDouble(), got.get("loss").asDouble(), 1e-12);
        assertEquals(dev.get("accuracy").asDouble(), got.get("accuracy").asDouble(), 1e-12);
    }
}
