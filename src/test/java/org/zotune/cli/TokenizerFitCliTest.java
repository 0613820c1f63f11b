package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.WidenedTokenizer;

/**
 * A tokenizer that cannot serve the model is refused at load in one line (exit 2) that names the tokenizer's file,
 * in the commands a user runs: an empty vocabulary (else every text fails to encode and the text gets the blame), and
 * a decoder's tokenizer with more ids than the model's vocabulary (else text that happens to avoid the extra ids
 * scores and generates with the wrong tokenizer unnoticed).
 */
class TokenizerFitCliTest {
    @TempDir
    Path dir;

    private Path text() throws IOException {
        return Files.writeString(dir.resolve("t.txt"), "Once upon a time, there was a little girl named Lily.\n");
    }

    /** A Hugging Face tokenizer.json whose model has no vocabulary at all. */
    private Path emptyVocabulary() throws IOException {
        Path tok = dir.resolve("tok").resolve("tokenizer.json");
        Files.createDirectories(tok.getParent());
        return Files.writeString(tok, "{\"version\": \"1.0\", \"added_tokens\": [], \"model\": {\"type\": \"BPE\", "
                + "\"vocab\": {}, \"merges\": []}}\n");
    }

    @Test
    void anEmptyVocabularyIsBlamedOnTheTokenizerInPerplexity() throws IOException {
        Path tok = emptyVocabulary();
        CliRun r = CliRun.of("perplexity", "--model", BundledModel.get().model().toString(), "--tokenizer",
                tok.toString(), "--text-file", text().toString(), "--device", "cpu");
        String line = r.assertUsageError(tok + ": model.vocab is empty");
        assertFalse(line.contains("t.txt"), line);
        assertEquals("", r.out());
    }

    @Test
    void anEmptyVocabularyIsBlamedOnTheTokenizerInTrain() throws IOException {
        Path tok = emptyVocabulary();
        Path out = dir.resolve("out");
        Path cfg = Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: bundled",
                "tokenizer: '" + tok + "'", "data:", "  format: text", "  train: '" + text() + "'", "objective: lm",
                "steps: 1", "batch_size: 1", "max_length: 16", "device: cpu", "out: '" + out + "'", ""));
        CliRun r = CliRun.of("train", "--config", cfg.toString());
        String line = r.assertUsageError(tok + ": model.vocab is empty");
        assertFalse(line.contains("t.txt"), line);
        assertFalse(Files.exists(out), "a refused start writes no run folder");
    }

    private static int modelVocab() {
        return ModelLoader.load(BundledModel.get().model()).config().vocabSize();
    }

    @Test
    void aDecoderTokenizerLargerThanTheVocabularyIsRefusedAtLoad() throws IOException {
        int vocab = modelVocab();
        Path big = WidenedTokenizer.write(dir.resolve("big.bin"), 88);
        Path model = BundledModel.get().model();
        String[] fragments = {"tokenizer " + big, "has " + (vocab + 88) + " tokens", "model " + model,
                "vocabulary of " + vocab + " ids", "pass the model's own tokenizer"};
        CliRun p = CliRun.of("perplexity", "--model", model.toString(), "--tokenizer", big.toString(), "--text-file",
                text().toString(), "--device", "cpu");
        p.assertUsageError(fragments);
        assertEquals("", p.out());
        CliRun g = CliRun.of("generate", "--model", model.toString(), "--tokenizer", big.toString(), "--prompt",
                "Once upon a time", "--max-tokens", "4", "--device", "cpu");
        g.assertUsageError(fragments);
        assertEquals("", g.out());
        // the model's own tokenizer scores the same text (what the refusal is compared with)
        CliRun own = CliRun.of("perplexity", "--model", model.toString(), "--tokenizer",
                BundledModel.get().tokenizer().toString(), "--text-file", text().toString(), "--device", "cpu");
        assertEquals(0, own.code(), own.err());
    }
}
