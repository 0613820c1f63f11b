package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.parallel.InProcessGroup;
import org.zotune.parallel.ProcessGroup;
import org.zotune.tensor.HostTensor;

/**
 * The encoder objectives over data-parallel replicas, on a tiny random BERT:
 * <ul>
 *   <li>a linear probe (objective head, {@code head.linear_probe: true}): CPU workers and processes (the in-process
 *       stand-in for NCCL) train the head alone as one engine does, within float-summation tolerance, every replica
 *       under the same mask; the encoder comes out bit for bit as loaded;</li>
 *   <li>objective head with the whole model, beside LoRA or a prefix, objective similarity in full and with LoRA, and
 *       the masked-LM prompt in full and with a prefix: two CPU workers end where one engine does (dev loss within
 *       1e-5 relative) and move the loss.</li>
 * </ul>
 */
class EncoderParallelTest {
    @TempDir
    Path dir;

    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void reset() {
        RankEngines.standIn = null;
        pool.shutdownNow();
    }

    private static final String[] TEXTS = {"the movie is fun", "the plot is dull", "loved the acting",
        "hated the film", "a good film", "a boring movie", "what a delight", "a tedious mess"};

    /** A linear probe's objective lines. */
    static final List<String> PROBE = List.of("objective: head", "head: {linear_probe: true}",
            "optimizer: {name: zo-adam, lr: 0.05}");

    private TrainConfig config(Path model, Path out, String... parallel) throws IOException {
        return config(dir, model, out, "cpu", PROBE, parallel);
    }

    /**
     * A 12-step run of {@code model} on eight sentiment rows (train = dev), batch 8, on {@code device}: the objective,
     * optimiser and adapter from {@code setup} (its indented lines first: keys of data), the {@code parallel}
     * section's lines.
     */
    static TrainConfig config(Path dir, Path model, Path out, String device, List<String> setup, String... parallel)
            throws IOException {
        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < TEXTS.length; i++) {
            rows.append("{\"text\": \"").append(TEXTS[i]).append("\", \"label\": \"").append(i % 2 == 0 ? "pos" : "neg")
                    .append("\"}\n");
        }
        Path data = Files.writeString(dir.resolve("d.jsonl"), rows);
        List<String> lines = new ArrayList<>(List.of("model: '" + model + "'", "eps: 0.01", "steps: 12",
                "batch_size: 8", "eval_every: 6", "max_length: 16", "device: " + device, "dtype: f32", "seed: 3",
                "out: '" + out + "'", "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'"));
        lines.addAll(setup); // its indented lines first: more of data
        lines.addAll(List.of("parallel:", "  checksum_every: 4"));
        for (String p : parallel) {
            lines.add("  " + p);
        }
        return TrainRuns.config(String.join("\n", lines) + "\n");
    }

    static Trainer.Summary train(TrainConfig c, Path model) {
        return new Trainer(c, model, null, TrainRuns.quiet(), new PrintWriter(new StringWriter())).run();
    }

    static Map<String, HostTensor> weights(Path run) {
        return SafetensorsFile.open(run.resolve("model/model.safetensors")).tensors();
    }

    @Test
    void workersAndProcessesTrainTheHeadAloneAsOneEngineDoes() throws Exception {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, false);
        Path one = dir.resolve("one");
        Trainer.Summary s1 = train(config(model, one), model);
        Path two = dir.resolve("two");
        Trainer.Summary s2 = train(config(model, two, "workers: 2"), model);
        assertEquals(12, s2.steps());
        double d1 = s1.finalDev().loss();
        double d2 = s2.finalDev().loss();
        assertTrue(d1 < Math.log(2) - 0.01, "the probe learned: dev loss ln 2 -> " + d1);
        assertEquals(d1, d2, 1e-5 * d1, "dev loss after 12 steps: 1 worker " + d1 + ", 2 workers " + d2);

        Map<String, HostTensor> w2 = weights(two);
        assertEncoderAsLoaded(model, w2, "2 workers");
        assertHeadsClose(weights(one), w2);

        // two processes (the stand-in group on threads) = two workers, step for step and bit for bit
        Path ranks = dir.resolve("ranks");
        InProcessGroup shared = new InProcessGroup(2, 60);
        RankEngines.standIn = r -> ProcessGroup.standIn(shared, r);
        List<Future<Trainer.Summary>> fs = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            TrainConfig c = config(model, r == 0 ? ranks : dir.resolve("rank1"), "world_size: 2", "rank: " + r,
                    "init: tcp://127.0.0.1:1");
            fs.add(pool.submit(() -> train(c, model)));
        }
        for (Future<Trainer.Summary> f : fs) {
            assertEquals(12, f.get(300, TimeUnit.SECONDS).steps());
        }
        assertEquals(ResumeAndReplayTest.stepRecords(two), ResumeAndReplayTest.stepRecords(ranks));
        ResumeAndReplayTest.assertSameTensors(w2, weights(ranks));
        assertArrayEquals(new long[] {2, TinyBertFolder.HIDDEN}, weights(ranks).get("classifier.weight").shape());
    }

    /** The setups of {@link #twoWorkersEndWhereOneEngineDoes}, by name. */
    static List<String> setup(String name) {
        String sim = "similarity: {labels: {pos: it was great, neg: it was terrible}, temperature: 0.5}";
        return switch (name) {
            case "head" -> List.of("objective: head", "optimizer: {name: zo-sgd, lr: 0.1}");
            case "head-lora" -> List.of("objective: head", "optimizer: {name: zo-adam, lr: 0.05}",
                    "peft: {method: lora, r: 2, alpha: 4}");
            case "head-prefix" -> List.of("objective: head", "optimizer: {name: zo-adamu, lr: 0.05}",
                    "peft: {method: prefix, tokens: 2}");
            case "similarity" -> List.of("objective: similarity", sim, "optimizer: {name: zo-adam, lr: 0.01}");
            case "similarity-lora" -> List.of("objective: similarity", sim, "optimizer: {name: zo-adam, lr: 0.01}",
                    "peft: {method: lora, r: 2, alpha: 4}");
            case "mlm", "mlm-prefix" -> {
                List<String> l = new ArrayList<>(List.of("  template: '{text} It was [MASK].'",
                        "  verbalizer: {pos: great, neg: terrible}", "objective: mlm",
                        "optimizer: {name: zo-sgd-mmt, lr: " + (name.equals("mlm") ? "0.002" : "0.05") + "}"));
                if (name.equals("mlm-prefix")) {
                    l.add("peft: {method: prefix, tokens: 2}");
                }
                yield l;
            }
            default -> throw new IllegalArgumentException(name);
        };
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"head", "head-lora", "head-prefix", "similarity", "similarity-lora", "mlm", "mlm-prefix"})
    void twoWorkersEndWhereOneEngineDoes(String name) throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, name.startsWith("mlm"));
        Trainer.Summary s1 = train(config(dir, model, dir.resolve("one"), "cpu", setup(name)), model);
        Trainer.Summary s2 = train(config(dir, model, dir.resolve("two"), "cpu", setup(name), "workers: 2"), model);
        assertEquals(12, s2.steps());
        assertSameEnd(name, s1, "1 worker", s2, "2 workers");
    }

    /** Run one moved the dev loss, and run two ended within 1e-5 relative of run one's. */
    static void assertSameEnd(String name, Trainer.Summary one, String oneName, Trainer.Summary two, String twoName) {
        double before = one.initialDev().loss();
        double d1 = one.finalDev().loss();
        double d2 = two.finalDev().loss();
        System.out.printf("%s dev loss: start %.9f, %s %.9f, %s %.9f%n", name, before, oneName, d1, twoName, d2);
        assertTrue(Math.abs(d1 - before) > 1e-4, name + ": the run moved the dev loss: " + before + " -> " + d1);
        assertEquals(d1, d2, 1e-5 * d1, name + ": dev loss after 12 steps: " + oneName + " " + d1 + ", " + twoName
                + " " + d2);
    }

    /** The run's weights hold the model's tensors bit for bit as loaded, and the head beside them. */
    static void assertEncoderAsLoaded(Path model, Map<String, HostTensor> weights, String what) {
        Map<String, HostTensor> in = SafetensorsFile.open(model.resolve("model.safetensors")).tensors();
        assertEquals(in.size() + 2, weights.size());
        for (Map.Entry<String, HostTensor> e : in.entrySet()) {
            assertEquals(ResumeAndReplayTest.bytes(e.getValue()), ResumeAndReplayTest.bytes(weights.get(e.getKey())),
                    what + " left the encoder's " + e.getKey() + " as loaded");
        }
        assertNotEquals(0f, max(weights.get("classifier.weight").toFloats()), what + ": the head trained");
    }

    /** The two runs' heads agree within float-summation tolerance (1e-4 relative). */
    static void assertHeadsClose(Map<String, HostTensor> a, Map<String, HostTensor> b) {
        for (String name : new String[] {"classifier.weight", "classifier.bias"}) {
            float[] x = a.get(name).toFloats();
            float[] y = b.get(name).toFloats();
            assertEquals(x.length, y.length, name);
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-4 * (1e-3 + Math.abs(x[i])), name + "[" + i + "]");
            }
        }
    }

    private static float max(float[] v) {
        float m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }
}
