package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.cli.ReplayRuns.HEAD;
import static org.zotune.cli.ReplayRuns.LORA;
import static org.zotune.cli.ReplayRuns.MLM;
import static org.zotune.cli.ReplayRuns.PREFIX;
import static org.zotune.cli.ReplayRuns.SIMILARITY;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * zotune replay of encoder runs trained through the CLI on tiny random BERT folders, on the CPU: for full fine-tuning
 * (mlm, similarity, head, a linear probe in bf16, a head started from a folder's classifier) the replayed folder's
 * safetensors hold the run's model/ tensors byte for byte (classifier included) and its config.json is the run's; for
 * LoRA (mlm, similarity, head with the classifier as modules_to_save, in bf16 from a folder's classifier) the replayed
 * adapter is the run's adapter/ byte for byte. Each run moved its weights away from the base, so that equality is not
 * the base's. A base the trajectory's set cannot be rebuilt on is one line, exit 2, naming the trajectory file.
 */
class ReplayEncoderCliTest {
    @TempDir
    Path dir;
    private ReplayRuns runs;

    @BeforeEach
    void runs() {
        runs = new ReplayRuns(dir);
    }

    @Test
    void fullMaskedLmAndSimilarityRunsReplayToTheirModelFolders() throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertFullReplay("full/mlm", mlm, runs.train(mlm, "full-mlm", MLM), "r-full-mlm");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        runs.assertFullReplay("full/similarity", bare, runs.train(bare, "full-sim", SIMILARITY), "r-full-sim");
    }

    @Test
    void fullHeadRunsReplayWithTheirClassifier() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path run = runs.train(bare, "full-head", HEAD);
        assertTrue(ReplayRuns.maxAbs(SafetensorsFile.open(run.resolve("model/model.safetensors")).tensors()
                .get("classifier.weight")) > 0, "the zero-initialised classifier trained");
        runs.assertFullReplay("full/head", bare, run, "r-full-head");
        // a linear probe in bf16: the head trains under the mask, the body comes out as the run held it (in bf16)
        Path probe = runs.train(bare, "probe-head", new String[] {"objective: head",
            "head: {pooling: cls, linear_probe: true}"}, "dtype: bf16");
        Path r = runs.replayed(bare, probe, "r-probe-head");
        ReplayRuns.assertSameTensors("full/head linear probe bf16", probe.resolve("model/model.safetensors"),
                r.resolve("model.safetensors"));
        assertEquals(Files.readString(probe.resolve("model/config.json")), Files.readString(r.resolve("config.json")));

        // a run started from a folder with a classifier (its own export) replays from that classifier
        Path again = runs.train(run.resolve("model"), "again-head", HEAD);
        runs.assertFullReplay("full/head from a classifier", run.resolve("model"), again, "r-again-head");
    }

    @Test
    void loraRunsReplayToTheirAdapters() throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertAdapterReplay("lora/mlm", mlm, runs.train(mlm, "lora-mlm", MLM, LORA), "r-lora-mlm");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        runs.assertAdapterReplay("lora/similarity", bare, runs.train(bare, "lora-sim", SIMILARITY, LORA),
                "r-lora-sim");
        Path head = runs.train(bare, "lora-head", HEAD, LORA);
        Map<String, HostTensor> t = SafetensorsFile.open(head.resolve("adapter/adapter_model.safetensors")).tensors();
        assertTrue(ReplayRuns.maxAbs(t.get("base_model.model.classifier.weight")) > 0,
                "the classifier trained beside A and B");
        runs.assertAdapterReplay("lora/head (modules_to_save)", bare, head, "r-lora-head");
        // in bf16 from a base folder with a classifier of float32 values: its start rounded to the run's dtype, the
        // adapters in float32
        Path withHead = runs.withClassifier(bare, "with-head");
        Path bf16 = runs.train(withHead, "lora-head-bf16", HEAD, LORA, "dtype: bf16");
        runs.assertAdapterReplay("lora/head bf16 from a classifier", withHead, bf16, "r-lora-head-bf16");
    }

    /**
     * Prefix runs: the masked-LM one, and the head beside a prefix (PEFT's SEQ_CLS modules_to_save), from a zero head
     * and, in bf16, from a base folder's classifier of float32 values (its start rounded to the run's dtype).
     */
    @Test
    void prefixRunsReplayToTheirAdapters() throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertPrefixReplay("prefix/mlm", mlm, runs.train(mlm, "prefix-mlm", MLM, PREFIX), "r-prefix-mlm", "cpu");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        runs.assertPrefixReplay("prefix/head (modules_to_save)", bare, runs.train(bare, "prefix-head", HEAD, PREFIX),
                "r-prefix-head", "cpu");
        Path withHead = runs.withClassifier(bare, "with-head");
        runs.assertPrefixReplay("prefix/head bf16 from a classifier", withHead, runs.train(withHead,
                "prefix-head-bf16", HEAD, PREFIX, "dtype: bf16"), "r-prefix-head-bf16", "cpu");
    }

    @Test
    void aBaseTheTrajectoryCannotBeRebuiltOnIsOneLine() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path head = runs.train(bare, "head", HEAD);
        Path lora = runs.train(bare, "lora", HEAD, LORA);
        String trajectory = head.resolve("trajectory.jsonl").toString();
        for (Path run : new Path[] {head, lora}) {
            // another family: the bundled decoder
            CliRun.of("replay", "--base", "bundled", "--trajectory", run.resolve("trajectory.jsonl").toString(),
                    "--out", dir.resolve("x").toString()).assertUsageError(run.resolve("trajectory.jsonl").toString(),
                            "trained a classification head on an encoder", "decoder");
            // another class of the same family: a BertForMaskedLM's parameters are not the bare BertModel's
            Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 6, true);
            runs.replay(mlm, run, "x").assertUsageError("are not those the trajectory was trained on",
                    run.resolve("trajectory.jsonl").toString(), "cls.predictions");
            // the same shapes, other weights
            Path other = TinyBertFolder.write(dir.resolve("other"), 7, false);
            runs.replay(other, run, "x").assertUsageError("not those the run started from",
                    run.resolve("trajectory.jsonl").toString());
        }
        assertFalse(Files.exists(dir.resolve("x")), "a refused replay writes nothing");

        // the base's body, with a classifier the run did not start from (a zero head)
        Path withHead = runs.withClassifier(bare, "with-head");
        runs.replay(withHead, head, "x").assertUsageError(trajectory,
                "the classifier the run started from is not the one");
        runs.replay(withHead, lora, "x").assertUsageError("the classifier the run started from is not the one");

        // a header written before zotune recorded the head
        List<String> lines = new ArrayList<>(Files.readAllLines(head.resolve("trajectory.jsonl")));
        com.fasterxml.jackson.databind.node.ObjectNode h = (com.fasterxml.jackson.databind.node.ObjectNode)
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines.get(0));
        assertTrue(h.has("head"), "a head run's header records its head: " + lines.get(0));
        h.remove("head");
        lines.set(0, h.toString());
        Path old = Files.write(dir.resolve("old.jsonl"), lines);
        CliRun.of("replay", "--base", bare.toString(), "--trajectory", old.toString(), "--out",
                dir.resolve("x").toString()).assertUsageError(old.toString(), "records no head");
        assertFalse(Files.exists(dir.resolve("x")), "a refused replay writes nothing");

        // an --out with something in it, or a file, is refused before the base loads: nothing is overwritten
        Path full = Files.createDirectories(dir.resolve("full"));
        Files.writeString(full.resolve("keep.txt"), "mine");
        runs.replay(bare, head, "full").assertUsageError("--out " + full + " is not empty");
        assertEquals("mine", Files.readString(full.resolve("keep.txt")));
        Path file = Files.writeString(dir.resolve("a-file"), "mine");
        runs.replay(bare, head, "a-file").assertUsageError("--out " + file + " is a file");
    }
}
