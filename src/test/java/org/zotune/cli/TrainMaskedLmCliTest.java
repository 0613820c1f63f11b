package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * zotune train with objective mlm on a tiny random BertForMaskedLM folder: ZO steps lower the loss of a toy sentiment
 * task (dev = the training set), the fine-tuned encoder is written; bad input is one line and exit 2.
 */
class TrainMaskedLmCliTest {
    @TempDir
    Path dir;

    private static final String ROWS = String.join("\n",
            "{\"text\": \"the movie is fun\", \"label\": \"pos\"}",
            "{\"text\": \"the plot is dull\", \"label\": \"neg\"}",
            "{\"text\": \"loved the acting\", \"label\": \"pos\"}",
            "{\"text\": \"hated the film\", \"label\": \"neg\"}",
            "{\"text\": \"a good film\", \"label\": \"pos\"}",
            "{\"text\": \"a boring movie\", \"label\": \"neg\"}", "");

    private Path config(Path model, String template, String... extra) throws IOException {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, ROWS);
        return Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: '" + model + "'",
                "objective: mlm", "data:", "  format: jsonl", "  train: '" + data + "'", "  dev: '" + data + "'",
                "  template: '" + template + "'", "  verbalizer: {pos: great, neg: terrible}",
                String.join("\n", extra), "optimizer: {name: zo-adam, lr: 0.003}", "eps: 0.01", "steps: 60",
                "batch_size: 6", "eval_every: 0", "device: cpu", "out: '" + dir.resolve("out") + "'", ""));
    }

    @Test
    void zoStepsLowerTheMaskedLmLossOfAToyTask() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        CliRun r = CliRun.of("train", "--config", config(model, "{text} It was [MASK].").toString(), "--no-progress");
        assertEquals(0, r.code(), r.err());
        JsonNode s = new ObjectMapper().readTree(dir.resolve("out/summary.json").toFile());
        double before = s.get("initial_dev").get("loss").asDouble();
        double after = s.get("final_dev").get("loss").asDouble();
        assertTrue(after < before - 0.1, "dev loss " + before + " -> " + after);
        assertTrue(Files.isRegularFile(dir.resolve("out/model/model.safetensors")));
        assertTrue(Files.isRegularFile(dir.resolve("out/model/config.json")));
    }

    @Test
    void badMaskedLmInputIsOneLine() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        CliRun.of("train", "--config", config(model, "{text} It was great.").toString())
                .assertUsageError("needs exactly one mask placeholder (<mask> or [MASK]), found 0");
        Path cfg = config(model, "{text} It was <mask>.");
        CliRun.of("train", "--config", cfg.toString(), "--set", "data.verbalizer={pos: wonderful, neg: bad}")
                .assertUsageError("verbalizer word 'wonderful' is 2 tokens", "data.verbalizer_first_token");
        CliRun.of("train", "--config", cfg.toString(), "--set", "objective=classification")
                .assertUsageError("objective 'classification' scores next tokens",
                        "train it with objective mlm");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 5, false);
        CliRun.of("train", "--config", config(bare, "{text} It was <mask>.").toString())
                .assertUsageError("objective mlm scores the masked-LM head");
        CliRun.of("train", "--config", config(Path.of("bundled"), "{text} It was <mask>.").toString())
                .assertUsageError("objective mlm needs an encoder");
    }

    @Test
    void aLabelWordOfSeveralTokensTrainsOnItsFirstTokenWhenAllowed() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Path cfg = config(model, "{text} It was <mask>.", "  verbalizer_first_token: true");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--set", "data.verbalizer={pos: wonderful, neg: bad}",
                "--steps", "2", "--no-progress");
        assertEquals(0, r.code(), r.err());
    }
}
