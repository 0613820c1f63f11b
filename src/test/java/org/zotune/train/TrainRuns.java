package org.zotune.train;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.zotune.model.BundledModel;

/** Small real training runs for tests: the bundled stories260K on the bundled Jane Austen excerpt. */
final class TrainRuns {
    private TrainRuns() {
    }

    /** The bundled text resource {@code name} (train.txt, heldout.txt), its first {@code chars} characters. */
    static Path austen(Path dir, String name, int chars) throws IOException {
        try (InputStream in = TrainRuns.class.getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            Path p = dir.resolve(name);
            Files.writeString(p, s.substring(0, Math.min(chars, s.length())));
            return p;
        }
    }

    /** A YAML config training the bundled model on text on the CPU; {@code extra} lines are appended. */
    static String yaml(Path train, Path dev, Path out, String... extra) {
        return yamlOn("cpu", train, dev, out, extra);
    }

    /** The same on {@code device}. */
    static String yamlOn(String device, Path train, Path dev, Path out, String... extra) {
        BundledModel b = BundledModel.get();
        return String.join("\n", "model: '" + b.model() + "'", "tokenizer: '" + b.tokenizer() + "'", "data:",
                "  format: text", "  train: '" + train + "'", "  dev: '" + dev + "'", "  max_examples: 40",
                "objective: lm", "batch_size: 4", "max_length: 32", "eval_batch_size: 16", "device: " + device,
                "out: '" + out + "'", "seed: 7", String.join("\n", extra), "");
    }

    static TrainConfig config(String yaml, String... overrides) {
        return TrainConfig.parse("test.yaml", yaml, List.of(overrides));
    }

    static Trainer.Summary train(TrainConfig c, Trainer.Options o) {
        BundledModel b = BundledModel.get();
        PrintWriter log = new PrintWriter(new StringWriter());
        return new Trainer(c, b.model(), b.tokenizer(), o, log).run();
    }

    /** Runs {@code work} with every ZO step eager ({@link ZoEngines#GRAPH_PROPERTY} false), then restores it. */
    static <T> T eager(java.util.concurrent.Callable<T> work) throws Exception {
        String before = System.getProperty(ZoEngines.GRAPH_PROPERTY);
        System.setProperty(ZoEngines.GRAPH_PROPERTY, "false");
        try {
            return work.call();
        } finally {
            if (before == null) {
                System.clearProperty(ZoEngines.GRAPH_PROPERTY);
            } else {
                System.setProperty(ZoEngines.GRAPH_PROPERTY, before);
            }
        }
    }

    static Trainer.Options quiet() {
        return new Trainer.Options(false, false, 0, false);
    }
}
