package org.zotune.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.model.bert.TinyBertFolder;

/**
 * A tokenizer whose vocabulary does not match the encoder (MiniLM's 30,522-id WordPiece beside a tiny BERT of
 * {@link TinyBertFolder#VOCAB}'s size) is one line and exit 2 in every command that reads text for an encoder:
 * fill-mask, embed, and train with objectives mlm, similarity and head.
 */
class EncoderTokenizerMismatchCliTest {
    @TempDir
    Path dir;

    @Test
    void aTokenizerOfAnotherVocabularyIsRefusedInOneLine() throws IOException {
        Path miniLm = TestData.file("models/all-MiniLM-L6-v2/tokenizer.json");
        Path model = TinyBertFolder.write(dir.resolve("bert"), 5, true);
        Files.copy(miniLm, model.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        int v = TinyBertFolder.VOCAB.size();
        CliRun.of("fill-mask", "--model", model.toString(), "--text", "it was [MASK] .")
                .assertUsageError("tokenizer's vocabulary of 30522 ids does not fit the model's " + v);
        Path text = Files.writeString(dir.resolve("t.txt"), "a good film\n");
        CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString())
                .assertUsageError("tokenizer's vocabulary of 30522 ids does not fit the model's " + v);
        Path data = Files.writeString(dir.resolve("d.jsonl"), "{\"text\": \"a good film\", \"label\": \"pos\"}\n"
                + "{\"text\": \"a dull film\", \"label\": \"neg\"}\n");
        for (String objective : new String[] {"mlm", "similarity", "head"}) {
            Path cfg = Files.writeString(dir.resolve(objective + ".yaml"), String.join("\n", "model: '" + model + "'",
                    "objective: " + objective, "data:", "  format: jsonl", "  train: '" + data + "'",
                    objective.equals("mlm") ? "  template: '{text} It was [MASK].'" : "",
                    objective.equals("mlm") ? "  verbalizer: {pos: great, neg: terrible}" : "",
                    "similarity: {labels: {pos: great, neg: terrible}}", "batch_size: 2", "steps: 1", "device: cpu",
                    "out: '" + dir.resolve("out-" + objective) + "'", ""));
            CliRun.of("train", "--config", cfg.toString()).assertUsageError("the tokenizer has 30522 tokens but model",
                    "has " + v + " (vocab_size)", "pass the model's own tokenizer");
        }
    }
}
