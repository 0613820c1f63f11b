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
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * Tiny encoder runs (6 ZO-Adam steps, q 2, on tiny random BERT folders) trained and replayed through the CLI for
 * {@link ReplayEncoderCliTest} (CPU) and {@link ReplayEncoderGpuTest} (CUDA), and the byte-for-byte comparisons of
 * their outputs, which print how far apart differing tensors are before failing.
 */
final class ReplayRuns {
    private static final String ROWS = TrainEncoderObjectivesCliTest.ROWS;

    static final String[] MLM = {"objective: mlm", "data:", "  template: '{text} It was [MASK].'",
        "  verbalizer: {pos: great, neg: terrible}"};
    static final String[] SIMILARITY = {"objective: similarity",
        "similarity: {labels: {pos: it was great, neg: it was terrible}}"};
    static final String[] HEAD = {"objective: head", "head: {pooling: mean}"};
    static final String LORA = "peft: {method: lora, r: 2, alpha: 4, targets: [q, v, down]}";
    static final String PREFIX = "peft: {method: prefix, tokens: 2}";

    private final Path dir;

    /** @param dir where the data, the runs and the replays go (a test's temporary folder) */
    ReplayRuns(Path dir) {
        this.dir = dir;
    }

    /** Trains a run named {@code name} through the CLI (6 ZO-Adam steps, q 2) and returns its folder. */
    Path train(Path model, String name, String[] objective, String... extra) throws IOException {
        return train(List.of(), model, name, objective, extra);
    }

    /** As {@link #train(Path, String, String[], String...)} with {@code flags} on the command line (--set ...). */
    Path train(List<String> flags, Path model, String name, String[] objective, String... extra) throws IOException {
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
        List<String> args = new ArrayList<>(List.of("train", "--config", cfg.toString(), "--no-progress"));
        args.addAll(flags);
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return dir.resolve(name);
    }

    CliRun replay(Path base, Path run, String out) {
        return replay(base, run, out, "cpu");
    }

    CliRun replay(Path base, Path run, String out, String device) {
        return CliRun.of("replay", "--base", base.toString(), "--trajectory", run.resolve("trajectory.jsonl")
                .toString(), "--out", dir.resolve(out).toString(), "--device", device);
    }

    Path replayed(Path base, Path run, String out) {
        return replayed(base, run, out, "cpu");
    }

    /** Replays {@code run}'s trajectory onto {@code base} on {@code device} into {@code out}: exit 0, 6 steps. */
    Path replayed(Path base, Path run, String out, String device) {
        CliRun r = replay(base, run, out, device);
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
        assertSameTensors(what, want, got, true);
    }

    /** As {@link #assertSameTensors(String, Path, Path)}, the metadata compared only when {@code metadata} is true. */
    static void assertSameTensors(String what, Path want, Path got, boolean metadata) {
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
            if (!java.util.Arrays.equals(bytes(a), bytes(b))) { // say how far apart before failing
                float[] u = a.toFloats();
                float[] v = b.toFloats();
                double abs = 0;
                double rel = 0;
                int differ = 0;
                for (int i = 0; i < u.length; i++) {
                    double d = Math.abs((double) u[i] - v[i]);
                    differ += Float.floatToRawIntBits(u[i]) != Float.floatToRawIntBits(v[i]) ? 1 : 0;
                    abs = Math.max(abs, d);
                    rel = Math.max(rel, d / Math.max(1e-30, Math.abs(u[i])));
                }
                System.out.println(what + " " + e.getKey() + ": " + differ + " of " + u.length + " values differ, "
                        + "max |Δ| " + abs + ", max rel " + rel);
            }
            assertArrayEquals(bytes(a), bytes(b), what + " " + e.getKey() + ": bytes");
            n += a.numel();
        }
        if (metadata) {
            assertEquals(w.metadata(), g.metadata(), what + ": metadata");
        }
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

    static float maxAbs(HostTensor t) {
        float m = 0;
        for (float v : t.toFloats()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    void assertFullReplay(String what, Path model, Path run, String out) throws IOException {
        assertFullReplay(what, model, run, out, "cpu");
    }

    /** The run's model/ (moved from the base) equals its replay on {@code device}: tensors and config.json. */
    void assertFullReplay(String what, Path model, Path run, String out, String device) throws IOException {
        Path r = replayed(model, run, out, device);
        assertMoved(what, model, run.resolve("model/model.safetensors"));
        assertSameTensors(what, run.resolve("model/model.safetensors"), r.resolve("model.safetensors"));
        assertEquals(Files.readString(run.resolve("model/config.json")), Files.readString(r.resolve("config.json")),
                what + ": config.json");
    }

    void assertAdapterReplay(String what, Path model, Path run, String out) throws IOException {
        assertAdapterReplay(what, model, run, out, "cpu");
    }

    /** The run's adapter/ (B moved from zero) equals its replay on {@code device}: tensors and adapter_config.json. */
    void assertAdapterReplay(String what, Path model, Path run, String out, String device) throws IOException {
        Path r = replayed(model, run, out, device);
        Map<String, HostTensor> t = SafetensorsFile.open(run.resolve("adapter/adapter_model.safetensors")).tensors();
        float b = 0;
        for (Map.Entry<String, HostTensor> e : t.entrySet()) {
            if (e.getKey().contains("lora_B")) {
                b = Math.max(b, maxAbs(e.getValue()));
            }
        }
        assertTrue(b > 0, what + ": B starts at zero and trained");
        assertSameAdapter(what, run.resolve("adapter"), r);
    }

    /**
     * Two adapter folders hold the same tensors, adapter_config.json and safetensors metadata (step, base fingerprint
     * and, with objective head, the classifier's labels and pooling).
     */
    static void assertSameAdapter(String what, Path adapter, Path replayed) throws IOException {
        assertSameTensors(what, adapter.resolve("adapter_model.safetensors"), replayed.resolve(
                "adapter_model.safetensors"));
        assertEquals(Files.readString(adapter.resolve("adapter_config.json")), Files.readString(replayed.resolve(
                "adapter_config.json")), what + ": adapter_config.json");
        assertEquals(SafetensorsFile.open(adapter.resolve("adapter_model.safetensors")).metadata(),
                SafetensorsFile.open(replayed.resolve("adapter_model.safetensors")).metadata(), what + ": metadata");
    }

    /**
     * The run's prefix adapter/ equals its replay on {@code device}: tensors (prompt_embeddings, and with objective head
     * the classifier, which must have moved from its start) and adapter_config.json.
     */
    void assertPrefixReplay(String what, Path model, Path run, String out, String device) throws IOException {
        Path r = replayed(model, run, out, device);
        Map<String, HostTensor> t = SafetensorsFile.open(run.resolve("adapter/adapter_model.safetensors")).tensors();
        HostTensor cls = t.get("base_model.classifier.weight");
        if (cls != null) {
            HostTensor start = SafetensorsFile.open(model.resolve("model.safetensors")).tensors()
                    .get("classifier.weight");
            float[] a = cls.toFloats();
            float moved = 0;
            for (int i = 0; i < a.length; i++) {
                moved = Math.max(moved, Math.abs(a[i] - (start == null ? 0f : start.toFloats()[i])));
            }
            assertTrue(moved > 0, what + ": the classifier trained beside the prefix");
        }
        assertSameAdapter(what, run.resolve("adapter"), r);
    }

    /**
     * {@code base}'s folder plus a classifier (2 labels) of float32 values that bf16 cannot hold, its rows named by
     * config.json's id2label as a head run exports them (neg, pos: the jsonl reader's order).
     */
    Path withClassifier(Path base, String name) throws IOException {
        Path out = Files.createDirectories(dir.resolve(name));
        com.fasterxml.jackson.databind.ObjectMapper m = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode c = (com.fasterxml.jackson.databind.node.ObjectNode)
                m.readTree(base.resolve("config.json").toFile());
        c.putObject("id2label").put("0", "neg").put("1", "pos");
        m.writeValue(out.resolve("config.json").toFile(), c);
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
}
