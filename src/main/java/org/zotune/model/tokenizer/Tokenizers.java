package org.zotune.model.tokenizer;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;

/** Finds and loads the tokenizer for a model. */
public final class Tokenizers {
    /** Vocabulary/merges file names: Hugging Face's, then OpenAI's original GPT-2 release. */
    private static final String[][] BPE_PAIRS = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    private static final String LOOKED_FOR = "tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, "
            + "tokenizer.bin or tok*.bin";

    private Tokenizers() {
    }

    /**
     * Loads {@code explicit} if given, else looks beside/inside {@code modelPath}: {@code tokenizer.json},
     * {@code vocab.json} + {@code merges.txt}, or a llama2.c {@code tokenizer.bin} / {@code tok*.bin}.
     *
     * @throws org.zotune.ZotuneException when none is found or the file is malformed
     */
    public static Tokenizer forModel(Path modelPath, Path explicit) {
        if (explicit != null) {
            return load(explicit);
        }
        if (modelPath == null) {
            throw new ZotuneException("no model path and no tokenizer given");
        }
        Path dir = Files.isDirectory(modelPath) ? modelPath : modelPath.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ZotuneException(modelPath + ": no such file or folder (looking for its tokenizer)");
        }
        Tokenizer t = findIn(dir);
        if (t == null) {
            throw new ZotuneException(dir + ": no tokenizer found (looked for " + LOOKED_FOR
                    + "); pass one explicitly");
        }
        return t;
    }

    /**
     * Refuses a tokenizer with ids the model has no embedding row for: text that happens to avoid them would run,
     * and any that does not would index past the embedding.
     */
    public static void requireFits(Tokenizer tokenizer, int modelVocab, Path modelPath) {
        if (tokenizer.vocabSize() > modelVocab) {
            throw new ZotuneException("the tokenizer has " + tokenizer.vocabSize() + " tokens but model " + modelPath
                    + " has " + modelVocab + " (vocab_size): they do not belong together; pass the model's own "
                    + "tokenizer");
        }
    }

    /** Loads one tokenizer file (or a folder holding one), chosen by its name. */
    public static Tokenizer load(Path file) {
        if (Files.isDirectory(file)) {
            Tokenizer t = findIn(file);
            if (t == null) {
                throw new ZotuneException(file + ": no tokenizer found in this folder (looked for " + LOOKED_FOR + ")");
            }
            return t;
        }
        if (!Files.isRegularFile(file)) {
            throw new ZotuneException(file + ": tokenizer file not found");
        }
        String name = file.getFileName().toString();
        Path dir = file.toAbsolutePath().getParent();
        for (String[] pair : BPE_PAIRS) {
            if (name.equals(pair[0])) {
                return Gpt2BpeFiles.load(file, requireBeside(file, dir.resolve(pair[1])));
            }
            if (name.equals(pair[1])) {
                return Gpt2BpeFiles.load(requireBeside(file, dir.resolve(pair[0])), file);
            }
        }
        if (name.endsWith(".json")) {
            return HfTokenizer.load(file);
        }
        if (name.endsWith(".bin")) {
            return Llama2cTokenizer.load(file);
        }
        if (name.endsWith(".model")) {
            throw new ZotuneException(file + ": SentencePiece .model files are not read directly; use the model's "
                    + "tokenizer.json (Hugging Face) or a llama2.c tokenizer.bin");
        }
        throw new ZotuneException(file + ": unknown tokenizer format (expected " + LOOKED_FOR + ")");
    }

    private static Path requireBeside(Path file, Path partner) {
        if (!Files.isRegularFile(partner)) {
            throw new ZotuneException(file + ": needs " + partner.getFileName() + " in the same folder");
        }
        return partner;
    }

    /** The first tokenizer in the documented order, or null. */
    private static Tokenizer findIn(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) {
            return HfTokenizer.load(json);
        }
        for (String[] pair : BPE_PAIRS) {
            Path vocab = dir.resolve(pair[0]);
            Path merges = dir.resolve(pair[1]);
            if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) {
                return Gpt2BpeFiles.load(vocab, merges);
            }
        }
        Path bin = dir.resolve("tokenizer.bin");
        if (Files.isRegularFile(bin)) {
            return Llama2cTokenizer.load(bin);
        }
        List<Path> toks = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "tok*.bin")) {
            ds.forEach(toks::add);
        } catch (IOException e) {
            throw new ZotuneException(dir + ": cannot list: " + e.getMessage(), e);
        }
        if (toks.size() > 1) {
            toks.sort(null);
            throw new ZotuneException(dir + ": several llama2.c tokenizers " + toks.stream()
                    .map(p -> p.getFileName().toString()).toList() + "; pass one explicitly");
        }
        return toks.isEmpty() ? null : Llama2cTokenizer.load(toks.get(0));
    }
}
