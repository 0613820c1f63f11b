package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * Prefix runs from a run config on the bundled stories260K (a Llama: 5 layers, 4 kv heads of 8 features): the prefix
 * comes out as a PEFT prefix-tuning adapter folder, the run resumes bitwise, and bad prefix sections are one line.
 */
class PrefixRunTest {
    @TempDir
    Path dir;

    private String[] prefix(String... more) {
        String[] base = {"optimizer:", "  name: zo-adam", "  lr: 1.0e-3", "steps: 6", "eval_every: 3",
            "peft:", "  method: prefix", "  tokens: 3"};
        String[] out = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, out, base.length, more.length);
        return out;
    }

    @Test
    void aPrefixRunWritesItsAdapterAndResumesBitwise() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path a = dir.resolve("a");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, a, prefix())), TrainRuns.quiet());

        assertFalse(Files.exists(a.resolve("model")), "no full weights for a prefix run");
        JsonNode cfg = new ObjectMapper().readTree(a.resolve("adapter/adapter_config.json").toFile());
        assertEquals("PREFIX_TUNING", cfg.get("peft_type").asText());
        assertEquals(3, cfg.get("num_virtual_tokens").asInt());
        assertEquals(5, cfg.get("num_layers").asInt());
        assertEquals(32, cfg.get("token_dim").asInt(), "4 kv heads × 8");
        assertFalse(cfg.get("prefix_projection").asBoolean());
        Map<String, HostTensor> w = SafetensorsFile.open(a.resolve("adapter/adapter_model.safetensors")).tensors();
        assertEquals(java.util.Set.of("prompt_embeddings"), w.keySet());
        assertArrayEquals(new long[] {3, 2 * 5 * 32}, w.get("prompt_embeddings").shape());
        assertTrue(Files.isRegularFile(a.resolve("best/adapter/adapter_model.safetensors")));

        Path b = dir.resolve("b");
        TrainConfig cb = TrainRuns.config(TrainRuns.yaml(train, dev, b, prefix()));
        assertEquals(2, TrainRuns.train(cb, new Trainer.Options(false, false, 2, false)).steps());
        assertEquals(6, TrainRuns.train(cb, new Trainer.Options(true, false, 0, false)).steps());
        Map<String, HostTensor> wb = SafetensorsFile.open(b.resolve("adapter/adapter_model.safetensors")).tensors();
        assertArrayEquals(w.get("prompt_embeddings").toFloats(), wb.get("prompt_embeddings").toFloats(),
                "stopped after 2 steps and resumed: the same prefix bit for bit");
        TrainConfig changed = TrainRuns.config(TrainRuns.yaml(train, dev, b, prefix()), "peft.tokens=4", "steps=8");
        ZotuneException e = assertThrows(ZotuneException.class, () -> TrainRuns.train(changed,
                new Trainer.Options(true, false, 0, false)));
        assertTrue(e.getMessage().contains("'peft.tokens'"), e.getMessage());
    }

    @Test
    void badPrefixSectionsAreOneLineBeforeAnythingIsWritten() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 2_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 500);
        Path out = dir.resolve("run");
        ZotuneException e = assertThrows(ZotuneException.class, () -> TrainRuns.config(TrainRuns.yaml(train, dev,
                out, prefix()), "peft.tokens=0"));
        assertEquals("test.yaml: key 'peft.tokens' must be >= 1, got 0", e.getMessage());
        // stories260K holds 512 positions
        e = assertThrows(ZotuneException.class, () -> TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev,
                out, prefix()), "peft.tokens=400", "max_length=120"), TrainRuns.quiet()));
        assertEquals("key 'peft.tokens': 400 prefix tokens + max_length 120 = 520 keys, more than the model's 512 "
                + "positions; lower peft.tokens or max_length", e.getMessage());
        assertTrue(!Files.exists(out) || isEmpty(out), "nothing written");
        if (!org.zotune.cuda.Cuda.availability().usable()) { // a prefix trains on CUDA too (PrefixCudaGpuTest)
            e = assertThrows(ZotuneException.class, () -> TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev,
                    out, prefix()), "device=cuda"), TrainRuns.quiet()));
            assertTrue(e.getMessage().startsWith("device cuda: no usable CUDA device"), e.getMessage());
            assertTrue(!Files.exists(out) || isEmpty(out), "nothing written");
        }
    }

    private static boolean isEmpty(Path p) throws IOException {
        try (var s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }
}
