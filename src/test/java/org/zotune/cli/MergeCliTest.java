package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;

/**
 * zotune merge on a tiny random BERT: a head run's LoRA adapter (trained with peft.merge, so the run itself wrote the
 * merged model/) merges into the same weights byte for byte, with the classifier and its config.json keys; a prefix
 * adapter, a missing adapter and an --out that is not empty are one line, exit 2, before anything is written.
 */
class MergeCliTest {
    @TempDir
    Path dir;

    @Test
    void aLoraAdapterMergesAsTheRunsPeftMergeDid() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        ReplayRuns runs = new ReplayRuns(dir);
        Path run = runs.train(model, "lora-head", ReplayRuns.HEAD,
                "peft: {method: lora, r: 2, alpha: 4, targets: [q, v, down], merge: true}");
        Path out = dir.resolve("merged");
        CliRun r = CliRun.of("merge", "--model", model.toString(), "--adapter", run.resolve("adapter").toString(),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("merged " + run.resolve("adapter") + " (lora) into " + out), r.err());
        assertEquals(out.toString(), new ObjectMapper().readTree(r.out()).get("out").asText());
        ReplayRuns.assertSameTensors("zotune merge vs the run's peft.merge", run.resolve("model/model.safetensors"),
                out.resolve("model.safetensors"), false);
        JsonNode want = new ObjectMapper().readTree(run.resolve("model/config.json").toFile());
        JsonNode got = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        for (String key : new String[] {"architectures", "num_labels", "id2label", "label2id", "zotune_pooling"}) {
            assertEquals(want.get(key), got.get(key), key);
        }
        assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")), "the tokenizer is copied");

        // one line each, nothing written
        CliRun.of("merge", "--model", model.toString(), "--adapter", run.resolve("adapter").toString(), "--out",
                out.toString()).assertUsageError("--out " + out + " is not empty");
        Path prefix = runs.train(model, "prefix", ReplayRuns.SIMILARITY, ReplayRuns.PREFIX);
        CliRun.of("merge", "--model", model.toString(), "--adapter", prefix.resolve("adapter").toString(), "--out",
                dir.resolve("p").toString()).assertUsageError("a prefix adapter does not merge into the weights");
        assertFalse(Files.exists(dir.resolve("p").resolve("model.safetensors")));
        CliRun.of("merge", "--model", model.toString(), "--adapter", dir.resolve("none").toString(), "--out",
                dir.resolve("n").toString()).assertUsageError("adapter " + dir.resolve("none") + " does not exist");
        assertFalse(Files.exists(dir.resolve("n")));
    }
}
