package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.data.ReadOptions;
import org.zotune.data.io.TableReader;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.model.io.AtomicFiles;

/** Issue 16's strictness and message cases, each a one-line error that names the file or key and the problem. */
class StrictInputsTest {
    @TempDir
    Path dir;

    private static String error(String yaml) {
        return assertThrows(ZotuneException.class, () -> TrainConfig.parse("c.yaml",
                "model: m\ndata: {format: text, train: a}\nout: o\n" + yaml, List.of())).getMessage();
    }

    @Test
    void configNumbersAndKeys() {
        assertEquals("c.yaml (line 4): .nan is not a finite number; zotune takes finite numbers only",
                error("optimizer: {name: zo-sgd, lr: .nan}\n"));
        assertEquals("c.yaml (line 4): .inf is not a finite number; zotune takes finite numbers only",
                error("eps: .inf\n"));
        assertEquals("c.yaml: key 'steps': expected an integer, got 4.5", error("steps: 4.5\n"));
        assertEquals("c.yaml: key 'batch_size': expected an integer, got '2.5'", error("batch_size: '2.5'\n"));
        assertEquals("c.yaml (line 5): duplicate key 'steps'", error("steps: 4\nsteps: 5\n"));
        assertEquals(1000, TrainConfig.parse("c.yaml", "model: m\ndata: {format: text, train: a}\nout: o\nsteps: 1e3\n",
                List.of()).steps()); // a whole number in another spelling
    }

    @Test
    void aCheckpointWithLayersTheConfigLacksIsRefused() throws IOException {
        LoadedModel m = ModelLoader.load(BundledModel.get().model());
        Path folder = dir.resolve("hf");
        HfExport.write(folder, BundledModel.get().model(), BundledModel.get().tokenizer(), m.config(), m.parameters(),
                Map.of("format", "pt"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) json.readTree(folder.resolve("config.json").toFile());
        int layers = cfg.path("num_hidden_layers").asInt();
        assertTrue(layers > 1, cfg.toString());
        ModelLoader.load(folder); // as exported: loads
        cfg.put("num_hidden_layers", layers - 1);
        Files.writeString(folder.resolve("config.json"), cfg.toPrettyString());
        String e = assertThrows(ZotuneException.class, () -> ModelLoader.load(folder)).getMessage();
        assertTrue(e.contains(" tensor(s) that the config does not account for, first model.layers." + (layers - 1)
                + "."), e);
    }

    @Test
    void aTokenizerLargerThanTheModelsVocabularyIsRefused() {
        Tokenizer tok = Tokenizers.forModel(BundledModel.get().model(), BundledModel.get().tokenizer());
        int vocab = ModelLoader.load(BundledModel.get().model()).config().vocabSize();
        Tokenizers.requireFits(tok, vocab, Path.of("m"));
        String e = assertThrows(ZotuneException.class, () -> Tokenizers.requireFits(tok, vocab - 1, Path.of("m")))
                .getMessage();
        assertEquals("the tokenizer has " + vocab + " tokens but model m has " + (vocab - 1) + " (vocab_size): they "
                + "do not belong together; pass the model's own tokenizer", e);
    }

    @Test
    void binaryDataIsNotText() throws IOException {
        Path bin = dir.resolve("train.tsv");
        byte[] b = new byte[256];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (255 - i);
        }
        Files.write(bin, b);
        assertEquals(bin + ": binary data (a NUL byte at offset 255), not text", assertThrows(ZotuneException.class,
                () -> TableReader.sst2(bin, ReadOptions.STRICT)).getMessage());
        Files.write(bin, new byte[] {'s', 1, 2, 3, 4, 5, 6, '\n'});
        assertTrue(assertThrows(ZotuneException.class, () -> TableReader.sst2(bin, ReadOptions.STRICT)).getMessage()
                .endsWith("binary data (6 control bytes in 8), not text"));
    }

    @Test
    void aTemplateWithoutPlaceholdersIsNotCalledAnUnknownBuiltIn() {
        TrainConfig c = TrainConfig.parse("c.yaml", "model: m\nout: o\ndata: {format: sst2, train: a, template: "
                + "'Review: it was'}\n", List.of());
        String e = assertThrows(ZotuneException.class, () -> TrainData.template(c.data(), null)).getMessage();
        assertTrue(e.startsWith("key 'data.template': 'Review: it was' is not a built-in name ("), e);
    }

    @Test
    void aCorruptStateJsonIsNamed() throws IOException {
        Path run = dir.resolve("run");
        AtomicFiles.writeString(run.resolve("checkpoint/latest.json"), "{\"step\": 2, \"dir\": \"step-2\"}\n");
        AtomicFiles.writeString(run.resolve("checkpoint/step-2/state.json"), "{\"t\": 2, \"skip");
        String e = assertThrows(ZotuneException.class, () -> Checkpoints.load(run)).getMessage();
        assertTrue(e.startsWith(run.resolve("checkpoint/step-2/state.json") + ": cannot read the checkpoint"), e);
        AtomicFiles.writeString(run.resolve("checkpoint/latest.json"), "{\"step\": 2, \"dir\": \"../../x\"}\n");
        assertTrue(assertThrows(ZotuneException.class, () -> Checkpoints.load(run)).getMessage()
                .endsWith("latest.json: not a checkpoint pointer ({\"step\": t, \"dir\": \"step-t\"})"));
    }

    @Test
    void atomicWritesKeepTheUmasksMode() throws IOException {
        Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"));
        Path plain = Files.createFile(dir.resolve("plain"));
        Path atomic = dir.resolve("atomic");
        AtomicFiles.writeString(atomic, "x");
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(plain)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(atomic)));
    }
}
