package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * zotune replay of encoder runs trained through the CLI on tiny random BERT folders: for full fine-tuning (mlm,
 * similarity, head, a linear probe in bf16) the replayed folder's safetensors hold the run's model/ tensors byte for
 * byte (classifier included) and its config.json is the run's; for LoRA (mlm, similarity, head with the classifier as
 * modules_to_save) the replayed adapter is the run's adapter/ byte for byte. Each run moved its weights away from the
 * base, so that equality is not the base's. A base the trajectory's set cannot be rebuilt on is one line, exit 2.
 */
class ReplayEncoderCliTest {
    @TempDir
    Path dir;

    private static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    private static final String[] MLM = {"objective: mlm", "data:", "  template: '{text} It was [MASK].'",
        "  verbalizer: {pos: great, neg: terrible}"};
    private static final String[] SIMILARITY = {"objective: similarity",
        "similarity: {labels: {pos: it was great, neg: it was terrible}}"};
    private static final String[] HEAD = {"objective: head", "head: {pooling: mean}"};
    private static final String LORA = "peft: {method: lora, r: 2, alpha: 4, targets: [q, v, down]}";

    /** Trains a run named {@code name} through the CLI (6 ZO-Adam steps, q 2) and returns its folder. */
    private Path train(Path model, String name, String[] objective, String... extra) throws IOException {
        Path data = Files.writeString(dir.resolve("d.jsonl"), ROWS);
        List<String> lines = new ArrayList<>(List.of("model: '" + model + "'"));
        boolean dataKey = false;
        for (String l : objective) {
            dataKey |= l.equals("data:");
            lines.add(l);
        }
        if (!dataKey) {
            lines.add("data:");
        }
        lines.addAll(List.of("  format: jsonl", "  train: '" + data + "'", "optimizer: {name: zo-adam, lr: 0.05}",
                "eps: 0.01", "q: 2", "steps: 6", "batch_size: 6", "eval_every: 0", "max_length: 16", "device: cpu",
                "seed: 3", "out: '" + dir.resolve(name) + "'"));
        lines.addAll(List.of(extra));
        lines.add("");
        Path cfg = Files.writeString(dir.resolve(name + ".yaml"), String.join("\n", lines));
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        return dir.resolve(name);
    }

    private CliRun replay(Path base, Path run, String out) {
        return CliRun.of("replay", "--base", base.toString(), "--trajectory", run.resolve("trajectory.jsonl")
                .toString(), "--out", dir.resolve(out).toString(), "--device", "cpu");
    }

    private Path replayed(Path base, Path run, String out) {
        CliRun r = replay(base, run, out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"steps\":6"), r.out());
        return dir.resolve(out);
    }

    private static byte[] bytes(HostTensor t) {
        ByteBuffer b = t.bytes().duplicate();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /**
     * Both files hold the same tensors (names, dtypes, shapes) with the same bytes, and the same metadata; prints how
     * many tensors and bytes it compared.
     */
    static void assertSameTensors(String what, Path want, Path got) {
        SafetensorsFile w = SafetensorsFile.open(want);
        SafetensorsFile g = SafetensorsFile.open(got);
        Map<String, HostTensor> wt = w.tensors();
        Map<String, HostTensor> gt = g.tensors();
        assertEquals(wt.keySet(), gt.keySet(), what + ": tensor names");
        long n = 0;
        for (Map.Entry<String, HostTensor> e : wt.entrySet()) {
            HostTensor a = e.getValue();
            HostTensor b = gt.get(e.getKey());
            assertEquals(a.dtype(), b.dtype(), what + " " + e.getKey() + ": dtype");
            assertArrayEquals(a.shape(), b.shape(), what + " " + e.getKey() + ": shape");
            assertArrayEquals(bytes(a), bytes(b), what + " " + e.getKey() + ": bytes");
            n += a.numel();
        }
        assertEquals(w.metadata(), g.metadata(), what + ": metadata");
        System.out.println(what + ": replay equals the run's " + want.getFileName() + " byte for byte (" + wt.size()
                + " tensors, " + n + " values)");
    }

    /** Some tensor of {@code trained} differs from the base's (the run moved its weights). */
    private static void assertMoved(String what, Path base, Path trained) {
        Map<String, HostTensor> b = SafetensorsFile.open(base.resolve("model.safetensors")).tensors();
        Map<String, HostTensor> t = SafetensorsFile.open(trained).tensors();
        double moved = 0;
        for (Map.Entry<String, HostTensor> e : b.entrySet()) {
            HostTensor x = t.get(e.getKey());
            if (x != null) {
                float[] u = e.getValue().toFloats();
                float[] v = x.toFloats();
                for (int i = 0; i < u.length; i++) {
                    moved = Math.max(moved, Math.abs(u[i] - v[i]));
                }
            }
        }
        assertTrue(moved > 1e-6, what + ": the run moved the base's weights (max |Δ| " + moved + ")");
    }

    private static float maxAbs(HostTensor t) {
        float m = 0;
        for (float v : t.toFloats()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    private void assertFullReplay(String what, Path model, Path run, String out) throws IOException {
        Path r = replayed(model, run, out);
        assertMoved(what, model, run.resolve("model/model.safetensors"));
        assertSameTensors(what, run.resolve("model/model.safetensors"), r.resolve("model.safetensors"));
        assertEquals(Files.readString(run.resolve("model/config.json")), Files.readString(r.resolve("config.json")),
                what + ": config.json");
    }

    private void assertAdapterReplay(String what, Path model, Path run, String out) throws IOException {
        Path r = replayed(model, run, out);
        Map<String, HostTensor> t = SafetensorsFile.open(run.resolve("adapter/adapter_model.safetensors")).tensors();
        float b = 0;
        for (Map.Entry<String, HostTensor> e : t.entrySet()) {
            if (e.getKey().contains("lora_B")) {
                b = Math.max(b, maxAbs(e.getValue()));
            }
        }
        assertTrue(b > 0, what + ": B starts at zero and trained");
        assertSameTensors(what, run.resolve("adapter/adapter_model.safetensors"), r.resolve(
                "adapter_model.safetensors"));
        assertEquals(Files.readString(run.resolve("adapter/adapter_config.json")), Files.readString(r.resolve(
                "adapter_config.json")), what + ": adapter_config.json");
    }

    @Test
    void fullMaskedLmAndSimilarityRunsReplayToTheirModelFolders() throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        assertFullReplay("full/mlm", mlm, train(mlm, "full-mlm", MLM), "r-full-mlm");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        assertFullReplay("full/similarity", bare, train(bare, "full-sim", SIMILARITY), "r-full-sim");
    }

    @Test
    void fullHeadRunsReplayWithTheirClassifier() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path run = train(bare, "full-head", HEAD);
        assertTrue(maxAbs(SafetensorsFile.open(run.resolve("model/model.safetensors")).tensors()
                .get("classifier.weight")) > 0, "the zero-initialised classifier trained");
        assertFullReplay("full/head", bare, run, "r-full-head");
        // a linear probe in bf16: the head trains under the mask, the body comes out as the run held it (in bf16)
        Path probe = train(bare, "probe-head", new String[] {"objective: head",
            "head: {pooling: cls, linear_probe: true}"}, "dtype: bf16");
        Path r = replayed(bare, probe, "r-probe-head");
        assertSameTensors("full/head linear probe bf16", probe.resolve("model/model.safetensors"),
                r.resolve("model.safetensors"));
        assertEquals(Files.readString(probe.resolve("model/config.json")), Files.readString(r.resolve("config.json")));

        // a run started from a folder with a classifier (its own export) replays from that classifier
        Path again = train(run.resolve("model"), "again-head", HEAD);
        assertFullReplay("full/head from a classifier", run.resolve("model"), again, "r-again-head");
    }

    @Test
    void loraRunsReplayToTheirAdapters() throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        assertAdapterReplay("lora/mlm", mlm, train(mlm, "lora-mlm", MLM, LORA), "r-lora-mlm");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        assertAdapterReplay("lora/similarity", bare, train(bare, "lora-sim", SIMILARITY, LORA), "r-lora-sim");
        Path head = train(bare, "lora-head", HEAD, LORA);
        Map<String, HostTensor> t = SafetensorsFile.open(head.resolve("adapter/adapter_model.safetensors")).tensors();
        assertTrue(maxAbs(t.get("base_model.model.classifier.weight")) > 0, "the classifier trained beside A and B");
        assertAdapterReplay("lora/head (modules_to_save)", bare, head, "r-lora-head");
        // in bf16 from a base folder with a classifier of float32 values: its start rounded to the run's dtype, the
        // adapters in float32
        Path withHead = withClassifier(bare, "with-head");
        Path bf16 = train(withHead, "lora-head-bf16", HEAD, LORA, "dtype: bf16");
        assertAdapterReplay("lora/head bf16 from a classifier", withHead, bf16, "r-lora-head-bf16");
    }

    /** {@code base}'s folder plus a classifier (2 labels) of float32 values that bf16 cannot hold. */
    private Path withClassifier(Path base, String name) throws IOException {
        Path out = Files.createDirectories(dir.resolve(name));
        Files.copy(base.resolve("config.json"), out.resolve("config.json"));
        Files.copy(base.resolve("tokenizer.json"), out.resolve("tokenizer.json"));
        List<HostTensor> w = new ArrayList<>(SafetensorsFile.open(base.resolve("model.safetensors")).tensors()
                .values());
        java.util.Random r = new java.util.Random(11);
        float[] cls = new float[2 * TinyBertFolder.HIDDEN];
        for (int i = 0; i < cls.length; i++) {
            cls[i] = (float) (0.1 * r.nextGaussian());
        }
        w.add(HostTensor.ofFloats("classifier.weight", cls, 2, TinyBertFolder.HIDDEN));
        w.add(HostTensor.ofFloats("classifier.bias", new float[] {0.0123456f, -0.0345678f}, 2));
        SafetensorsWriter.write(out.resolve("model.safetensors"), w);
        return out;
    }

    @Test
    void aBaseTheTrajectoryCannotBeRebuiltOnIsOneLine() throws IOException {
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path head = train(bare, "head", HEAD);
        Path lora = train(bare, "lora", HEAD, LORA);
        String trajectory = head.resolve("trajectory.jsonl").toString();
        for (Path run : new Path[] {head, lora}) {
            // another family: the bundled decoder
            CliRun.of("replay", "--base", "bundled", "--trajectory", run.resolve("trajectory.jsonl").toString(),
                    "--out", dir.resolve("x").toString()).assertUsageError(run.resolve("trajectory.jsonl").toString(),
                            "trained a classification head on an encoder", "decoder");
            // another class of the same family: a BertForMaskedLM's parameters are not the bare BertModel's
            Path mlm = TinyBertFolder.write(dir.resolve("mlm"), 6, true);
            replay(mlm, run, "x").assertUsageError("are not those the trajectory was trained on",
                    run.resolve("trajectory.jsonl").toString(), "cls.predictions");
            // the same shapes, other weights
            Path other = TinyBertFolder.write(dir.resolve("other"), 7, false);
            replay(other, run, "x").assertUsageError("not those the run started from",
                    run.resolve("trajectory.jsonl").toString());
        }
        assertFalse(Files.exists(dir.resolve("x")), "a refused replay writes nothing");

        // the base's body, with a classifier the run did not start from (a zero head)
        Path withHead = withClassifier(bare, "with-head");
        replay(withHead, head, "x").assertUsageError(trajectory, "the classifier the run started from is not the one");
        replay(withHead, lora, "x").assertUsageError("the classifier the run started from is not the one");

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
    }
}
