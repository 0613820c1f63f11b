package org.zotune.model.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;

/** How a model path leads to its tokenizer file. */
class TokenizersLookupTest {
    @TempDir
    Path dir;

    @Test
    void llama2cModelFindsTheTokBinBesideIt() {
        Path model = TestData.file("models/stories260K/stories260K.bin");
        Tokenizer t;
        try {
            t = Tokenizers.forModel(model, null);
        } catch (UnsupportedOperationException e) {
            Assumptions.abort("llama2.c tokenizer reader not in this build: " + e.getMessage());
            return;
        }
        assertEquals(512, t.vocabSize());
        assertEquals(1, t.bosId());
        assertEquals(2, t.eosId());
    }

    @Test
    void severalTokBinsAreAmbiguous() throws IOException {
        Files.write(dir.resolve("tok512.bin"), new byte[4]);
        Files.write(dir.resolve("tok4096.bin"), new byte[4]);
        Files.write(dir.resolve("model.bin"), new byte[4]);
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> Tokenizers.forModel(dir.resolve("model.bin"), null));
        assertEquals(dir.toAbsolutePath() + ": several llama2.c tokenizers [tok4096.bin, tok512.bin]; pass one "
                + "explicitly", e.getMessage());
    }

    @Test
    void nothingFound() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> Tokenizers.forModel(dir, null));
        assertEquals(dir + ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, "
                + "encoder.json + vocab.bpe, tokenizer.bin or tok*.bin); pass one explicitly", e.getMessage());
    }
}
