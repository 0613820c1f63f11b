package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.WidenedTokenizer;

/**
 * {@link Model#open} refuses a decoder's tokenizer with more ids than the model's vocabulary, before any text is
 * scored or generated: text that avoids the extra ids would otherwise run with the wrong tokenizer unnoticed.
 */
class ApiTokenizerFitTest {
    @TempDir
    Path dir;

    @Test
    void aTokenizerLargerThanTheModelsVocabularyIsRefusedAtOpen() throws IOException {
        int vocab = ModelLoader.load(BundledModel.get().model()).config().vocabSize();
        Path big = WidenedTokenizer.write(dir.resolve("big.bin"), 3);
        ModelSource source = ModelSource.bundled().withTokenizer(big);
        String e = assertThrows(ZotuneException.class, () -> Model.open(source, Device.CPU, Precision.F32))
                .getMessage();
        assertEquals("tokenizer " + big + " has " + (vocab + 3) + " tokens (up to token id " + (vocab + 2)
                + ") but model " + BundledModel.get().model() + " has a vocabulary of " + vocab + " ids (vocab_size): "
                + "they do not belong together; pass the model's own tokenizer (--tokenizer)", e);
        // exactly the model's size opens, and scores the text the refused one would have accepted
        Path own = WidenedTokenizer.write(dir.resolve("own.bin"), 0);
        try (Model m = Model.open(ModelSource.bundled().withTokenizer(own), Device.CPU, Precision.F32)) {
            assertTrue(m.score("Once upon a time").loss() > 0);
        }
    }
}
